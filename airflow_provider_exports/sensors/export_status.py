"""``ExportStatusSensor``: waits for any supported vendor's export to finish."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowSensorTimeout

from airflow_provider_exports.errors import TransientError
from airflow_provider_exports.hooks.base import ExportHook, export_hook
from airflow_provider_exports.status import ExportStatus, with_overrides
from airflow_provider_exports.triggers.export_status import ProgressLog
from airflow_provider_exports.waiting import event_for, finish, make_trigger


class ExportStatusSensor(BaseSensorOperator):
    """Waits until an export reaches a terminal state; fails unless it succeeded.

    The connection's type picks the vendor. With ``deferrable=True`` the sensor polls once,
    then hands the wait to the triggerer and holds no worker slot; otherwise it pokes (``mode``
    ``poke`` or ``reschedule``). The final status (ids, states, message; no secrets) is the
    task's return value in XCom.

    :param conn_id: an export connection (Oracle Commerce, Personium, IICS, Huawei).
    :param export_id: the export to wait for (templated; usually ``start.output``).
    :param success_states: vendor states to treat as success, on top of the vendor map.
    :param failure_states: vendor states to treat as failure, on top of the vendor map.
    :param hook_params: non-secret vendor options (see the vendor's page in the docs).
    :param deferrable: wait in the triggerer instead of a worker.
    """

    template_fields: Sequence[str] = ("conn_id", "export_id", "hook_params")
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        conn_id: str,
        export_id: str,
        success_states: Sequence[str] | None = None,
        failure_states: Sequence[str] | None = None,
        hook_params: dict[str, Any] | None = None,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", 30)
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.export_id = export_id
        self.success_states = list(success_states or [])
        self.failure_states = list(failure_states or [])
        self.hook_params = dict(hook_params or {})
        self.deferrable = deferrable
        self._last: ExportStatus | None = None

    @functools.cached_property
    def hook(self) -> ExportHook:
        return export_hook(self.conn_id, **self.hook_params)

    @functools.cached_property
    def _progress(self) -> ProgressLog:
        return ProgressLog(self.log)

    def poke(self, context: Any) -> bool | PokeReturnValue:
        try:
            status = self.hook.get_status(str(self.export_id))
        except TransientError as exc:
            self.log.warning("Polling export %r failed, will poll again: %s", self.export_id, exc)
            return False
        status = with_overrides(status, self.success_states, self.failure_states)
        self._last = status
        self._progress(status)
        if not status.is_terminal:
            return False
        return PokeReturnValue(is_done=True, xcom_value=finish(event_for(status, self.conn_id), self.log))

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as exc:
                seen = self._last.describe() if self._last else "no status could be read"
                raise AirflowSensorTimeout(f"{exc} Last seen: {seen}") from exc
        # One synchronous poll first: a finished export never reaches the triggerer.
        done = self.poke(context)
        if isinstance(done, PokeReturnValue) and done.is_done:
            return done.xcom_value
        trigger, defer_timeout = make_trigger(
            conn_id=self.conn_id,
            export_id=str(self.export_id),
            poll_interval=float(self.poke_interval),
            timeout=float(self.timeout),
            success_states=self.success_states,
            failure_states=self.failure_states,
            hook_params=self.hook_params,
        )
        self.log.info(
            "Deferring: the triggerer polls export %r every %ss.", self.export_id, self.poke_interval
        )
        self.defer(trigger=trigger, method_name="execute_complete", timeout=defer_timeout)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Called when the trigger fires: return the final status or raise with the reason."""
        return finish(event, self.log)
