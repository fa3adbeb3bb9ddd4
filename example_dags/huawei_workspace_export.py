"""Huawei Cloud Workspace: export the user list, wait for the export task (deferrable), download
the file, fetch the task record.

Connection ``huawei_workspace_default`` (type ``huawei_workspace``): AK/SK or IAM user, with the
extras ``region`` and ``project_id`` (see docs/huawei.md).
Try it against the emulator with ``make demo``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, AssetAlias

from airflow_provider_exports.operators import (
    DownloadExportOperator,
    FetchExportLogOperator,
    StartExportOperator,
)
from airflow_provider_exports.sensors.export_status import ExportStatusSensor

CONN_ID = os.environ.get("WORKSPACE_CONN_ID", "huawei_workspace_default")
DOWNLOAD_DIR = os.environ.get("EXPORTS_DOWNLOAD_DIR", "/tmp/airflow-exports")
POKE_INTERVAL = float(os.environ.get("EXPORTS_POKE_INTERVAL", "30"))
WAIT_TIMEOUT = float(os.environ.get("EXPORTS_WAIT_TIMEOUT", str(3 * 3600)))

with DAG(
    dag_id="huawei_workspace_export",
    description="Export the Workspace user list, wait for the export task, download the file",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=2)},
    tags=["exports", "huawei", "workspace"],
) as dag:
    start = StartExportOperator(
        task_id="start_export",
        conn_id=CONN_ID,
        # POST /v3/{project_id}/users/export with this body; see docs/huawei.md for other exports.
        payload={"export": "users", "params": {"language": "en_US"}},
        # A start call is never resent once it may have reached the vendor, so a dropped
        # connection fails this try; the retry then adopts the export it started (README.md).
        retries=2,
        retry_delay=timedelta(minutes=1),
        adopt_running_export=True,
    )
    wait = ExportStatusSensor(
        task_id="wait_for_export",
        conn_id=CONN_ID,
        export_id=start.output,
        deferrable=True,
        # Polling errors are retried inside the wait; a failed export stays failed.
        retries=0,
        poke_interval=POKE_INTERVAL,
        timeout=WAIT_TIMEOUT,
    )
    download = DownloadExportOperator(
        task_id="download_export",
        conn_id=CONN_ID,
        export_id=start.output,
        destination=DOWNLOAD_DIR + "/huawei_workspace/{{ run_id | replace(':', '_') }}/users.xlsx",
        outlets=[AssetAlias("huawei_workspace_exports")],
    )
    log = FetchExportLogOperator(
        task_id="fetch_export_log",
        conn_id=CONN_ID,
        export_id=start.output,
        trigger_rule="all_done",
    )
    start >> wait >> [download, log]

if __name__ == "__main__":
    dag.test()
