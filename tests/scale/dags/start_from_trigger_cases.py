"""``start_from_trigger`` cases: which sensors start in the triggerer and which fall back.

Starts in the triggerer: a literal export id, a Jinja template, an ``xcom_pull`` with
``map_indexes=-1``. Falls back to a worker's first poll (with a warning at parse time or a log
line on the worker): an ``xcom_pull`` without ``map_indexes``, an XComArg, a mapped sensor.
"""

from __future__ import annotations

import os
import warnings
from datetime import datetime

from airflow.sdk import DAG, task

from airflow_provider_exports.sensors.export_status import ExportStatusSensor

COMMON = {
    "conn_id": os.environ.get("SCALE_CONN_ID", "occ_scale"),
    "deferrable": True,
    "start_from_trigger": True,
    "poke_interval": 1.0,
    "timeout": 600,
    "retries": 0,
}

with DAG(
    dag_id="start_from_trigger_cases", schedule=None, start_date=datetime(2026, 1, 1), catchup=False
) as dag:

    @task
    def export_id_for(name: str) -> str:
        return f"c-{name}"

    one = export_id_for.override(task_id="id_one")("xcom-one")
    every = export_id_for.override(task_id="id_every")("xcom-every")
    arg = export_id_for.override(task_id="id_arg")("xcomarg")

    ExportStatusSensor(task_id="literal", export_id="c-literal", **COMMON)
    ExportStatusSensor(task_id="jinja", export_id="c-{{ ti.task_id }}", **COMMON)
    one >> ExportStatusSensor(
        task_id="xcom_one", export_id="{{ ti.xcom_pull(task_ids='id_one', map_indexes=-1) }}", **COMMON
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the fallbacks warn; the test checks that elsewhere
        every >> ExportStatusSensor(
            task_id="xcom_every", export_id="{{ ti.xcom_pull(task_ids='id_every') }}", **COMMON
        )
        ExportStatusSensor(task_id="xcomarg", export_id=arg, **COMMON)
    ExportStatusSensor.partial(task_id="mapped", **COMMON).expand(export_id=["c-map-0", "c-map-1"])
