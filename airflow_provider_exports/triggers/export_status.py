"""``ExportStatusTrigger``: polls an export from the triggerer until it ends, times out or fails."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_exports.errors import ExportError, TransientError
from airflow_provider_exports.status import ExportState, ExportStatus, with_overrides

#: Log the state at least this often while it does not change.
HEARTBEAT_SECONDS = 60.0

_OUTCOMES = {
    ExportState.SUCCEEDED: "success",
    ExportState.FAILED: "failed",
    ExportState.CANCELLED: "cancelled",
    ExportState.EXPIRED: "expired",
}


def outcome(status: ExportStatus) -> str:
    """The event status for a terminal export status."""
    return _OUTCOMES.get(status.state, "error") if status.state else "error"


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


class ExportStatusTrigger(BaseTrigger):
    """Polls an export until it reaches a terminal state.

    Serializes only ids, numbers and state names: credentials are looked up from ``conn_id``
    inside the triggerer. Transient errors (429, 5xx, dropped connections, timeouts) never end
    the wait; errors that retrying cannot fix (rejected credentials, an unknown export id, an
    unreadable answer) end it with an ``error`` event.

    :param timeout_at: wall-clock epoch seconds after which a ``timeout`` event is sent.
    :param next_poll_at: wall-clock epoch seconds of the first poll (a worker has just polled);
        ``None`` polls at once. The wait for it is never longer than ``poll_interval``.
    :param hook_params: non-secret vendor options passed to the hook.
    """

    def __init__(
        self,
        conn_id: str,
        export_id: str,
        poll_interval: float = 30.0,
        timeout_at: float | None = None,
        success_states: list[str] | None = None,
        failure_states: list[str] | None = None,
        hook_params: dict[str, Any] | None = None,
        next_poll_at: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.conn_id = conn_id
        self.export_id = export_id
        self.poll_interval = float(poll_interval)
        self.timeout_at = timeout_at
        self.success_states = list(success_states or [])
        self.failure_states = list(failure_states or [])
        self.hook_params = dict(hook_params or {})
        self.next_poll_at = next_poll_at

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "export_id": self.export_id,
                "poll_interval": self.poll_interval,
                "timeout_at": self.timeout_at,
                "success_states": self.success_states,
                "failure_states": self.failure_states,
                "hook_params": self.hook_params,
                "next_poll_at": self.next_poll_at,
            },
        )

    def _event(self, status: str, last: ExportStatus | None, message: str | None = None) -> TriggerEvent:
        payload: dict[str, Any] = {"status": status, "export_id": self.export_id, "conn_id": self.conn_id}
        if last is not None:
            payload.update({k: v for k, v in last.to_event().items() if k != "export_id"})
        if message is not None:
            payload["message"] = message
        return TriggerEvent(payload)  # type: ignore[no-untyped-call]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_exports.hooks.base import aexport_hook
        from airflow_provider_exports.transport.aio import pooled_session

        last: ExportStatus | None = None
        progress = ProgressLog(self.log)
        async with pooled_session():
            try:
                hook = await aexport_hook(self.conn_id, **self.hook_params)
            except (ExportError, AirflowNotFoundException) as exc:
                yield self._event("error", None, str(exc))
                return
            await asyncio.sleep(self._first_sleep_seconds())
            while True:
                if self.timeout_at is not None and time.time() >= self.timeout_at:
                    yield self._event("timeout", last, self._timeout_message(last))
                    return
                try:
                    status = await hook.aget_status(self.export_id)
                except TransientError as exc:
                    self.log.warning("Polling export %r failed, will poll again: %s", self.export_id, exc)
                except ExportError as exc:
                    yield self._event("error", last, str(exc))
                    return
                else:
                    last = with_overrides(status, self.success_states, self.failure_states)
                    progress(last)
                    if last.is_terminal:
                        yield self._event(outcome(last), last)
                        return
                await asyncio.sleep(self._sleep_seconds())

    def _first_sleep_seconds(self) -> float:
        # The worker polled just before deferring: polling again at once would double the
        # configured rate and, for an export finishing right then, end the wait seconds after
        # the deferral, when Airflow 3.3 may fail the resumed task (docs/deployment.md).
        # Capped at one interval, so a worker clock ahead of the triggerer's cannot stall it.
        if self.next_poll_at is None:
            return 0.0
        return max(0.0, min(self.next_poll_at - time.time(), self._sleep_seconds()))

    def _sleep_seconds(self) -> float:
        if self.timeout_at is None:
            return self.poll_interval
        return max(0.0, min(self.poll_interval, self.timeout_at - time.time()))

    def _timeout_message(self, last: ExportStatus | None) -> str:
        seen = last.describe() if last else "no status could be read"
        return f"Timed out waiting for export {self.export_id!r}; last seen: {seen}"
