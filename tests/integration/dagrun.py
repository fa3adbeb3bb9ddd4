"""Run one DAG with ``dag.test()`` on real Airflow and print what happened as JSON.

Used by the integration tests in a subprocess (so each run gets a fresh interpreter, like
``airflow dags test``). Prints ``DAGRUN-RESULT {...}`` as its last line: the run's state, every
task's state transitions (observed on the TaskInstance model), and each task's return value.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import Any


def main(dag_file: str, dag_id: str) -> None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import event

    transitions: dict[str, list[str]] = {}

    @event.listens_for(TaskInstance.state, "set")
    def _record(target: Any, value: Any, old: Any, initiator: Any) -> None:
        if value is not None:
            seen = transitions.setdefault(target.task_id, [])
            text = str(getattr(value, "value", value))
            if not seen or seen[-1] != text:
                seen.append(text)

    spec = importlib.util.spec_from_file_location(f"dag_under_test_{dag_id}", dag_file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = next(
        v for v in vars(module).values() if getattr(v, "dag_id", None) == dag_id and hasattr(v, "test")
    )
    run = dag.test()
    result: dict[str, Any] = {"state": str(getattr(run.state, "value", run.state)), "run_id": run.run_id}
    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run.run_id).all()
        result["tasks"] = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in tis}
        xcoms = session.query(XComModel).filter_by(dag_id=dag_id, run_id=run.run_id).all()
        result["xcom"] = {f"{x.task_id}.{x.key}": x.value for x in xcoms}
        from airflow.models.variable import Variable

        result["variables"] = [v.key for v in session.query(Variable).all()]
    result["transitions"] = transitions
    print("DAGRUN-RESULT " + json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
