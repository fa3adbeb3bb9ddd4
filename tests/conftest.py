"""Test-wide setup: an isolated AIRFLOW_HOME with a migrated SQLite metadata DB, and a fixture
that runs a DAG on real Airflow (``dag.test()`` in a fresh interpreter).

The environment is set before anything imports Airflow, so in-process imports read this config.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_HOME = Path(os.environ.get("EXPORTS_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="exports-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "example_dags")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "example_dags"


@dataclass
class DagRunResult:
    """What a DAG run did: states, transitions, XCom values, and everything it printed."""

    state: str
    tasks: dict[str, str]
    transitions: dict[str, list[str]]
    xcom: dict[str, Any]
    variables: list[str]
    output: str
    returncode: int

    def return_value(self, task_id: str) -> Any:
        raw = self.xcom.get(f"{task_id}.return_value")
        return json.loads(raw) if isinstance(raw, str) and raw[:1] in '[{"' else raw


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the metadata DB of the test AIRFLOW_HOME once per session."""
    home = Path(os.environ["AIRFLOW_HOME"])
    proc = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return home


@pytest.fixture
def run_dag(airflow_db: Path, tmp_path: Path) -> Iterator[Any]:
    """Run an example DAG in a fresh interpreter with ``dag.test()``; returns a DagRunResult."""

    def _run(
        dag_id: str, env: Mapping[str, str], *, dag_file: str | None = None, timeout: float = 300
    ) -> DagRunResult:
        path = EXAMPLES / (dag_file or f"{dag_id}.py")  # an absolute dag_file is used as it is
        full_env = {**os.environ, "EXPORTS_DOWNLOAD_DIR": str(tmp_path / "downloads"), **env}
        proc = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "integration" / "dagrun.py"), str(path), dag_id],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            cwd=str(ROOT),
        )
        output = proc.stdout + "\n" + proc.stderr
        line = next(
            (ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("DAGRUN-RESULT ")), None
        )
        assert line is not None, f"DAG run printed no result (exit {proc.returncode}):\n{output[-6000:]}"
        data = json.loads(line[len("DAGRUN-RESULT ") :])
        return DagRunResult(
            state=data["state"],
            tasks=data["tasks"],
            transitions=data["transitions"],
            xcom=data["xcom"],
            variables=data["variables"],
            output=output,
            returncode=proc.returncode,
        )

    yield _run
