"""The shipped ``airflow_env`` and ``run_dag`` fixtures on real Airflow: what a DagRunResult
reports (conf, logical date, try numbers, mapped tasks, XComs, per-task logs, a failed task's
exception, Variables), that each test's Airflow is its own, and a clear error for a DAG that is not
there. The vendor side (deferrals, emulators) is covered by tests/integration and the user
project of docs/testing.md (scripts/check_package.py --user-project).
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_exports.testing import DagRunError
from airflow_provider_exports.testing.pytest_plugin import AirflowEnv

DAGS = Path(__file__).with_name("dags")
pytestmark = pytest.mark.integration
#: The metadata DB of test_a_run_reports_every_task, for the isolation test after it.
RAN_IN: list[Path] = []


def _kit_dag() -> Any:
    spec = importlib.util.spec_from_file_location("kit_features", DAGS / "kit_features.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def test_a_run_reports_every_task(airflow_env: AirflowEnv) -> None:
    # A DAG object: its file is what runs.
    result = airflow_env.run_dag(_kit_dag(), conf={"full": True}, logical_date="2026-03-01T06:00:00")
    RAN_IN.append(airflow_env.database)

    assert result.state == "failed", result
    assert result.tasks == {
        "explode": "failed",
        "flaky": "success",
        "read_conf": "success",
        "square[0]": "success",
        "square[1]": "success",
    }
    assert result.return_value("read_conf") == {"conf": {"full": True}, "ds": "2026-03-01"}
    assert result.try_numbers["flaky"] == 2 and result.try_numbers["read_conf"] == 1
    assert "up_for_retry" in result.transitions["flaky"]
    assert result.return_value("flaky") == "second try"
    assert [result.return_value("square", i) for i in (0, 1)] == [4, 9]
    assert result.xcom["square[1].return_value"] == 9
    assert result.variables["kit_features_flaky"] == "done"

    error = result.error("explode")
    assert error is not None and (error.type, error.module) == ("ValueError", "builtins")
    assert error.message == "boom after [4, 9]"
    assert result.failed == {"explode": error}
    assert result.error("flaky") is None  # its last try succeeded
    assert [str(e) for e in result.task("flaky").errors] == ["ConnectionError: first try fails"]
    # Each task's log holds its own lines, all tries, and no other task's.
    assert "MARK-flaky try 1" in result.log("flaky") and "MARK-flaky try 2" in result.log("flaky")
    assert "first try fails" in result.log("flaky")
    assert "MARK-square 3" in result.log("square", 1) and "MARK-square 2" not in result.log("square", 1)
    assert "MARK-explode" in result.log("explode") and "MARK-read_conf" not in result.log("explode")
    assert result.deferrals == ()
    assert "explode: failed (try 1) -- ValueError: boom after [4, 9]" in str(result)
    with pytest.raises(KeyError, match="no task 'nope' in the run of 'kit_features'; tasks: "):
        result.task("nope")


def test_each_test_has_its_own_airflow(airflow_env: AirflowEnv, airflow_dags_folder: Path) -> None:
    if not RAN_IN:
        pytest.skip("needs test_a_run_reports_every_task to have run first")
    # The run of the test above wrote a Variable into its DB; this test's copy has none.
    (earlier,) = RAN_IN
    assert earlier != airflow_env.database
    with sqlite3.connect(earlier) as db:
        assert db.execute("select key from variable").fetchall() == [("kit_features_flaky",)]
    with sqlite3.connect(airflow_env.database) as db:
        assert db.execute("select count(*) from variable").fetchone() == (0,)
        assert db.execute("select count(*) from alembic_version").fetchone() == (1,)
    assert os.environ["AIRFLOW_HOME"] == str(airflow_env.home)
    assert os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{airflow_env.database}"
    assert os.environ["AIRFLOW__CORE__DAGS_FOLDER"] == str(airflow_dags_folder)
    assert airflow_env.home != Path.home() / "airflow"


def test_a_dag_that_is_not_there_is_a_clear_error(airflow_env: AirflowEnv) -> None:
    with pytest.raises(
        DagRunError,
        match=r"DAG 'no_such_dag' not found in .*kit_features\.py \(DAGs there: \['kit_features'\]\)",
    ):
        airflow_env.run_dag("no_such_dag", dag_file=DAGS / "kit_features.py")
