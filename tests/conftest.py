"""Test-wide setup. The isolated Airflow (home, migrated SQLite DB, DAG folder) is the shipped
pytest plugin's ``airflow_env`` (airflow_provider_exports/testing/pytest_plugin.py); this file
points its DAG folder at example_dags/ and keeps the integration tests' ``run_dag(dag_id, env)``
call form on top of the plugin's runner.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from airflow_provider_exports.testing.pytest_plugin import AirflowEnv
from airflow_provider_exports.testing.runner import DagRunResult

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "example_dags"


@pytest.fixture(scope="session")
def airflow_dags_folder() -> Path:
    """The example DAGs are this repository's DAG folder."""
    return EXAMPLES


@pytest.fixture(scope="session")
def airflow_db(_airflow_template_db: Path) -> Path:
    """The session's Airflow home (``AIRFLOW_HOME``, with the metadata DB the plugin migrated),
    for tests that start Airflow processes themselves and share one DB."""
    return _airflow_template_db.parent


@pytest.fixture
def run_dag(airflow_env: AirflowEnv, tmp_path: Path) -> Callable[..., DagRunResult]:
    """Run an example DAG (or ``dag_file``) with ``dag.test()`` in a fresh interpreter, with
    ``env`` added and downloads under the test's tmp_path."""

    def _run(
        dag_id: str, env: Mapping[str, str], *, dag_file: str | None = None, timeout: float = 300
    ) -> DagRunResult:
        path = EXAMPLES / (dag_file or f"{dag_id}.py")  # an absolute dag_file is used as it is
        return airflow_env.run_dag(
            dag_id,
            dag_file=path,
            env={"EXPORTS_DOWNLOAD_DIR": str(tmp_path / "downloads"), **env},
            timeout=timeout,
        )

    return _run
