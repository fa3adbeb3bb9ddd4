"""DAGs for waits that end without the export ending (issue 16): the start operator's wait timing
out (on the worker and in the triggerer, with and without ``cancel_on_timeout``), the sensor's poke
timeout, and a start task killed mid-wait (SIGTERM, and Airflow's ``execution_timeout``).

Every task starts its own export with its own ``fileName``, so a test can tell from the
emulator which task an export (and an abort request) belongs to.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_exports.operators import StartExportOperator
from airflow_provider_exports.sensors.export_status import ExportStatusSensor

CONN_ID = "oracle_commerce_default"
START = datetime(2026, 1, 1)
#: Small waits; two attempts per HTTP call with a short backoff.
FAST: dict[str, Any] = {"poll_interval": 0.2, "hook_params": {"retry": {"attempts": 2, "backoff": 0.1}}}


def payload(task_id: str) -> dict[str, Any]:
    """An OCC bundle export whose file name names the task."""
    return {"mode": "bundle", "fileName": f"{task_id}.zip", "items": [{"id": "Profiles"}]}


def start_and_wait(task_id: str, **kwargs: Any) -> StartExportOperator:
    return StartExportOperator(
        task_id=task_id,
        conn_id=CONN_ID,
        payload=payload(task_id),
        wait_for_completion=True,
        retries=0,
        **{**FAST, **kwargs},
    )


# The wait on the worker times out after 2 s; only the first task asks OCC to abort the export.
with DAG(dag_id="start_timeout_sync", schedule=None, start_date=START, catchup=False) as sync_dag:
    start_and_wait("sync_cancel", deferrable=False, wait_timeout=2, cancel_on_timeout=True)
    start_and_wait("sync_keep", deferrable=False, wait_timeout=2, cancel_on_timeout=False)

# The same in the triggerer: its timeout event reaches execute_complete, which cancels.
with DAG(dag_id="start_timeout_deferred", schedule=None, start_date=START, catchup=False) as deferred_dag:
    start_and_wait("deferred_cancel", deferrable=True, wait_timeout=2, cancel_on_timeout=True)
    start_and_wait("deferred_keep", deferrable=True, wait_timeout=2, cancel_on_timeout=False)

# The sensor in poke mode times out after 2 s on an export that stays 'processing'.
with DAG(dag_id="sensor_poke_timeout", schedule=None, start_date=START, catchup=False) as sensor_dag:
    start = StartExportOperator(task_id="start", conn_id=CONN_ID, payload=payload("sensor_start"), retries=0)
    ExportStatusSensor(
        task_id="wait",
        conn_id=CONN_ID,
        export_id=start.output,
        mode="poke",
        poke_interval=0.2,
        timeout=2,
        retries=0,
        hook_params=FAST["hook_params"],
    )

# Waits far longer than the tests: only a kill ends them. cancel_on_timeout=False, so the only
# abort that can reach the vendor is on_kill's.
with DAG(dag_id="start_killed", schedule=None, start_date=START, catchup=False) as killed_dag:
    start_and_wait("killed", deferrable=False, wait_timeout=300, cancel_on_timeout=False, poll_interval=0.5)

with DAG(dag_id="start_execution_timeout", schedule=None, start_date=START, catchup=False) as timed_dag:
    start_and_wait(
        "timed_out",
        deferrable=False,
        wait_timeout=300,
        cancel_on_timeout=False,
        execution_timeout=timedelta(seconds=3),
    )
