"""Finished exports as a vendor's listing shows them, and which of them a watcher delivers.

Pure code: :class:`AvailableExport` is what a hook's ``available_op`` returns, and
:class:`Deliveries` decides, listing by listing, which exports fire an event (new ones, and ones
delivered earlier whose download was not acknowledged within ``redeliver_after``). The
``ExportAvailableTrigger`` keeps a :class:`Deliveries` record in the watched asset's state store,
so a restarted or another triggerer continues from it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Version of the record a watcher keeps in the asset state store.
RECORD_VERSION = 1


@dataclass(frozen=True)
class AvailableExport:
    """One finished export a vendor's listing shows (nothing secret).

    :param export_id: what ``DownloadExportOperator(export_id=...)`` takes.
    :param name: the file name the vendor shows.
    :param version: what tells two exports of the same id apart (a Personium snapshot deleted and
        made again under the same name has a new modification time).
    """

    export_id: str
    name: str
    size: int | None = None
    finished_at: datetime.datetime | None = None
    version: str = ""

    @property
    def key(self) -> str:
        """The delivery key: one event per key (id and version, hashed; no secret in it)."""
        material = json.dumps([self.export_id, self.version])
        return hashlib.sha256(material.encode()).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (what the shared listing broadcasts)."""
        return {
            "export_id": self.export_id,
            "name": self.name,
            "size": self.size,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "version": self.version,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AvailableExport:
        """The inverse of :meth:`to_json`."""
        finished = data.get("finished_at")
        size = data.get("size")
        return cls(
            export_id=str(data["export_id"]),
            name=str(data.get("name") or data["export_id"]),
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            finished_at=datetime.datetime.fromisoformat(finished) if isinstance(finished, str) else None,
            version=str(data.get("version") or ""),
        )


def matches(export: AvailableExport, pattern: re.Pattern[str] | None) -> bool:
    """Whether the export's file name matches a watcher's ``name_pattern`` (whole name)."""
    return pattern is None or pattern.fullmatch(export.name) is not None


@dataclass
class Deliveries:
    """What one watcher has delivered: delivery key -> epoch seconds of its (last) event.

    ``acknowledged`` holds keys whose download was confirmed: they are never delivered again.
    Keys whose export left the listing are forgotten (a Workspace export leaves it once it is
    downloaded; a deleted Personium snapshot leaves it too), so the record stays as small as the
    listing.
    """

    delivered: dict[str, float] = field(default_factory=dict)
    acknowledged: set[str] = field(default_factory=set)
    #: Whether a first listing was taken (``ignore_existing`` marks what it shows as delivered).
    started: bool = False

    def due(
        self,
        listing: Iterable[AvailableExport],
        now: float,
        redeliver_after: float | None,
    ) -> tuple[list[AvailableExport], list[AvailableExport]]:
        """The exports to fire now: ``(new, again)``.

        ``new`` were never delivered; ``again`` were delivered at least ``redeliver_after``
        seconds ago, are still listed and not acknowledged (their download failed, or is still
        running after that long). Each listed export appears at most once.
        """
        new: list[AvailableExport] = []
        again: list[AvailableExport] = []
        seen: set[str] = set()
        for export in listing:
            key = export.key
            if key in seen:
                continue
            seen.add(key)
            fired_at = self.delivered.get(key)
            if fired_at is None:
                new.append(export)
            elif (
                redeliver_after is not None
                and key not in self.acknowledged
                and now - fired_at >= redeliver_after
            ):
                again.append(export)
        return new, again

    def forget_unlisted(self, listing: Iterable[AvailableExport]) -> list[str]:
        """Forget keys whose export is no longer listed; returns the forgotten keys."""
        listed = {export.key for export in listing}
        gone = [key for key in self.delivered if key not in listed]
        for key in gone:
            del self.delivered[key]
            self.acknowledged.discard(key)
        return gone

    def mark(self, export: AvailableExport, now: float) -> None:
        """Record an event for ``export`` at ``now``."""
        self.delivered[export.key] = now

    def to_json(self) -> dict[str, Any]:
        """The record as stored in the asset state store."""
        return {
            "version": RECORD_VERSION,
            "delivered": dict(self.delivered),
            "acknowledged": sorted(self.acknowledged),
            "started": self.started,
        }

    @classmethod
    def from_json(cls, data: Any) -> Deliveries:
        """A stored record; anything unreadable (or none) is an empty one."""
        if not isinstance(data, Mapping) or data.get("version") != RECORD_VERSION:
            return cls()
        delivered = data.get("delivered")
        acknowledged = data.get("acknowledged")
        return cls(
            delivered={
                str(k): float(v)
                for k, v in (delivered.items() if isinstance(delivered, Mapping) else ())
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            },
            acknowledged={str(k) for k in acknowledged} if isinstance(acknowledged, list) else set(),
            started=data.get("started") is True,
        )
