"""Personium, event-driven: download every snapshot that appears in a cell's snapshot area
(exports made by another process, a cron job, the cell's admin). Nothing is started here.

The asset ``personium_snapshots`` has an ``ExportAvailableTrigger`` watcher that lists the
snapshot area (``PROPFIND __snapshot``) every ``poll_interval`` seconds; each snapshot not
delivered before (by name and modification time) is an asset event, and this DAG runs once per
event and downloads it. Personium does not mark downloaded snapshots, so the download task
acknowledges each one (``acknowledge_download``); a snapshot whose download failed is delivered
again after ``redeliver_after``. See docs/event_driven.md.

Connection ``personium_default``: as for ``personium_export`` (docs/personium.md).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, AssetAlias, AssetWatcher, task

from airflow_provider_exports.operators import DownloadExportOperator
from airflow_provider_exports.triggers.export_available import (
    ExportAvailableTrigger,
    acknowledge_download,
    export_events,
    safe_file_name,
)

CONN_ID = os.environ.get("PERSONIUM_CONN_ID", "personium_default")
DOWNLOAD_DIR = os.environ.get("EXPORTS_DOWNLOAD_DIR", "/tmp/airflow-exports")
POLL_INTERVAL = float(os.environ.get("EXPORTS_WATCH_INTERVAL", "60"))

PERSONIUM_SNAPSHOTS = Asset(
    name="personium_snapshots",
    watchers=[
        AssetWatcher(
            name="personium_new_snapshots",
            trigger=ExportAvailableTrigger(
                conn_id=CONN_ID,
                poll_interval=POLL_INTERVAL,
                # Only the nightly snapshots; the cell's other snapshots are left alone.
                name_pattern=r"nightly_[A-Za-z0-9_-]+\.zip",
                redeliver_after=3 * 3600,
            ),
        )
    ],
)

with DAG(
    dag_id="personium_watch",
    description="Download each new Personium cell snapshot as soon as it appears",
    schedule=[PERSONIUM_SNAPSHOTS],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["exports", "personium", "event-driven"],
) as dag:

    @task
    def new_exports(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """One download per export event of this run (a run may be made for several)."""
        return [
            {
                "conn_id": event["conn_id"],
                "export_id": event["export_id"],
                "destination": f"{DOWNLOAD_DIR}/personium/{safe_file_name(event)}",
            }
            for event in export_events(triggering_asset_events)
        ]

    DownloadExportOperator.partial(
        task_id="download_export",
        # The watched asset as inlet: acknowledge_download records the download there.
        inlets=[PERSONIUM_SNAPSHOTS],
        outlets=[AssetAlias("personium_snapshot_files")],
        on_success_callback=acknowledge_download,
        retries=2,
    ).expand_kwargs(new_exports())
