"""``scale_mapped``: one deferrable sensor mapped over N export ids (``.expand(export_id=...)``);
each map index polls once on a worker, then waits in a triggerer.

From the environment the dag-processor and the workers share: ``SCALE_N`` (waits),
``SCALE_POKE_INTERVAL`` (seconds), ``SCALE_CONN_ID``, ``SCALE_TIMEOUT`` (seconds). The export
ids are ``m-0000``, ``m-0001``, ...
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_exports.sensors.export_status import ExportStatusSensor

N = int(os.environ.get("SCALE_N", "200"))

with DAG(
    dag_id="scale_mapped",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_tasks=N + 16,
    tags=["scale"],
):
    ExportStatusSensor.partial(
        task_id="wait",
        conn_id=os.environ.get("SCALE_CONN_ID", "occ_scale"),
        deferrable=True,
        poke_interval=float(os.environ.get("SCALE_POKE_INTERVAL", "2")),
        timeout=float(os.environ.get("SCALE_TIMEOUT", "1800")),
        retries=0,
    ).expand(export_id=[f"m-{i:04d}" for i in range(N)])
