"""Scale DAGs: many deferrable ``ExportStatusSensor`` waits on one export connection.

``scale_mapped``: one sensor mapped over the export ids (``.expand(export_id=...)``); each map
index polls once on a worker, then waits in a triggerer.

``scale_start_from_trigger``: one sensor task per export id with ``start_from_trigger=True``;
the scheduler hands each straight to a triggerer. Separate tasks, not a mapped one: Airflow 3.3
does not start mapped tasks in the triggerer (they would take the worker path).

Set by the environment the dag-processor and the workers share: ``SCALE_N`` (waits per DAG),
``SCALE_POKE_INTERVAL`` (seconds), ``SCALE_CONN_ID``, ``SCALE_TIMEOUT`` (seconds).
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_exports.sensors.export_status import ExportStatusSensor

N = int(os.environ.get("SCALE_N", "200"))
POKE_INTERVAL = float(os.environ.get("SCALE_POKE_INTERVAL", "2"))
CONN_ID = os.environ.get("SCALE_CONN_ID", "occ_scale")
TIMEOUT = float(os.environ.get("SCALE_TIMEOUT", "1800"))


def export_ids(prefix: str, n: int = N) -> list[str]:
    """The export ids a scale DAG waits for: ``<prefix>0000`` ... (the tests register them)."""
    return [f"{prefix}{i:04d}" for i in range(n)]


COMMON = {
    "conn_id": CONN_ID,
    "deferrable": True,
    "poke_interval": POKE_INTERVAL,
    "timeout": TIMEOUT,
    "retries": 0,
}

with DAG(
    dag_id="scale_mapped",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_tasks=N + 16,
    tags=["scale"],
) as scale_mapped:
    ExportStatusSensor.partial(task_id="wait", **COMMON).expand(export_id=export_ids("m-"))

with DAG(
    dag_id="scale_start_from_trigger",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_tasks=N + 16,
    tags=["scale"],
) as scale_start_from_trigger:
    for index, export_id in enumerate(export_ids("s-")):
        ExportStatusSensor(task_id=f"wait_{index:04d}", export_id=export_id, start_from_trigger=True, **COMMON)
