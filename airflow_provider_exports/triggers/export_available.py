"""``ExportAvailableTrigger``: an asset watcher that fires once per finished export a vendor lists.

Use it in ``Asset(..., watchers=[AssetWatcher(name=..., trigger=ExportAvailableTrigger(...))])``;
each new export becomes an asset event whose ``extra["payload"]`` is the event described on
:class:`ExportAvailableTrigger`, and runs the DAGs scheduled on that asset. docs/event_driven.md
describes the delivery semantics.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_exports.available import AvailableExport, Deliveries, matches
from airflow_provider_exports.errors import ExportConfigError, ExportError, TransientError

if TYPE_CHECKING:
    from airflow_provider_exports.hooks.base import ExportHook
    from airflow_provider_exports.transport import Op

log = logging.getLogger(__name__)

#: Default seconds after which an unacknowledged, still listed export is delivered again.
DEFAULT_REDELIVER_AFTER = 6 * 3600.0
#: After a failure retrying cannot fix, the watcher lists again only this much later.
DEFAULT_RECHECK_AFTER = 900.0
STATE_PREFIX = "airflow_provider_exports.watch."
ACK_PREFIX = "airflow_provider_exports.acked."


def _listing(hook: ExportHook, file_name: str | None) -> Op[list[AvailableExport]]:
    """The hook's listing operation, or an :class:`ExportConfigError` naming the vendor."""
    available_op = getattr(hook, "available_op", None)
    if available_op is None:
        raise ExportConfigError(
            f"{hook.vendor} exports cannot be watched: its API has no call that lists finished "
            "exports (docs/event_driven.md)."
        )
    if file_name:
        if "file_name" not in inspect.signature(available_op).parameters:
            raise ExportConfigError(f"{hook.vendor} listings take no file_name filter; use name_pattern.")
        op: Op[list[AvailableExport]] = available_op(file_name=file_name)
        return op
    plain: Op[list[AvailableExport]] = available_op()
    return plain


