"""pytest fixtures: an isolated Airflow, a DAG runner, vendor emulators on loopback and
connections pointing at them.

Installed as a pytest plugin with the package, so a user's DAG tests can write::

    def test_my_dag(occ_emulator, export_conn, run_dag):
        export_conn(occ_emulator, "oracle_commerce_default")   # AIRFLOW_CONN_... for this test
        result = run_dag("my_export")
        assert result.state == "success"

From the start of the pytest run, ``AIRFLOW_HOME`` points at a temporary folder (never the
developer's own home), so an Airflow imported by a test reads no real configuration or DB.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_exports.testing import emulator_class
from airflow_provider_exports.testing.emulator import Emulator
from airflow_provider_exports.testing.runner import DagRunResult, RunningDag
from airflow_provider_exports.testing.runner import run_dag as _run_dag
from airflow_provider_exports.testing.runner import start_dag as _start_dag
from airflow_provider_exports.vendors import VENDORS

#: Set to a folder to keep the test Airflow home there (it is then not deleted).
HOME_VARIABLE = "EXPORTS_TEST_AIRFLOW_HOME"
_STATE: dict[str, Any] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "airflow_dags_folder",
        "the DAG folder the airflow_env fixture gives Airflow, relative to the rootdir (default: dags)",
        default="dags",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Point Airflow at a temporary home before any test module imports it."""
    kept = os.environ.get(HOME_VARIABLE)
    home = Path(kept) if kept else Path(tempfile.mkdtemp(prefix="exports-airflow-home-"))
    home.mkdir(parents=True, exist_ok=True)
    dags = _dags_folder(config)
    saved = {name: os.environ.get(name) for name in _session_env(home, dags)}
    _STATE.update(home=home, remove=not kept, saved=saved, dags=dags)
    os.environ.update(_session_env(home, dags))


def _dags_folder(config: pytest.Config) -> Path:
    """The ``airflow_dags_folder`` ini option under the rootdir; without the option, ``dags``
    under the rootdir, else under the folder pytest was started in."""
    name = str(config.getini("airflow_dags_folder"))
    folder = Path(str(config.rootpath)) / name
    if folder.is_dir() or config.inicfg.get("airflow_dags_folder") is not None:
        return folder
    started_in = Path(str(config.invocation_params.dir)) / name
    return started_in if started_in.is_dir() else folder


def pytest_unconfigure(config: pytest.Config) -> None:
    saved: dict[str, str | None] = _STATE.pop("saved", {})
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if _STATE.pop("remove", False):
        shutil.rmtree(_STATE["home"], ignore_errors=True)


def _session_env(home: Path, dags: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }


@dataclass(frozen=True)
class AirflowEnv:
    """An isolated Airflow for one test: its home, metadata DB and DAG folder."""

    home: Path
    database: Path
    dags_folder: Path
    #: The variables set for the test (the home, the DB, the DAG folder, no example DAGs).
    env: Mapping[str, str]

    def run_dag(
        self,
        dag: Any,
        *,
        conf: Mapping[str, Any] | None = None,
        logical_date: datetime | str | None = None,
        dag_file: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 600.0,
    ) -> DagRunResult:
        """Run a DAG in this Airflow (see :func:`airflow_provider_exports.testing.runner.run_dag`)."""
        return _run_dag(
            dag,
            conf=conf,
            logical_date=logical_date,
            dag_file=dag_file,
            env={**self.env, **(env or {})},
            timeout=timeout,
        )

    def start_dag(
        self,
        dag: Any,
        *,
        conf: Mapping[str, Any] | None = None,
        logical_date: datetime | str | None = None,
        dag_file: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> RunningDag:
        """Start a DAG run in this Airflow without waiting (see
        :func:`airflow_provider_exports.testing.runner.start_dag`)."""
        return _start_dag(
            dag, conf=conf, logical_date=logical_date, dag_file=dag_file, env={**self.env, **(env or {})}
        )


@pytest.fixture(scope="session")
def airflow_dags_folder() -> Path:
    """The DAG folder of the tests' Airflow: the ``airflow_dags_folder`` ini option (default
    ``dags`` under the rootdir). Override this fixture to use another one."""
    dags: Path = _STATE["dags"]
    return dags


@pytest.fixture(scope="session")
def _airflow_template_db() -> Path:
    """The metadata DB, migrated once per pytest run; tests get copies."""
    home: Path = _STATE["home"]
    template = home / "airflow.db.template"
    database = home / "airflow.db"
    # Also on a kept home (EXPORTS_TEST_AIRFLOW_HOME): an existing DB is brought up to date.
    proc = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        env={**os.environ, **_session_env(home, _STATE["dags"])},
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    shutil.copyfile(database, template)
    return template


@pytest.fixture
def airflow_env(
    _airflow_template_db: Path,
    airflow_dags_folder: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> AirflowEnv:
    """An isolated Airflow for this test: its own home and a fresh copy of the migrated SQLite
    metadata DB (migrated once per pytest run), the DAG folder of ``airflow_dags_folder``, no
    example DAGs. The variables are set for the test and undone after it."""
    home = tmp_path_factory.mktemp("airflow-home")
    database = home / "airflow.db"
    shutil.copyfile(_airflow_template_db, database)
    env = {**_session_env(home, airflow_dags_folder)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return AirflowEnv(home=home, database=database, dags_folder=airflow_dags_folder, env=env)


@pytest.fixture
def run_dag(airflow_env: AirflowEnv) -> Callable[..., DagRunResult]:
    """Run a DAG in the test's Airflow: ``run_dag("my_dag", conf={...}, logical_date=...)`` or
    ``run_dag(dag)``; returns a :class:`~airflow_provider_exports.testing.runner.DagRunResult`."""
    return airflow_env.run_dag


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Emulator]]:
    """Start an emulator for a connection type (``make_emulator("personium", token_ttl=5)``);
    every emulator started is stopped after the test."""
    started: list[Emulator] = []

    def _make(conn_type: str, **kwargs: Any) -> Emulator:
        emulator = emulator_class(conn_type)(**kwargs).start()
        started.append(emulator)
        return emulator

    yield _make
    for emulator in started:
        emulator.stop()


def _vendor_fixture(conn_type: str, doc: str) -> Any:
    @pytest.fixture
    def _fixture(make_emulator: Callable[..., Emulator]) -> Emulator:
        return make_emulator(conn_type)

    _fixture.__doc__ = doc
    return _fixture


# One fixture per vendor (occ_emulator, iics_emulator, personium_emulator, dataarts_emulator,
# workspace_emulator), named in vendors.VENDORS.
for _vendor in VENDORS:
    globals()[_vendor.fixture] = _vendor_fixture(
        _vendor.conn_type, f"A {_vendor.hook_name} emulator on 127.0.0.1."
    )


@pytest.fixture
def export_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Define an Airflow connection to an emulator via ``AIRFLOW_CONN_*``; returns its id.

    Keyword arguments override connection fields (``password="wrong"``) or, with ``extra=``,
    the extras.
    """

    def _define(emulator: Emulator, conn_id: str | None = None, **overrides: Any) -> str:
        conn_id = conn_id or f"{emulator.vendor}_test"
        name, _ = emulator.connection_env(conn_id)
        conn = emulator.connection()
        if "extra" in overrides:
            conn["extra"] = {**conn.get("extra", {}), **overrides.pop("extra")}
        monkeypatch.setenv(name, json.dumps({**conn, **overrides}))
        return conn_id

    return _define
