"""A DAG for ``[operators] default_deferrable``: each of the start operator and the sensor once
without a ``deferrable`` argument (Airflow's setting decides) and once with one (the argument
wins). ``EXPLICIT_DEFERRABLE`` ("True" / "False") is the argument the second task of each pair
gets. Every task waits on its own export, so no wait finds another's export already finished.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import DAG

from airflow_provider_exports.operators import StartExportOperator
from airflow_provider_exports.sensors.export_status import ExportStatusSensor

CONN_ID = "oracle_commerce_default"
EXPLICIT = os.environ["EXPLICIT_DEFERRABLE"] == "True"


def payload(task_id: str) -> dict[str, Any]:
    """An OCC bundle export whose file name names the task."""
    return {"mode": "bundle", "fileName": f"{task_id}.zip", "items": [{"id": "Profiles"}]}


with DAG(dag_id="default_deferrable", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    StartExportOperator(
        task_id="start_default",
        conn_id=CONN_ID,
        payload=payload("start_default"),
        wait_for_completion=True,
        poll_interval=0.2,
    )
    StartExportOperator(
        task_id="start_explicit",
        conn_id=CONN_ID,
        payload=payload("start_explicit"),
        wait_for_completion=True,
        poll_interval=0.2,
        deferrable=EXPLICIT,
    )
    for name, kwargs in (("default", {}), ("explicit", {"deferrable": EXPLICIT})):
        started = StartExportOperator(
            task_id=f"start_for_wait_{name}", conn_id=CONN_ID, payload=payload(f"wait_{name}")
        )
        started >> ExportStatusSensor(
            task_id=f"wait_{name}",
            conn_id=CONN_ID,
            export_id=started.output,
            poke_interval=0.2,
            timeout=120,
            **kwargs,
        )