class ExportAvailableTrigger(BaseEventTrigger):
    """Fires one event per finished export the vendor lists (an asset watcher's trigger).

    Watchable: Huawei Cloud Workspace (finished, not yet downloaded export tasks) and Personium
    (the cell's snapshot area). Watchers with the same connection, ``poll_interval``,
    ``file_name`` and ``hook_params`` share one listing per interval (``shared_stream_key``),
    whatever their ``name_pattern``.

    The event (``extra["payload"]`` of the asset event) holds ``vendor`` (the connection type),
    ``vendor_name``, ``conn_id``, ``export_id`` (what ``DownloadExportOperator`` takes),
    ``name`` (the file name), ``size`` (bytes, ``None`` where the vendor does not say),
    ``finished_at`` (ISO-8601), ``delivery_key`` and ``redelivered``; never a credential.

    Each export fires once. What was delivered is kept in the watched asset's state store, so a
    restarted (or another) triggerer goes on from there. An export whose download was not
    acknowledged fires again after ``redeliver_after`` seconds if it is still listed: a Workspace
    task stays listed until its file is downloaded; a Personium snapshot is acknowledged with
    :func:`acknowledge_download`. Transient failures (429, 5xx, dropped connections) are logged
    and listed again at the next interval; a failure retrying cannot fix (rejected credentials, a
    connection that does not exist) is logged as an error, and the watcher lists again only after
    ``recheck_after`` seconds.

    :param conn_id: the export connection (Huawei Cloud Workspace or Personium).
    :param poll_interval: seconds between listings.
    :param name_pattern: a regular expression the whole file name must match (e.g.
        ``r"users_.*\\.xlsx"``, ``r"nightly_.*\\.zip"``); filtered here, so watchers with
        different patterns still share a listing.
    :param file_name: Workspace only: the listing's own ``file_name`` filter (exact name).
    :param redeliver_after: seconds after which an unacknowledged export still listed fires
        again; ``None`` never.
    :param ignore_existing: on the very first listing of a new watcher, take what is listed as
        already delivered (only exports finished later fire).
    :param recheck_after: seconds to wait after a failure retrying cannot fix.
    :param hook_params: non-secret vendor options passed to the hook (e.g. ``retry``).
    """

    def __init__(
        self,
        *,
        conn_id: str,
        poll_interval: float = 60.0,
        name_pattern: str | None = None,
        file_name: str | None = None,
        redeliver_after: float | None = DEFAULT_REDELIVER_AFTER,
        ignore_existing: bool = False,
        recheck_after: float = DEFAULT_RECHECK_AFTER,
        hook_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if poll_interval <= 0:
            raise ExportConfigError(f"poll_interval must be positive, not {poll_interval!r}")
        if name_pattern is not None:
            try:
                re.compile(name_pattern)
            except re.error as exc:
                raise ExportConfigError(
                    f"name_pattern {name_pattern!r} is not a regular expression: {exc}"
                ) from None
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        self.name_pattern = name_pattern
        self.file_name = file_name or None
        self.redeliver_after = None if redeliver_after is None else float(redeliver_after)
        self.ignore_existing = bool(ignore_existing)
        self.recheck_after = float(recheck_after)
        self.hook_params = dict(hook_params or {})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "poll_interval": self.poll_interval,
                "name_pattern": self.name_pattern,
                "file_name": self.file_name,
                "redeliver_after": self.redeliver_after,
                "ignore_existing": self.ignore_existing,
                "recheck_after": self.recheck_after,
                "hook_params": self.hook_params,
            },
        )

    # ---- one listing for every watcher of an account -----------------------------------------

    def shared_stream_key(self) -> Hashable | None:
        """Watchers that would send the same listing request at the same rate share one."""
        return (
            "airflow_provider_exports.export-listing",
            self.conn_id,
            self.poll_interval,
            self.file_name or "",
            json.dumps(self.hook_params, sort_keys=True, default=str),
            self.recheck_after,
        )

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """List the vendor's finished exports every ``poll_interval`` seconds; yield each listing.

        Never ends: a transient failure skips one listing, a permanent one is logged as an
        error and the next attempt waits ``recheck_after`` seconds (Airflow restarts a watcher
        that exits at once, which would turn a revoked credential into a login storm).
        """
        from airflow_provider_exports.hooks import aexport_hook
        from airflow_provider_exports.transport.aio import pooled_session

        conn_id = str(kwargs["conn_id"])
        interval = float(kwargs.get("poll_interval") or 60.0)
        recheck = float(kwargs.get("recheck_after") or DEFAULT_RECHECK_AFTER)
        file_name = kwargs.get("file_name") or None
        hook_params = dict(kwargs.get("hook_params") or {})
        async with pooled_session():
            hook: ExportHook | None = None
            while True:
                began = time.monotonic()
                pause = interval
                try:
                    if hook is None:
                        hook = await aexport_hook(conn_id, **hook_params)
                    transport = await hook.async_transport()
                    exports = await transport.run(_listing(hook, file_name))
                except TransientError as exc:
                    log.warning(
                        "Export watcher on connection %r: listing failed, will list again in %.0f s: %s",
                        conn_id,
                        interval,
                        exc,
                    )
                except (ExportError, AirflowNotFoundException) as exc:
                    log.error(
                        "Export watcher on connection %r stopped: %s. No exports are listed until "
                        "this is fixed; next attempt in %.0f s.",
                        conn_id,
                        exc,
                        recheck,
                    )
                    hook = None  # the next attempt reads the (maybe fixed) connection again
                    pause = recheck
                else:
                    yield {
                        "vendor": hook.conn_type,
                        "vendor_name": hook.vendor,
                        "conn_id": conn_id,
                        "exports": [export.to_json() for export in exports],
                    }
                # One listing per interval, however long the listing took (at most one).
                await asyncio.sleep(max(0.0, pause - (time.monotonic() - began)))

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """Turn listings into one event per export this watcher has not delivered."""
        pattern = re.compile(self.name_pattern) if self.name_pattern else None
        record = await self._load()
        async for listing in shared_stream:
            exports = [
                export
                for export in (AvailableExport.from_json(item) for item in listing["exports"])
                if matches(export, pattern)
            ]
            now = time.time()
            forgotten = record.forget_unlisted(exports)
            changed = bool(forgotten)
            if not record.started:
                record.started = changed = True
                if self.ignore_existing:
                    for export in exports:
                        record.mark(export, now)
                        record.acknowledged.add(export.key)
                    log.info(
                        "Export watcher on connection %r: %d exports already listed are taken as delivered.",
                        self.conn_id,
                        len(exports),
                    )
                    exports = []
            new, again = record.due(exports, now, self.redeliver_after)
            again = [export for export in again if not await self._acknowledged(record, export)]
            for export in (*new, *again):
                record.mark(export, now)
            if new or again or changed:
                await self._save(record, forgotten)
            for export in new:
                yield self._event(listing, export, redelivered=False)
            for export in again:
                log.warning(
                    "Export watcher on connection %r: export %r is still not acknowledged %.0f s after "
                    "its event; delivering it again.",
                    self.conn_id,
                    export.export_id,
                    self.redeliver_after or 0.0,
                )
                yield self._event(listing, export, redelivered=True)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """The watcher on its own (outside a triggerer that shares streams): its own listing."""
        kwargs = self.serialize()[1]
        async for event in self.filter_shared_stream(type(self).open_shared_stream(kwargs)):
            yield event

    # ---- events and the delivery record --------------------------------------------------------

    def _event(
        self, listing: Mapping[str, Any], export: AvailableExport, *, redelivered: bool
    ) -> TriggerEvent:
        payload = {
            "vendor": listing.get("vendor"),
            "vendor_name": listing.get("vendor_name"),
            "conn_id": self.conn_id,
            "export_id": export.export_id,
            "name": export.name,
            "size": export.size,
            "finished_at": export.finished_at.isoformat() if export.finished_at else None,
            "delivery_key": export.key,
            "redelivered": redelivered,
        }
        log.info(
            "Export watcher on connection %r: export %r (%s) is available.",
            self.conn_id,
            export.export_id,
            export.name,
        )
        return TriggerEvent(payload)  # type: ignore[no-untyped-call]

    @property
    def state_key(self) -> str:
        """The asset state store key of this watcher's delivery record."""
        material = json.dumps([self.conn_id, self.file_name, self.name_pattern])
        return STATE_PREFIX + hashlib.sha256(material.encode()).hexdigest()[:16]

    async def _load(self) -> Deliveries:
        stores = getattr(self, "asset_state_store", None)  # Airflow 3.3+ sets it
        if stores is None:
            log.warning(
                "Export watcher on connection %r has no asset state store (it needs an Airflow 3.3+ "
                "triggerer): what it delivered is forgotten when it restarts.",
                self.conn_id,
            )
            return Deliveries()
        try:
            stored = await stores.aget(self.state_key)
        except ValueError:
            log.warning(
                "Export watcher on connection %r watches several assets with one trigger: its "
                "delivery record is kept in memory only (give each asset its own watcher).",
                self.conn_id,
            )
            self.asset_state_store = None
            return Deliveries()
        record = Deliveries.from_json(stored)
        log.info(
            "Export watcher on connection %r: %d listed exports were delivered before.",
            self.conn_id,
            len(record.delivered),
        )
        return record

    async def _save(self, record: Deliveries, forgotten: Iterable[str] = ()) -> None:
        stores = getattr(self, "asset_state_store", None)  # Airflow 3.3+ sets it
        if stores is None:
            return
        await stores.aset(self.state_key, record.to_json())
        for key in forgotten:
            await stores.adelete(ACK_PREFIX + key)

    async def _acknowledged(self, record: Deliveries, export: AvailableExport) -> bool:
        stores = getattr(self, "asset_state_store", None)  # Airflow 3.3+ sets it
        if stores is None or await stores.aget(ACK_PREFIX + export.key) is None:
            return False
        record.acknowledged.add(export.key)
        return True


