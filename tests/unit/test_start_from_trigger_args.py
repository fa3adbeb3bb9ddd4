"""``ExportStatusSensor(start_from_trigger=True)``: what the scheduler gets, and the fallbacks.

No Airflow processes here: the operator, its ``StartTriggerArgs`` and the serialized DAG the
scheduler reads (tests/scale/test_two_triggerers.py runs the same cases on a real scheduler and
triggerers). The cases that start in the triggerer need Airflow 3.3 or later; on an older Airflow
(the package check runs tests/unit on 3.2) they are skipped, and the fallbacks are checked.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta
from typing import Any

import airflow
import pytest
from airflow.sdk import DAG, task
from airflow.serialization.serialized_objects import DagSerialization
from packaging.version import Version

from airflow_provider_exports.sensors import export_status
from airflow_provider_exports.sensors.export_status import ExportStatusSensor
from airflow_provider_exports.triggers.export_status import ExportStatusTrigger

TRIGGER_PATH = "airflow_provider_exports.triggers.export_status.ExportStatusTrigger"
#: Airflow's own version, read here and not through the sensor, so that on 3.3 and later these
#: cases always run.
needs_airflow_3_3 = pytest.mark.skipif(
    Version(airflow.__version__).release[:2] < (3, 3),
    reason="Airflow before 3.3 does not start tasks in the triggerer (test_airflow_3_2_falls_back)",
)


def _sensor(**kwargs: Any) -> ExportStatusSensor:
    args: dict[str, Any] = {
        "task_id": "wait",
        "conn_id": "occ",
        "export_id": "x-1",
        "deferrable": True,
        "poke_interval": 7,
        "timeout": 600,
    }
    args.update(kwargs)
    return ExportStatusSensor(**args)


def test_default_is_unchanged() -> None:
    sensor = _sensor()
    assert sensor.start_from_trigger is False
    assert sensor.start_trigger_args is None


@needs_airflow_3_3
def test_start_trigger_args_build_the_trigger() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sensor = _sensor(
            start_from_trigger=True,
            success_states=["done"],
            hook_params={"retry": {"attempts": 3}},
        )
    args = sensor.start_trigger_args
    assert sensor.start_from_trigger is True
    assert (args.trigger_cls, args.next_method, args.next_kwargs) == (TRIGGER_PATH, "execute_complete", None)
    assert args.timeout == timedelta(seconds=600)
    trigger = ExportStatusTrigger(**args.trigger_kwargs)
    assert trigger.serialize() == (
        TRIGGER_PATH,
        {
            "conn_id": "occ",
            "export_id": "x-1",
            "poll_interval": 7.0,
            "timeout_at": None,
            "success_states": ["done"],
            "failure_states": [],
            "hook_params": {"retry": {"attempts": 3}},
            "next_poll_at": None,  # no worker polled first: the trigger polls at once
        },
    )


@needs_airflow_3_3
def test_templates_go_to_the_triggerer_unrendered() -> None:
    sensor = _sensor(start_from_trigger=True, export_id="x-{{ ti.task_id }}")
    assert sensor.start_from_trigger is True
    assert sensor.start_trigger_args.trigger_kwargs["export_id"] == "x-{{ ti.task_id }}"
    # The triggerer renders the operator's template fields that are also trigger kwargs.
    assert set(sensor.template_fields) <= set(sensor.start_trigger_args.trigger_kwargs)


@needs_airflow_3_3
def test_the_scheduler_sees_start_from_trigger_for_tasks_but_not_for_mapped_tasks() -> None:
    with DAG(dag_id="sft_serialization", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        _sensor(task_id="single", start_from_trigger=True)
        ExportStatusSensor.partial(
            task_id="mapped", conn_id="occ", deferrable=True, start_from_trigger=True
        ).expand(export_id=["a", "b"])
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    single = serialized.get_task("single")
    assert single.start_from_trigger is True
    assert single.start_trigger_args.trigger_cls == TRIGGER_PATH
    assert single.start_trigger_args.next_method == "execute_complete"
    mapped = serialized.get_task("mapped")
    # No StartTriggerArgs: Airflow 3.3's scheduler queues mapped tasks for a worker as usual.
    assert mapped.start_trigger_args is None


def test_needs_deferrable() -> None:
    with pytest.raises(ValueError, match="start_from_trigger=True needs deferrable=True"):
        _sensor(start_from_trigger=True, deferrable=False)


@needs_airflow_3_3
@pytest.mark.parametrize(
    ("export_id", "reason"),
    [
        ("{{ ti.xcom_pull(task_ids='start') }}", "pulls an XCom without map_indexes"),
        ("{{ task_instance.xcom_pull('start') }}", "pulls an XCom without map_indexes"),
    ],
)
def test_xcom_pull_without_map_indexes_falls_back(export_id: str, reason: str) -> None:
    with pytest.warns(UserWarning, match=reason):
        sensor = _sensor(start_from_trigger=True, export_id=export_id)
    assert sensor.start_from_trigger is False
    assert sensor.start_trigger_args is None


@needs_airflow_3_3
def test_xcom_pull_with_map_indexes_starts_in_the_triggerer() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sensor = _sensor(start_from_trigger=True, export_id="{{ ti.xcom_pull('s', map_indexes=-1) }}")
    assert sensor.start_from_trigger is True


@needs_airflow_3_3
def test_xcomarg_falls_back() -> None:
    with DAG(dag_id="sft_xcomarg", schedule=None, start_date=datetime(2026, 1, 1)):

        @task
        def start() -> str:
            return "x-1"

        with pytest.warns(UserWarning, match="export_id is an XComArg"):
            sensor = _sensor(start_from_trigger=True, export_id=start())
    assert sensor.start_from_trigger is False
    assert sensor.start_trigger_args is None


def test_airflow_3_2_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    # Airflow 3.2's scheduler has start_from_trigger switched off (models/dagrun.py).
    monkeypatch.setattr(export_status, "_airflow_version", lambda: (3, 2))
    with pytest.warns(UserWarning, match=r"Airflow 3.3 and later do; 3.2 has it switched off"):
        sensor = _sensor(start_from_trigger=True)
    assert sensor.start_from_trigger is False
    assert sensor.start_trigger_args is None


def test_airflow_without_the_feature_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_status, "HAS_START_TRIGGER_ARGS", False)
    with pytest.warns(UserWarning, match="does not start tasks in the triggerer"):
        sensor = _sensor(start_from_trigger=True)
    assert sensor.start_from_trigger is False
    assert sensor.start_trigger_args is None
