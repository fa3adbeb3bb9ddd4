"""A DAG for the test kit's own tests: the run's conf and logical date, a retried task, a mapped
task, a Variable, a task that fails with a known exception, each task printing its own marker."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Variable, get_current_context, task

with DAG(dag_id="kit_features", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:

    @task
    def read_conf() -> dict[str, Any]:
        context = get_current_context()
        print("MARK-read_conf")
        return {"conf": dict(context["dag_run"].conf or {}), "ds": context["ds"]}

    @task(retries=1, retry_delay=timedelta(seconds=0))
    def flaky() -> str:
        try_number = get_current_context()["ti"].try_number
        print(f"MARK-flaky try {try_number}")
        if try_number == 1:
            raise ConnectionError("first try fails")
        Variable.set("kit_features_flaky", "done")
        return "second try"

    @task
    def square(n: int) -> int:
        print(f"MARK-square {n}")
        return n * n

    @task
    def explode(squares: list[int]) -> None:
        print("MARK-explode")
        raise ValueError(f"boom after {sorted(squares)}")

    read_conf() >> flaky() >> explode(square.expand(n=[2, 3]))