def export_events(triggering_asset_events: Mapping[Any, Iterable[Any]] | None) -> list[dict[str, Any]]:
    """The payloads of the export events among a DAG run's triggering asset events, oldest first.

    For a download step fed by ``ExportAvailableTrigger`` watchers: one entry per export, also
    when one DAG run was created for several events. Use in a ``@task`` with
    ``triggering_asset_events`` from the context.
    """
    found: dict[str, dict[str, Any]] = {}
    for events in (triggering_asset_events or {}).values():
        for event in events:
            extra = getattr(event, "extra", None) or {}
            payload = extra.get("payload") if isinstance(extra, Mapping) else None
            if isinstance(payload, Mapping) and payload.get("delivery_key") and payload.get("export_id"):
                found.setdefault(str(payload["delivery_key"]), dict(payload))
    return list(found.values())


def safe_file_name(payload: Mapping[str, Any]) -> str:
    """The event's file name as one safe path segment (a vendor's name is not trusted as a path):
    characters other than ``A-Z a-z 0-9 . _ -`` become ``_``, and it never starts with a dot."""
    name = str(payload.get("name") or payload.get("export_id") or "export")
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name.rsplit("/", 1)[-1]).lstrip(".")
    return cleaned[:200] or "export"


def acknowledge_download(context: Mapping[str, Any]) -> None:
    """``on_success_callback`` of a download task fed by a watcher: records that the export it
    downloaded (its rendered ``export_id``) arrived, so it is never delivered again.

    The task needs the watched asset in its ``inlets`` (that is where the record lives). Vendors
    whose listing drops downloaded exports (``Vendor.marks_downloads``: Workspace) need none, and
    get none.
    """
    from airflow_provider_exports.vendors import VENDORS

    self_marking = {vendor.conn_type for vendor in VENDORS if vendor.marks_downloads}
    task = context.get("task")
    export_id = str(getattr(task, "export_id", "") or "")
    stores = context.get("asset_state_store")
    events = context.get("triggering_asset_events") or {}
    if not export_id or stores is None:
        return
    for asset in events:
        for event in events[asset]:
            extra = getattr(event, "extra", None) or {}
            payload = extra.get("payload") if isinstance(extra, Mapping) else None
            if not isinstance(payload, Mapping) or str(payload.get("export_id")) != export_id:
                continue
            if payload.get("vendor") in self_marking:
                continue  # the vendor's listing drops it once downloaded
            key = payload.get("delivery_key")
            if not key:
                continue
            try:
                store = stores[asset]
            except KeyError:
                log.warning(
                    "Cannot acknowledge export %r: asset %r is not in the task's inlets.", export_id, asset
                )
                continue
            store.set(ACK_PREFIX + str(key), time.time())
            log.info("Acknowledged export %r on asset %r.", export_id, getattr(asset, "name", asset))
