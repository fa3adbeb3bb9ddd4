"""Oracle Commerce Cloud: export profiles, wait for the export (deferrable), download it, fetch
the export's status report.

Connection ``oracle_commerce_default``: host = admin server URL, password = application key.
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

CONN_ID = os.environ.get("OCC_CONN_ID", "oracle_commerce_default")
DOWNLOAD_DIR = os.environ.get("EXPORTS_DOWNLOAD_DIR", "/tmp/airflow-exports")
POKE_INTERVAL = float(os.environ.get("EXPORTS_POKE_INTERVAL", "30"))
WAIT_TIMEOUT = float(os.environ.get("EXPORTS_WAIT_TIMEOUT", str(3 * 3600)))

with DAG(
    dag_id="oracle_commerce_export",
    description="Export OCC profiles, wait, download the archive and the status report",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=2)},
    tags=["exports", "oracle_commerce"],
) as dag:
    start = StartExportOperator(
        task_id="start_export",
        conn_id=CONN_ID,
        payload={
            "mode": "bundle",
            "fileName": "profiles_{{ ds_nodash }}.zip",
            "items": [{"id": "Profiles", "format": "csv"}],
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
        poke_interval=POKE_INTERVAL,
        timeout=WAIT_TIMEOUT,
    )
    download = DownloadExportOperator(
        task_id="download_export",
        conn_id=CONN_ID,
        export_id=start.output,
        destination=DOWNLOAD_DIR + "/oracle_commerce/{{ run_id | replace(':', '_') }}/profiles.zip",
        outlets=[AssetAlias("oracle_commerce_exports")],
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
