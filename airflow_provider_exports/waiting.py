"""Waiting for an export: the one waiter behind ``ExportStatusSensor``, ``StartExportOperator``
and ``ExportStatusTrigger`` (poll, state overrides, progress lines, the final verdict)."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowSensorTimeout

from airflow_provider_exports.errors import (
    ExportFailedError,
    ExportFinallyFailed,
    MissingExportIdError,
    TransientError,
)
from airflow_provider_exports.status import ExportState, ExportStatus, with_overrides

if TYPE_CHECKING:
    from airflow_provider_exports.hooks.base import ExportHook

__all__ = [
    "NO_EXPORT_ID",
    "ExportFinallyFailed",  # kept importable from here; it lives in errors.py
    "Poller",
    "ProgressLog",
    "event_for",
    "export_id_or_none",
    "finish",
    "outcome",
    "require_export_id",
]

#: Log the state at least this often while it does not change.
HEARTBEAT_SECONDS = 60.0

#: Why a task got no export id, in the words a person reading the task log needs.
NO_EXPORT_ID = "no export id: the start task did not push one"

_OUTCOMES = {
    ExportState.SUCCEEDED: "success",
    ExportState.FAILED: "failed",
    ExportState.CANCELLED: "cancelled",
    ExportState.EXPIRED: "expired",
}


def outcome(status: ExportStatus) -> str:
    """The event status for a terminal export status."""
    return _OUTCOMES.get(status.state, "error") if status.state else "error"


def export_id_or_none(value: Any) -> str | None:
    """The export id as text, or ``None`` when there is none.

    A missing XCom reaches a task as ``None``, or as the text ``"None"`` once a template such as
    ``{{ ti.xcom_pull(...) }}`` has rendered it; neither may ever reach a vendor as an id.
    """
    if value is None:
        return None
    text = str(value).strip()
    return None if text in ("", "None") else text


def require_export_id(value: Any, task_id: str) -> str:
    """The export id as text, or :class:`MissingExportIdError` naming the task."""
    export_id = export_id_or_none(value)
    if export_id is None:
        raise MissingExportIdError(f"{task_id}: {NO_EXPORT_ID} (export_id is {value!r})")
    return export_id


class ProgressLog:
    """Logs the vendor state and progress when they change, and at least once a minute."""

    def __init__(self, log: Any) -> None:
        self._log = log
        self._last: tuple[str, int | None] | None = None
        self._last_at = 0.0

    def __call__(self, status: ExportStatus) -> None:
        key = (status.vendor_state, status.progress)
        now = time.monotonic()
        if key != self._last or now - self._last_at >= HEARTBEAT_SECONDS:
            self._log.info("Waiting: %s", status.describe())
            self._last, self._last_at = key, now


class Poller:
    """Polls one export: applies the task's state overrides, logs progress, keeps the last status.

    A transient failure (429, 5xx, a dropped connection, a timeout) is logged and the poll
    returns ``None``: the wait goes on. Every other ``ExportError`` propagates.
    """

    def __init__(
        self,
        export_id: str,
        log: Any,
        success_states: Collection[str] = (),
        failure_states: Collection[str] = (),
    ) -> None:
        self.export_id = export_id
        self.last: ExportStatus | None = None
        self._log = log
        self._success = list(success_states)
        self._failure = list(failure_states)
        self._progress = ProgressLog(log)

    def poll(self, hook: ExportHook) -> ExportStatus | None:
        """One synchronous poll (worker side)."""
        try:
            status = hook.get_status(self.export_id)
        except TransientError as exc:
            self._transient(exc)
            return None
        return self._observe(status)

    async def apoll(self, hook: ExportHook) -> ExportStatus | None:
        """One asynchronous poll (triggerer side)."""
        try:
            status = await hook.aget_status(self.export_id)
        except TransientError as exc:
            self._transient(exc)
            return None
        return self._observe(status)

    def wait(self, hook: ExportHook, interval: float, timeout: float | None) -> ExportStatus:
        """Poll until the export is terminal; :class:`AirflowSensorTimeout` after ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while deadline is None or time.monotonic() < deadline:
            status = self.poll(hook)
            if status is not None and status.is_terminal:
                return status
            # Never sleep past the deadline: the timeout ends the wait, not the next poll.
            left = interval if deadline is None else deadline - time.monotonic()
            time.sleep(max(0.0, min(interval, left)))
        raise AirflowSensorTimeout(self.timeout_message())

    def timeout_message(self) -> str:
        """What a timeout says: the export and the last state seen."""
        seen = self.last.describe() if self.last else "no status could be read"
        return f"Timed out waiting for export {self.export_id!r}; last seen: {seen}"

    def _transient(self, exc: TransientError) -> None:
        self._log.warning("Polling export %r failed, will poll again: %s", self.export_id, exc)

    def _observe(self, status: ExportStatus) -> ExportStatus:
        status = with_overrides(status, self._success, self._failure)
        self.last = status
        self._progress(status)
        return status


def event_for(status: ExportStatus, conn_id: str) -> dict[str, Any]:
    """The event payload for a terminal status observed synchronously (same shape as the trigger's)."""
    return {"status": outcome(status), "conn_id": conn_id, **status.to_event()}


def finish(event: dict[str, Any], log: Any) -> dict[str, Any]:
    """Return the event of a successful export; raise for every other outcome."""
    status = event.get("status")
    if status == "success":
        log.info("Export %r succeeded (vendor state %r).", event.get("export_id"), event.get("vendor_state"))
        return event
    if status == "timeout":
        raise AirflowSensorTimeout(
            event.get("message") or f"Timed out waiting for export {event.get('export_id')!r}"
        )
    if status in ("failed", "cancelled", "expired"):
        # The vendor's own verdict: retrying the task would only read it again.
        raise ExportFinallyFailed(event)
    if status != "error":
        event = {**event, "message": f"unexpected event status {status!r}: {event.get('message')}"}
    raise ExportFailedError(event)
