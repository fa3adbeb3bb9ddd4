"""Huawei Cloud Workspace, event-driven: download every export task that finishes, whoever
started it (an admin in the console, another pipeline). Nothing is started here.

The asset ``huawei_workspace_exports`` has an ``ExportAvailableTrigger`` watcher that lists the
account's finished, not yet downloaded export tasks every ``poll_interval`` seconds; each new one
is an asset event, and this DAG runs once per event and downloads that export. Once downloaded,
Workspace marks the task (``is_download``) and it is no longer listed. See docs/event_driven.md.

Connection ``huawei_workspace_default``: as for ``huawei_workspace_export`` (docs/huawei.md).
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

CONN_ID = os.environ.get("HUAWEI_WORKSPACE_CONN_ID", "huawei_workspace_default")
DOWNLOAD_DIR = os.environ.get("EXPORTS_DOWNLOAD_DIR", "/tmp/airflow-exports")
POLL_INTERVAL = float(os.environ.get("EXPORTS_WATCH_INTERVAL", "60"))

WORKSPACE_EXPORTS = Asset(
    name="huawei_workspace_exports",
    watchers=[
        AssetWatcher(
            name="huawei_workspace_finished_exports",
            trigger=ExportAvailableTrigger(conn_id=CONN_ID, poll_interval=POLL_INTERVAL),
        )
    ],
)

with DAG(
    dag_id="huawei_workspace_watch",
    description="Download each Huawei Cloud Workspace export task as soon as it finishes",
    schedule=[WORKSPACE_EXPORTS],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["exports", "huawei", "event-driven"],
) as dag:

    @task
    def new_exports(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """One download per export event of this run (a run may be made for several)."""
        return [
            {
                "conn_id": event["conn_id"],
                "export_id": event["export_id"],
                "destination": f"{DOWNLOAD_DIR}/workspace/{event['export_id']}/{safe_file_name(event)}",
            }
            for event in export_events(triggering_asset_events)
        ]

    DownloadExportOperator.partial(
        task_id="download_export",
        # The watched asset as inlet: acknowledge_download records the download there.
        inlets=[WORKSPACE_EXPORTS],
        outlets=[AssetAlias("huawei_workspace_files")],
        on_success_callback=acknowledge_download,
        retries=2,
    ).expand_kwargs(new_exports())
