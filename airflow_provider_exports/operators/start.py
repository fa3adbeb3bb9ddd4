"""``StartExportOperator``: starts an export and returns its id; optionally waits for it."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, Variable
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, TaskDeferred

from airflow_provider_exports.config import default_deferrable
from airflow_provider_exports.errors import ExportError
from airflow_provider_exports.hooks import export_hook
from airflow_provider_exports.hooks.base import ExportHook
from airflow_provider_exports.links import ExportLink
from airflow_provider_exports.triggers.export_status import make_trigger
from airflow_provider_exports.waiting import Poller, event_for, finish

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage


class StartExportOperator(BaseOperator):
    """Starts an export with the vendor's own request body and returns the export id.

    The id is pushed to XCom (return value, and key ``export_id``) as soon as the vendor
    answers, so a later wait, download or log task can find it even if this task then fails.

    :param conn_id: an export connection; its type picks the vendor.
    :param payload: the vendor's start-export body (see the vendor's docs page).
    :param wait_for_completion: also wait until the export ends (fails unless it succeeded).
    :param deferrable: wait in the triggerer instead of the worker (default: Airflow's
        ``[operators] default_deferrable``, False unless set).
    :param poll_interval: seconds between status polls while waiting.
    :param wait_timeout: seconds to wait at most (None: no limit).
    :param cancel_on_timeout: ask the vendor to cancel the export if the wait times out.
    :param adopt_running_export: on a retry, wait for the export an earlier try started if the
        vendor says it is still running, instead of starting a second one (the id is kept in an
        Airflow Variable named ``airflow_provider_exports.started.<dag>.<run>.<task>.<map index>``
        until the task ends for good: it succeeds, or fails with no retry left).
    """

    template_fields: Sequence[str] = ("conn_id", "payload", "hook_params")
    template_fields_renderers: ClassVar[dict[str, str]] = {"payload": "json"}
    operator_extra_links = (ExportLink(),)

    def __init__(
        self,
        *,
        conn_id: str,
        payload: Mapping[str, Any],
        wait_for_completion: bool = False,
        deferrable: bool = default_deferrable(),
        poll_interval: float = 30,
        wait_timeout: float | None = 24 * 3600,
        success_states: Sequence[str] | None = None,
        failure_states: Sequence[str] | None = None,
        cancel_on_timeout: bool = True,
        adopt_running_export: bool = True,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.payload = payload
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.success_states = list(success_states or [])
        self.failure_states = list(failure_states or [])
        self.cancel_on_timeout = cancel_on_timeout
        self.adopt_running_export = adopt_running_export
        self.hook_params = dict(hook_params or {})
        self._export_id: str | None = None
        self._final: dict[str, Any] | None = None

    @functools.cached_property
    def hook(self) -> ExportHook:
        return export_hook(self.conn_id, **self.hook_params)

    def execute(self, context: Any) -> str:
        ti = context["ti"]
        with self._marker_until_final(ti):
            export_id = self._start_or_adopt(ti)
            self._export_id = export_id
            ti.xcom_push(key="export_id", value=export_id)
            if self.wait_for_completion:
                self._wait(export_id)
            return export_id

    def _wait(self, export_id: str) -> None:
        poller = Poller(export_id, self.log, self.success_states, self.failure_states)
        if not self.deferrable:
            try:
                status = poller.wait(self.hook, self.poll_interval, self.wait_timeout)
            except AirflowSensorTimeout:
                self._cancel_after_timeout(export_id)
                raise
            self._final = event_for(status, self.conn_id)
            finish(self._final, self.log)
            return
        # One synchronous poll first (a transient failure there only means the trigger polls).
        first = poller.poll(self.hook)
        if first is not None and first.is_terminal:
            self._final = event_for(first, self.conn_id)
            finish(self._final, self.log)
            return
        trigger, defer_timeout = make_trigger(
            conn_id=self.conn_id,
            export_id=export_id,
            poll_interval=self.poll_interval,
            timeout=self.wait_timeout,
            success_states=self.success_states,
            failure_states=self.failure_states,
            hook_params=self.hook.trigger_hook_params(),
        )
        self.defer(trigger=trigger, method_name="execute_complete", timeout=defer_timeout)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> str:
        """Called when the trigger fires: return the export id or raise with the reason."""
        self._export_id = str(event.get("export_id") or "") or None
        self._final = event
        with self._marker_until_final(context["ti"]):
            if event.get("status") == "timeout":
                self._cancel_after_timeout(str(event.get("export_id")))
            finish(event, self.log)
            return str(event["export_id"])

    # OpenLineage (docs/lineage.md): the export this task started is its output dataset.

    def get_openlineage_facets_on_start(self) -> OperatorLineage[Any, Any]:
        """Lineage at the start: the vendor (no export exists yet)."""
        from airflow_provider_exports.lineage import operator_lineage

        return operator_lineage(self, export_id=None, export_as="output")

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Any, Any]:
        """Lineage at the end: the started export as the output dataset, its id and final state."""
        from airflow_provider_exports.lineage import operator_lineage

        final = self._final or {}
        return operator_lineage(
            self,
            export_id=self._export_id,
            export_as="output",
            vendor_state=final.get("vendor_state"),
            state=final.get("state"),
        )

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage[Any, Any]:
        """Lineage of a failed try: the export it started, if the vendor had answered."""
        return self.get_openlineage_facets_on_complete(task_instance)

    # A retry must not start a second export while the first is still running. XCom is cleared
    # between tries, so the id of a started export is kept in an Airflow Variable until the task
    # ends for good (success, or a failure no retry follows); a later try adopts that export if
    # the vendor says it is still running.

    @contextlib.contextmanager
    def _marker_until_final(self, ti: Any) -> Iterator[None]:
        """Delete the start marker once no later try can need it; keep it across a deferral."""
        try:
            yield
        except TaskDeferred:
            raise
        except BaseException as exc:
            if not _may_retry(ti, exc):
                self._forget(ti)
            raise
        else:
            self._forget(ti)

    @staticmethod
    def _marker(ti: Any) -> str:
        return f"airflow_provider_exports.started.{ti.dag_id}.{ti.run_id}.{ti.task_id}.{ti.map_index}"

    def _start_or_adopt(self, ti: Any) -> str:
        if self.adopt_running_export and ti.try_number > 1:
            previous = _read_marker(self._marker(ti), self.log)
            if previous:
                try:
                    status = self.hook.get_status(previous)
                except ExportError as exc:
                    self.log.warning("Could not read export %r of an earlier try: %s", previous, exc)
                else:
                    if not status.is_terminal:
                        self.log.info(
                            "Try %d adopts %s export %r, started by an earlier try and still running "
                            "(%s): no second export is started.",
                            ti.try_number,
                            self.hook.vendor,
                            previous,
                            status.describe(),
                        )
                        return previous
        export_id = self.hook.start_export(dict(self.payload))
        self.log.info("Started %s export %r.", self.hook.vendor, export_id)
        if self.adopt_running_export:
            _write_marker(self._marker(ti), export_id, self.log)
        return export_id

    def _forget(self, ti: Any) -> None:
        if self.adopt_running_export:
            _delete_marker(self._marker(ti), self.log)

    def _cancel_after_timeout(self, export_id: str) -> None:
        if not (self.cancel_on_timeout and self.hook.supports_cancel):
            return
        try:
            accepted = self.hook.cancel(export_id)
            self.log.warning(
                "Wait timed out; asked %s to cancel export %r: %s",
                self.hook.vendor,
                export_id,
                "accepted" if accepted else "refused",
            )
        except Exception as exc:  # noqa: BLE001 - best effort: the timeout is the error to report
            self.log.warning("Could not cancel export %r after the timeout: %s", export_id, exc)

    def on_kill(self) -> None:
        if self._export_id and self.hook.supports_cancel:
            try:
                self.hook.cancel(self._export_id)
            except Exception as exc:  # noqa: BLE001 - best effort while being killed
                self.log.warning("Could not cancel export %r: %s", self._export_id, exc)


def _may_retry(ti: Any, exc: BaseException) -> bool:
    """Whether Airflow may run another try after this one fails with ``exc``."""
    if isinstance(exc, (AirflowFailException, AirflowSensorTimeout)):
        return False  # Airflow fails these without retrying
    max_tries = getattr(ti, "max_tries", None)
    return not isinstance(max_tries, int) or ti.try_number <= max_tries


def _read_marker(key: str, log: Any) -> str | None:
    try:
        value = Variable.get(key, default=None)
    except Exception as exc:  # noqa: BLE001 - the marker only avoids duplicates; never fail for it
        log.warning("Could not read the start marker %s: %s", key, exc)
        return None
    return str(value) if value else None


def _write_marker(key: str, export_id: str, log: Any) -> None:
    try:
        Variable.set(
            key,
            export_id,
            description="Export started by a task; removed when the task succeeds or fails for good.",
        )
    except Exception as exc:  # noqa: BLE001 - see _read_marker
        log.warning("Could not record the start marker %s: %s", key, exc)


def _delete_marker(key: str, log: Any) -> None:
    try:
        Variable.delete(key)
    except Exception as exc:  # noqa: BLE001 - see _read_marker
        log.warning("Could not remove the start marker %s: %s", key, exc)
