"""``scale_start_from_trigger``: N sensors with ``start_from_trigger=True``; the scheduler hands
each straight to a triggerer, no worker runs it before its wait.

One task per export, not a mapped task: Airflow 3.3 does not start mapped tasks in the
triggerer (they would take the worker path). From the environment, as ``scale_mapped.py``; the
export ids are ``s-0000``, ``s-0001``, ... and the tasks ``wait_0000``, ``wait_0001``, ...
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_exports.sensors.export_status import ExportStatusSensor

N = int(os.environ.get("SCALE_N", "200"))

with DAG(
    dag_id="scale_start_from_trigger",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_tasks=N + 16,
    tags=["scale"],
):
    for i in range(N):
        ExportStatusSensor(
            task_id=f"wait_{i:04d}",
            export_id=f"s-{i:04d}",
            conn_id=os.environ.get("SCALE_CONN_ID", "occ_scale"),
            deferrable=True,
            start_from_trigger=True,
            poke_interval=float(os.environ.get("SCALE_POKE_INTERVAL", "2")),
            timeout=float(os.environ.get("SCALE_TIMEOUT", "1800")),
            retries=0,
        )
