"""Four more watchers on the Workspace account of example_dags/huawei_workspace_watch.py (same
connection and interval, other name patterns): with it, five watchers that must share one
listing per interval. Their patterns match no export the stack test makes."""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset, AssetWatcher

from airflow_provider_exports.triggers.export_available import ExportAvailableTrigger

CONN_ID = os.environ.get("HUAWEI_WORKSPACE_CONN_ID", "huawei_workspace_default")
POLL_INTERVAL = float(os.environ.get("EXPORTS_WATCH_INTERVAL", "60"))

ASSETS = [
    Asset(
        name=f"workspace_{kind}_exports",
        watchers=[
            AssetWatcher(
                name=f"workspace_{kind}",
                trigger=ExportAvailableTrigger(
                    conn_id=CONN_ID, poll_interval=POLL_INTERVAL, name_pattern=rf"{kind}_.*\.xlsx"
                ),
            )
        ],
    )
    for kind in ("desktops", "desktop_connections", "user_metrics", "desktop_metrics")
]

with DAG(
    dag_id="more_workspace_watchers",
    schedule=ASSETS[0] | ASSETS[1] | ASSETS[2] | ASSETS[3],
    start_date=datetime(2026, 1, 1),
    catchup=False,
):
    EmptyOperator(task_id="noop")
