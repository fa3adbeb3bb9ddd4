"""``ExportStatusSensor``: waits for any supported vendor's export to finish."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, XComArg
from airflow.sdk.exceptions import AirflowSensorTimeout

from airflow_provider_exports.config import default_deferrable
from airflow_provider_exports.hooks import export_hook
from airflow_provider_exports.hooks.base import ExportHook
from airflow_provider_exports.links import ExportLink
from airflow_provider_exports.triggers.export_status import ExportStatusTrigger, make_trigger
from airflow_provider_exports.waiting import Poller, event_for, finish, require_export_id

try:
    from airflow.triggers.base import StartTriggerArgs

    HAS_START_TRIGGER_ARGS = True
except ImportError:  # pragma: no cover - an Airflow without start_from_trigger
    HAS_START_TRIGGER_ARGS = False

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage


def _airflow_version() -> tuple[int, int]:
    from airflow import __version__
    from packaging.version import Version

    release = Version(__version__).release
    return release[0], release[1] if len(release) > 1 else 0


def _is_template(value: Any) -> bool:
    """Whether a templated field's value needs rendering (Jinja markup inside)."""
    if isinstance(value, str):
        return any(mark in value for mark in ("{{", "{%", "{#"))
    if isinstance(value, dict):
        return any(_is_template(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_is_template(v) for v in value)
    return False


def start_from_trigger_problem(conn_id: Any, export_id: Any, hook_params: Any) -> str | None:
    """Why these arguments cannot start in the triggerer on this Airflow, or ``None`` if they can."""
    if not HAS_START_TRIGGER_ARGS or _airflow_version() < (3, 3):
        return (
            "this Airflow's scheduler does not start tasks in the triggerer (Airflow 3.3 and later "
            "do; 3.2 has it switched off)"
        )
    for name, value in (("conn_id", conn_id), ("export_id", export_id), ("hook_params", hook_params)):
        if isinstance(value, XComArg):
            return (
                f"{name} is an XComArg (e.g. start.output): the triggerer renders only Jinja "
                f'strings, so pass "{{{{ ti.xcom_pull(task_ids=..., map_indexes=-1) }}}}" instead'
            )
        if _is_template(value) and "xcom_pull" in str(value) and "map_indexes" not in str(value):
            return (
                f"{name} pulls an XCom without map_indexes: the triggerer cannot serve that request "
                "and the wait would hang until its timeout; add map_indexes=-1 to the xcom_pull call"
            )
    return None


class ExportStatusSensor(BaseSensorOperator):
    """Waits until an export reaches a terminal state; fails unless it succeeded.

    The connection's type picks the vendor. With ``deferrable=True`` the sensor polls once,
    then hands the wait to the triggerer and holds no worker slot; otherwise it pokes (``mode``
    ``poke`` or ``reschedule``). The final status (ids, states, message; no secrets) is the
    task's return value in XCom.

    With ``start_from_trigger=True`` (Airflow 3.3+) the scheduler hands the task straight to
    the triggerer: no worker runs it before the wait and there is no first synchronous poll; a
    worker runs it once, when the wait ends. The triggerer renders the templated fields. Where
    that cannot work (an XComArg ``export_id``, an ``xcom_pull`` without ``map_indexes``, an
    Airflow before 3.3) the sensor warns and polls once on a worker as usual; mapped tasks
    (``.partial(...).expand(...)``) always take the worker path (Airflow 3.3's scheduler does
    not start mapped tasks in the triggerer). The wait's timeout is then Airflow's trigger
    timeout: ``AirflowSensorTimeout`` without the last state seen.

    :param conn_id: an export connection (Oracle Commerce, Personium, IICS, Huawei).
    :param export_id: the export to wait for (templated; usually ``start.output``).
    :param success_states: vendor states to treat as success, on top of the vendor map.
    :param failure_states: vendor states to treat as failure, on top of the vendor map.
    :param hook_params: non-secret vendor options (see the vendor's page in the docs).
    :param deferrable: wait in the triggerer instead of a worker (default: Airflow's
        ``[operators] default_deferrable``, False unless set).
    :param start_from_trigger: with ``deferrable=True``, start the wait in the triggerer
        without a worker (see above).
    """

    template_fields: Sequence[str] = ("conn_id", "export_id", "hook_params")
    ui_color = "#e8f4fd"
    operator_extra_links = (ExportLink(),)
    #: Set per instance when ``start_from_trigger`` can be used. ``None`` here keeps mapped
    #: tasks (whose operator is built on the worker) on the worker path.
    start_trigger_args: Any = None
    start_from_trigger: bool = False

    def __init__(
        self,
        *,
        conn_id: str,
        export_id: str,
        success_states: Sequence[str] | None = None,
        failure_states: Sequence[str] | None = None,
        hook_params: dict[str, Any] | None = None,
        deferrable: bool = default_deferrable(),
        start_from_trigger: bool = False,
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
        self._final: dict[str, Any] | None = None
        self.start_from_trigger = False
        if start_from_trigger:
            self._start_in_triggerer()

    def _start_in_triggerer(self) -> None:
        """Hand the wait to the triggerer from the scheduler, or warn why not."""
        if not self.deferrable:
            raise ValueError(f"{self.task_id}: start_from_trigger=True needs deferrable=True")
        problem = start_from_trigger_problem(self.conn_id, self.export_id, self.hook_params)
        if problem is not None:
            warnings.warn(
                f"{self.task_id}: start_from_trigger ignored, the sensor polls once on a worker "
                f"and then defers: {problem}",
                UserWarning,
                stacklevel=3,
            )
            return
        self.start_from_trigger = True
        # Raw values: the triggerer renders the ones named in template_fields in place.
        self.start_trigger_args = StartTriggerArgs(
            trigger_cls=f"{ExportStatusTrigger.__module__}.{ExportStatusTrigger.__qualname__}",
            trigger_kwargs={
                "conn_id": self.conn_id,
                "export_id": self.export_id,
                "poll_interval": float(self.poke_interval),
                "timeout_at": None,
                "success_states": self.success_states,
                "failure_states": self.failure_states,
                "hook_params": self.hook_params,
            },
            next_method="execute_complete",
            next_kwargs=None,
            timeout=timedelta(seconds=float(self.timeout)),
        )

    @functools.cached_property
    def hook(self) -> ExportHook:
        return export_hook(self.conn_id, **self.hook_params)

    @functools.cached_property
    def _poller(self) -> Poller:
        # Built on first use, after the templated export_id was rendered.
        export_id = require_export_id(self.export_id, self.task_id)
        return Poller(export_id, self.log, self.success_states, self.failure_states)

    def poke(self, context: Any) -> bool | PokeReturnValue:
        status = self._poller.poll(self.hook)
        if status is None or not status.is_terminal:
            return False
        self._final = event_for(status, self.conn_id)
        return PokeReturnValue(is_done=True, xcom_value=finish(self._final, self.log))

    def execute(self, context: Any) -> Any:
        poller = self._poller  # a missing export id fails here, before any vendor call
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as exc:
                seen = poller.last.describe() if poller.last else "no status could be read"
                raise AirflowSensorTimeout(f"{exc} Last seen: {seen}") from exc
        if self.start_from_trigger:
            self.log.info(
                "start_from_trigger is set but this task runs on a worker (the scheduler did not "
                "start it in the triggerer); polling once here, then deferring."
            )
        # One synchronous poll first: a finished export never reaches the triggerer.
        done = self.poke(context)
        if isinstance(done, PokeReturnValue) and done.is_done:
            return done.xcom_value
        trigger, defer_timeout = make_trigger(
            conn_id=self.conn_id,
            export_id=poller.export_id,
            poll_interval=float(self.poke_interval),
            timeout=float(self.timeout),
            success_states=self.success_states,
            failure_states=self.failure_states,
            # What the first poll learned (e.g. a Personium import seen running) goes along.
            hook_params=self.hook.trigger_hook_params(),
        )
        self.log.info(
            "Deferring: the triggerer polls export %r every %ss.", poller.export_id, self.poke_interval
        )
        self.defer(trigger=trigger, method_name="execute_complete", timeout=defer_timeout)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Called when the trigger fires: return the final status or raise with the reason."""
        self._final = event
        return finish(event, self.log)

    # OpenLineage (docs/lineage.md): the export waited for is this task's input dataset.

    def get_openlineage_facets_on_start(self) -> OperatorLineage[Any, Any]:
        """Lineage at the start: the export waited for, as the input dataset."""
        from airflow_provider_exports.lineage import operator_lineage

        return operator_lineage(self, export_id=self.export_id, export_as="input")

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Any, Any]:
        """Lineage at the end: the export, with the vendor's final state in the run facet."""
        from airflow_provider_exports.lineage import operator_lineage

        final = self._final or {}
        return operator_lineage(
            self,
            export_id=self.export_id,
            export_as="input",
            vendor_state=final.get("vendor_state"),
            state=final.get("state"),
        )

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage[Any, Any]:
        """Lineage of a failed wait: the export and the last state the vendor gave."""
        return self.get_openlineage_facets_on_complete(task_instance)
