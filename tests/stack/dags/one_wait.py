"""One deferrable wait, for the stack's own tests (kill and restart a triggerer mid-wait)."""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_exports.sensors.export_status import ExportStatusSensor

with DAG(dag_id="one_wait", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    ExportStatusSensor(
        task_id="wait",
        conn_id="occ_stack",
        export_id=os.environ.get("ONE_WAIT_EXPORT_ID", "k-0000"),
        deferrable=True,
        poke_interval=1,
        timeout=600,
        retries=0,
    )
