"""A deferred wait whose vendor certificate stops being trusted while the task is deferred (the
test swaps the emulator's certificate for one from another CA once the worker's first poll is in,
as a newly deployed TLS-inspecting proxy would). ``timeout`` is long: a wait that took the failure
for a transient one would poll on for an hour.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_exports.sensors.export_status import ExportStatusSensor

#: The sensor's poll interval (seconds): the failure must come at the triggerer's first poll.
POKE_INTERVAL = 20

with DAG(dag_id="untrusted_wait", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    ExportStatusSensor(
        task_id="wait",
        conn_id="oracle_commerce_default",
        export_id="export-1",
        deferrable=True,
        poke_interval=POKE_INTERVAL,
        timeout=3600,
    )
