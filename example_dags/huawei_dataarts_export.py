"""Huawei Cloud DataArts Studio: export design data (Excel), wait for it (deferrable), download the
workbook, fetch the export's status.

Connection ``huawei_dataarts_default`` (type ``huawei_dataarts``): AK/SK or IAM user, with the
extras ``region``, ``project_id`` and ``workspace_id`` (see docs/huawei.md).
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

CONN_ID = os.environ.get("DATAARTS_CONN_ID", "huawei_dataarts_default")
DOWNLOAD_DIR = os.environ.get("EXPORTS_DOWNLOAD_DIR", "/tmp/airflow-exports")
POKE_INTERVAL = float(os.environ.get("EXPORTS_POKE_INTERVAL", "30"))
WAIT_TIMEOUT = float(os.environ.get("EXPORTS_WAIT_TIMEOUT", str(3 * 3600)))

with DAG(
    dag_id="huawei_dataarts_export",
    description="Export DataArts Architecture table models to Excel, wait, download the workbook",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=2)},
    tags=["exports", "huawei", "dataarts"],
) as dag:
    start = StartExportOperator(
        task_id="start_export",
        conn_id=CONN_ID,
        # The export-model body (ExportParam); 'asyn' is always sent as true.
        payload={
            "type": "TABLE_MODEL",
            "model_id": "1160236484595425285",
            "ids": ["1160236484595425279", "1160236484595425281"],
        },
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
        destination=DOWNLOAD_DIR + "/huawei_dataarts/{{ run_id | replace(':', '_') }}/table_models.xlsx",
        outlets=[AssetAlias("huawei_dataarts_exports")],
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
