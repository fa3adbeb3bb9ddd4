"""``ExportStatusTrigger``: polls an export from the triggerer until it ends, times out or fails."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Collection
from datetime import timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_exports.errors import ExportError
from airflow_provider_exports.status import ExportStatus
from airflow_provider_exports.waiting import NO_EXPORT_ID, Poller, export_id_or_none, outcome

#: The task's own defer timeout is this much later than the trigger's deadline, so the
#: trigger's timeout event (with the last state) arrives first.
DEFER_TIMEOUT_BUFFER = timedelta(seconds=60)


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
        from airflow_provider_exports.hooks import aexport_hook
        from airflow_provider_exports.transport.aio import pooled_session

        export_id = export_id_or_none(self.export_id)
        if export_id is None:
            # start_from_trigger renders the id here: a missing XCom must not reach the vendor.
            yield self._event("error", None, f"{NO_EXPORT_ID} (export_id is {self.export_id!r})")
            return
        poller = Poller(export_id, self.log, self.success_states, self.failure_states)
        async with pooled_session():
            try:
                hook = await aexport_hook(self.conn_id, **self.hook_params)
            except (ExportError, AirflowNotFoundException) as exc:
                yield self._event("error", None, str(exc))
                return
            await asyncio.sleep(self._first_sleep_seconds())
            while True:
                if self.timeout_at is not None and time.time() >= self.timeout_at:
                    yield self._event("timeout", poller.last, poller.timeout_message())
                    return
                try:
                    status = await poller.apoll(hook)
                except ExportError as exc:
                    yield self._event("error", poller.last, str(exc))
                    return
                if status is not None and status.is_terminal:
                    yield self._event(outcome(status), status)
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


def make_trigger(
    *,
    conn_id: str,
    export_id: str,
    poll_interval: float,
    timeout: float | None,
    success_states: Collection[str] | None,
    failure_states: Collection[str] | None,
    hook_params: dict[str, Any],
) -> tuple[ExportStatusTrigger, timedelta | None]:
    """The trigger for a wait whose caller has just polled (the trigger polls next one
    ``poll_interval`` later) and the timeout to pass to ``defer()``."""
    timeout_at = time.time() + timeout if timeout is not None else None
    trigger = ExportStatusTrigger(
        conn_id=conn_id,
        export_id=export_id,
        poll_interval=poll_interval,
        timeout_at=timeout_at,
        success_states=list(success_states or []),
        failure_states=list(failure_states or []),
        hook_params=hook_params,
        next_poll_at=time.time() + poll_interval,
    )
    defer_timeout = timedelta(seconds=timeout) + DEFER_TIMEOUT_BUFFER if timeout is not None else None
    return trigger, defer_timeout
