"""DAGs whose tasks must end for the right reason (issue 17): a missing export id, a transient
blip on the start operator's first poll before deferring, and start markers at a final failure."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_exports.operators import (
    DownloadExportOperator,
    FetchExportLogOperator,
    StartExportOperator,
)
from airflow_provider_exports.sensors.export_status import ExportStatusSensor

CONN_ID = "oracle_commerce_default"
PAYLOAD = {"mode": "bundle", "fileName": "outcomes.zip", "items": [{"id": "Profiles"}]}
DOWNLOAD_DIR = os.environ.get("EXPORTS_DOWNLOAD_DIR", "/tmp/airflow-exports")
START = datetime(2026, 1, 1)

# The start task fails (the emulator refuses it), so nothing is pushed to XCom; every task
# after it runs anyway (all_done) and must not send the vendor an id of "None".
with DAG(dag_id="missing_export_id", schedule=None, start_date=START, catchup=False) as missing_id:
    start = StartExportOperator(task_id="start", conn_id=CONN_ID, payload=PAYLOAD, retries=0)
    log = FetchExportLogOperator(
        task_id="log", conn_id=CONN_ID, export_id=start.output, trigger_rule="all_done"
    )
    wait = ExportStatusSensor(
        task_id="wait",
        conn_id=CONN_ID,
        export_id="{{ ti.xcom_pull(task_ids='start') }}",
        poke_interval=0.2,
        timeout=30,
        trigger_rule="all_done",
    )
    download = DownloadExportOperator(
        task_id="download",
        conn_id=CONN_ID,
        export_id=start.output,
        destination=DOWNLOAD_DIR + "/outcomes/missing.zip",
        trigger_rule="all_done",
    )
    start >> [log, wait, download]

# One failed status call (no retries inside the call) right before the deferral.
with DAG(dag_id="deferred_start_blip", schedule=None, start_date=START, catchup=False) as blip:
    StartExportOperator(
        task_id="start_and_wait",
        conn_id=CONN_ID,
        payload=PAYLOAD,
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.2,
        retries=0,
        hook_params={"retry": {"attempts": 1}},
    )

# A start task with a retry that fails for good (one DAG per test, so markers are told apart).
for dag_id in ("start_fails_for_good", "start_retries_run_out"):
    with DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False) as retried:
        StartExportOperator(
            task_id="start_and_wait",
            conn_id=CONN_ID,
            payload=PAYLOAD,
            wait_for_completion=True,
            poll_interval=0.2,
            retries=1,
            retry_delay=timedelta(seconds=0),
        )
    globals()[dag_id] = retried
