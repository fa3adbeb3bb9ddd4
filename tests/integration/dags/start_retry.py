"""A start task that fails after starting its export, then retries (for the idempotency test)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_exports.operators import StartExportOperator

with DAG(dag_id="start_retry", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    StartExportOperator(
        task_id="start_and_wait",
        conn_id=os.environ.get("OCC_CONN_ID", "oracle_commerce_default"),
        payload={"mode": "bundle", "fileName": "retry.zip", "items": [{"id": "Profiles"}]},
        wait_for_completion=True,
        poll_interval=0.2,
        retries=1,
        retry_delay=timedelta(seconds=0),
        adopt_running_export=os.environ.get("ADOPT", "true") == "true",
    )
