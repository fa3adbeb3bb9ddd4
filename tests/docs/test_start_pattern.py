"""The README's snippet and every example DAG show the safe start pattern (issue 17): the start
task has retries and adopts the export an earlier try started, so one dropped connection on the
start call does not fail the DAG run. The README's Python block is run as written."""

from __future__ import annotations

import importlib.util
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_exports.operators import StartExportOperator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "example_dags").glob("*.py"))


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, re.S | re.M)


def _start_tasks(dag: Any) -> list[StartExportOperator]:
    return [t for t in dag.tasks if isinstance(t, StartExportOperator)]


def _assert_safe(task: StartExportOperator) -> None:
    assert task.retries >= 1, f"{task.dag_id}.{task.task_id}: no retries on the start task"
    assert task.adopt_running_export, f"{task.dag_id}.{task.task_id}: adoption turned off"


def test_the_readme_snippet_runs_and_retries_its_start() -> None:
    (snippet,) = _python_blocks((ROOT / "README.md").read_text())
    with DAG(dag_id="readme_snippet", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        exec(compile(snippet, "README.md", "exec"), {})
    (start,) = _start_tasks(dag)
    _assert_safe(start)
    assert {t.task_id for t in dag.tasks} == {"start", "wait", "fetch", "log"}
    assert dag.task_dict["log"].trigger_rule == "all_done"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_start_task_retries_and_adopts(path: Path) -> None:
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dags = [v for v in vars(module).values() if isinstance(v, DAG)]
    starts = [task for dag in dags for task in _start_tasks(dag)]
    if path.stem.endswith("_watch"):
        # Event-driven examples (docs/event_driven.md) start nothing: an asset watcher notices
        # exports started elsewhere.
        assert not starts, path.name
        for dag in dags:
            watchers = [w for asset in dag.timetable.asset_condition.objects for w in asset.watchers]
            assert any(type(w.trigger).__name__ == "ExportAvailableTrigger" for w in watchers), dag.dag_id
        return
    assert starts, f"{path.name} has no StartExportOperator"
    for task in starts:
        _assert_safe(task)
