"""Waiting for an export: shared by ``ExportStatusSensor`` and ``StartExportOperator``."""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from airflow_provider_exports.errors import ExportFailedError
from airflow_provider_exports.status import ExportStatus
from airflow_provider_exports.triggers.export_status import ExportStatusTrigger, outcome

#: The task's own defer timeout is this much later than the trigger's deadline, so the
#: trigger's timeout event (with the last state) arrives first.
DEFER_TIMEOUT_BUFFER = timedelta(seconds=60)


class ExportFinallyFailed(ExportFailedError, AirflowFailException):
    """The vendor reported the export failed, cancelled or expired: fails without retries."""


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
