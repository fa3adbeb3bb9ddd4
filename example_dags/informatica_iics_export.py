"""Informatica IICS: export a project and a mapping, wait for the export job (deferrable),
download the export package, fetch the job log (also when the export failed).

Connection ``informatica_iics_default``: host = login URL of the org's region (for example
``https://dm-us.informaticacloud.com``), login = username, password = password.
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

CONN_ID = os.environ.get("IICS_CONN_ID", "informatica_iics_default")
DOWNLOAD_DIR = os.environ.get("EXPORTS_DOWNLOAD_DIR", "/tmp/airflow-exports")
POKE_INTERVAL = float(os.environ.get("EXPORTS_POKE_INTERVAL", "30"))
WAIT_TIMEOUT = float(os.environ.get("EXPORTS_WAIT_TIMEOUT", str(3 * 3600)))
# Global ids of projects, folders or assets (the v3 "objects" / "lookup" resources list them).
OBJECT_IDS = os.environ.get("IICS_OBJECT_IDS", "l7bgB85m5oGiXObDxwnvK9,iIVBNZSpUKFg4N6g2PKUox").split(",")

with DAG(
    dag_id="informatica_iics_export",
    description="Export IICS assets, wait, download the package and the job log",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=2)},
    tags=["exports", "informatica_iics"],
) as dag:
    start = StartExportOperator(
        task_id="start_export",
        conn_id=CONN_ID,
        payload={
            "name": "airflow-{{ ds_nodash }}-{{ ti.try_number }}",
            "objects": [{"id": object_id, "includeDependencies": True} for object_id in OBJECT_IDS],
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
        # A failed export stays failed, and transient errors are retried inside the wait.
        retries=0,
    )
    download = DownloadExportOperator(
        task_id="download_export",
        conn_id=CONN_ID,
        export_id=start.output,
        destination=DOWNLOAD_DIR + "/informatica_iics/{{ run_id | replace(':', '_') }}/package.zip",
        outlets=[AssetAlias("informatica_iics_exports")],
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
