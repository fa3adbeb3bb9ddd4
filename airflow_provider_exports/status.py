"""The vendor-neutral export status model, and the helpers the vendor modules read answers with.

Each vendor's own state map lives in its hook module (``hooks/<vendor>.py``).
"""

from __future__ import annotations

import datetime
import enum
import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pendulum

log = logging.getLogger(__name__)


class ExportState(str, enum.Enum):
    """Where an export stands, whatever the vendor calls it."""

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


TERMINAL_STATES = frozenset(
    {ExportState.SUCCEEDED, ExportState.FAILED, ExportState.CANCELLED, ExportState.EXPIRED}
)


@dataclass(frozen=True)
class ExportStatus:
    """One observation of an export.

    ``state`` is None when the vendor sent a value we do not know: such a status is never
    terminal, so an unknown state can only make a wait longer, never end it wrongly.
    """

    export_id: str
    vendor_state: str
    state: ExportState | None
    progress: int | None = None
    message: str | None = None
    error_code: str | None = None
    started_at: datetime.datetime | None = None
    ended_at: datetime.datetime | None = None
    artifacts: Mapping[str, str] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        """Whether the export will not change state any more."""
        return self.state in TERMINAL_STATES

    @property
    def is_success(self) -> bool:
        """Whether the export finished successfully."""
        return self.state is ExportState.SUCCEEDED

    def describe(self) -> str:
        """A one-line human summary (no secrets: only ids, states, codes and messages)."""
        parts = [f"export {self.export_id!r}", f"vendor state {self.vendor_state!r}"]
        if self.progress is not None:
            parts.append(f"progress {self.progress}%")
        if self.error_code:
            parts.append(f"code {self.error_code}")
        if self.message:
            parts.append(f"message: {self.message}")
        return ", ".join(parts)

    def to_event(self) -> dict[str, Any]:
        """A small JSON-able dict (for trigger events and XCom); drops ``raw``."""
        return {
            "export_id": self.export_id,
            "vendor_state": self.vendor_state,
            "state": self.state.value if self.state else None,
            "progress": self.progress,
            "message": self.message,
            "error_code": self.error_code,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
        }


def with_overrides(
    status: ExportStatus,
    success_states: Collection[str] | None = None,
    failure_states: Collection[str] | None = None,
) -> ExportStatus:
    """Apply a task's own success/failure vendor states on top of the vendor map.

    Shared by the sensor's ``poke`` and the trigger so both paths classify alike.
    """
    if success_states and status.vendor_state in success_states:
        return replace(status, state=ExportState.SUCCEEDED)
    if failure_states and status.vendor_state in failure_states:
        return replace(status, state=ExportState.FAILED)
    return status


_warned_unknown: set[tuple[str, str]] = set()


def map_state(vendor: str, vendor_state: str, state_map: Mapping[str, ExportState]) -> ExportState | None:
    """Look a vendor state up; an unknown one is None, warned about once per vendor and value."""
    state = state_map.get(vendor_state)
    if state is None and (vendor, vendor_state) not in _warned_unknown:
        _warned_unknown.add((vendor, vendor_state))
        log.warning(
            "%s sent an unknown export state %r; treating it as not finished. "
            "Pass success_states=/failure_states= to the task to classify it.",
            vendor,
            vendor_state,
        )
    return state


_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%?\s*$")


def parse_progress(value: object) -> int | None:
    """Turn ``81``, ``"81"``, ``"81%"`` or ``"81.5"`` into an int 0-100; anything else is None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and (match := _PERCENT.match(value)):
        number = float(match.group(1))
    else:
        return None
    return max(0, min(100, int(number)))


def parse_time(value: object) -> datetime.datetime | None:
    """Parse an ISO-8601 string or epoch milliseconds into an aware datetime (naive = UTC);
    None for missing or unparsable values."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            return datetime.datetime.fromtimestamp(value / 1000.0, tz=datetime.timezone.utc)
        if isinstance(value, str):
            # Huawei writes a literal 'T' in quotes in some examples: 2022-03-28'T'00:00:00.000Z
            value = value.replace("'T'", "T")
            try:  # the C parser first: this runs on every poll (pendulum.parse was ~9% of it)
                parsed: datetime.datetime = datetime.datetime.fromisoformat(value)
            except ValueError:
                found = pendulum.parse(value)
                if not isinstance(found, datetime.datetime):
                    return None
                parsed = found
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)
    except (ValueError, TypeError, OverflowError, OSError):
        return None
    return None
