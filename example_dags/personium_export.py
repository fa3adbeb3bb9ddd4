"""Personium: export a cell to a snapshot, wait for it (deferrable), download the snapshot and
record the export's final status. A second DAG, ``personium_import``, imports a snapshot and
waits for ``__import``.

Connection ``personium_default``: host = cell URL (``https://cell1.unit1.example/``), login +
password of an account with the cell's root privilege, or extras ``access_token`` /
``refresh_token``. See docs/personium.md.
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

CONN_ID = os.environ.get("PERSONIUM_CONN_ID", "personium_default")
DOWNLOAD_DIR = os.environ.get("EXPORTS_DOWNLOAD_DIR", "/tmp/airflow-exports")
POKE_INTERVAL = float(os.environ.get("EXPORTS_POKE_INTERVAL", "30"))
WAIT_TIMEOUT = float(os.environ.get("EXPORTS_WAIT_TIMEOUT", str(3 * 3600)))
# The snapshot (without .zip) the import DAG restores: it must be in the cell's snapshot area.
IMPORT_SNAPSHOT = os.environ.get("PERSONIUM_IMPORT_SNAPSHOT", "CellExport_2017_01")

with DAG(
    dag_id="personium_export",
    description="Export a Personium cell to a snapshot, wait, download it",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=2)},
    tags=["exports", "personium"],
) as dag:
    # No Name in the payload: the hook picks a new one (airflow_<UTC time>_<random>) and returns
    # it, because Personium refuses (409) a Name whose snapshot already exists.
    start = StartExportOperator(
        task_id="start_export",
        conn_id=CONN_ID,
        payload={},
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
        hook_params={"job": "export"},
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
        destination=DOWNLOAD_DIR
        + "/personium/{{ run_id | replace(':', '_') }}/{{ ti.xcom_pull(task_ids='start_export') }}.zip",
        outlets=[AssetAlias("personium_snapshots")],
    )
    log = FetchExportLogOperator(
        task_id="fetch_export_log",
        conn_id=CONN_ID,
        export_id=start.output,
        trigger_rule="all_done",
    )
    start >> wait >> [download, log]


with DAG(
    dag_id="personium_import",
    description="Import a snapshot into a Personium cell (replaces the cell's data) and wait",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["exports", "personium"],
) as import_dag:
    start_import = StartExportOperator(
        task_id="start_import",
        conn_id=CONN_ID,
        payload={"Name": IMPORT_SNAPSHOT},
        hook_params={"job": "import"},
        # A start call is never resent once it may have reached the vendor, so a dropped
        # connection fails this try; the retry then adopts the export it started (README.md).
        retries=2,
        retry_delay=timedelta(minutes=1),
        adopt_running_export=True,
    )
    ExportStatusSensor(
        task_id="wait_for_import",
        conn_id=CONN_ID,
        export_id=start_import.output,
        # 'import failed' answers from runs that started before this DAG run are not ours.
        hook_params={"job": "import", "started_after": "{{ dag_run.start_date }}"},
        deferrable=True,
        poke_interval=POKE_INTERVAL,
        timeout=WAIT_TIMEOUT,
    )

if __name__ == "__main__":
    dag.test()
