"""A DAG built from a JSON spec (env FAULT_MATRIX_SPEC): one task group per vendor, one
task per fault row.

Each row waits on (or downloads) its own export, so the faults injected for one row cannot
touch another. A group names its vendor's connection and hook_params; a task may name its own
``conn_id`` (e.g. its own Personium cell) and ``hook_params``. Start rows (``kind`` "start")
start an export; where several share the vendor's start path, ``after`` runs them one after the
other (whatever the one before did), so each meets its own fault.
"""

from __future__ import annotations

import json
import os
from datetime import datetime

from airflow.sdk import DAG, TaskGroup

from airflow_provider_exports.operators import DownloadExportOperator, StartExportOperator
from airflow_provider_exports.sensors.export_status import ExportStatusSensor

SPEC = json.loads(os.environ.get("FAULT_MATRIX_SPEC", '{"groups": []}'))

with DAG(dag_id="fault_matrix", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    for group in SPEC["groups"]:
        with TaskGroup(group_id=group["group_id"]):
            made: dict[str, StartExportOperator] = {}
            for task in group["tasks"]:
                conn_id = task.get("conn_id") or group["conn_id"]
                hook_params = task.get("hook_params") or group.get("hook_params") or {}
                if task["kind"] == "start":
                    start = made[task["task_id"]] = StartExportOperator(
                        task_id=task["task_id"],
                        conn_id=conn_id,
                        payload=task["payload"],
                        hook_params=hook_params,
                        retries=0,
                        trigger_rule="all_done",
                    )
                    if task.get("after"):
                        made[task["after"]] >> start
                    continue
                common = {
                    "task_id": task["task_id"],
                    "conn_id": conn_id,
                    "export_id": task["export_id"],
                    "hook_params": hook_params,
                    "retries": 0,
                }
                if task["kind"] == "wait":
                    ExportStatusSensor(
                        deferrable=True,
                        poke_interval=task.get("poke_interval", 0.2),
                        timeout=task.get("timeout", 120),
                        success_states=task.get("success_states"),
                        **common,
                    )
                else:
                    DownloadExportOperator(
                        destination=task["destination"],
                        extract_to=task.get("extract_to"),
                        **common,
                    )
