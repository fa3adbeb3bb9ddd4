"""Personium end to end: the example DAGs on real Airflow (dag.test, SQLite, deferrable sensor)
against the Personium cell emulator. The hook's own checks over loopback are in
tests/wire/test_personium_hook.py."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_exports.testing import Step
from airflow_provider_exports.testing.personium import PersoniumEmulator
from airflow_provider_exports.transport.auth import CREDENTIALS
from integration.expect import assert_exported, assert_failed_by_vendor, only_export

pytestmark = pytest.mark.integration

EXPORT_DAG = "personium_export"
IMPORT_DAG = "personium_import"
DAG_FILE = "personium_export.py"


@pytest.fixture(autouse=True)
def _fresh_credentials() -> None:
    CREDENTIALS.clear()


# ---- helpers -----------------------------------------------------------------------------------


def _env(emulator: PersoniumEmulator, conn: dict[str, Any] | None = None, **extra: str) -> dict[str, str]:
    return {
        "AIRFLOW_CONN_PERSONIUM_DEFAULT": json.dumps(conn or emulator.connection()),
        "EXPORTS_POKE_INTERVAL": "0.2",
        # A wait that goes wrong fails within a minute instead of hanging the suite.
        "EXPORTS_WAIT_TIMEOUT": "60",
        **extra,
    }


def _assert_no_secrets(emulator: PersoniumEmulator, result: Any) -> None:
    """Neither the password nor any token the cell issued is in output, XCom or the metadata DB."""
    secrets = emulator.secrets()
    assert emulator.tokens.issued >= 1 and emulator.password in secrets
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    haystacks = {
        "task, trigger and scheduler output": result.output,
        "xcom": json.dumps(result.xcom),
        "metadata database": db.read_bytes().decode("latin-1"),
    }
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a credential leaked into the {where}"


# ---- the export DAG ----------------------------------------------------------------------------


def test_export_success_deferred_and_downloaded(personium_emulator: PersoniumEmulator, run_dag: Any) -> None:
    result = run_dag(EXPORT_DAG, _env(personium_emulator), dag_file=DAG_FILE)

    export = assert_exported(result, personium_emulator, vendor_state="ready")
    name = export.export_id
    assert result.return_value("start_export") == name
    # The first answer was 'ready' before the export started: the wait went past it.
    assert "neither" in result.output and f"{name}.zip nor {name}.error" in result.output
    assert "vendor state 'exportation in progress', progress 45%" in result.output
    assert "waiting on __export" in result.output

    downloaded = Path(result.return_value("download_export"))
    assert downloaded.name == f"{name}.zip"
    assert downloaded.read_bytes() == personium_emulator.snapshots[f"{name}.zip"] == export.content
    assert f"snapshot {name}.zip is ready" in result.return_value("fetch_export_log")
    _assert_no_secrets(personium_emulator, result)


def test_export_failure_fails_with_personium_code_and_message(
    personium_emulator: PersoniumEmulator, run_dag: Any
) -> None:
    personium_emulator.script_next(
        Step("exportation in progress", 10),
        Step("exportation in progress", 60),
        Step("ready", code="PR503-SV-0001", message="Too many concurrent requests."),
    )
    result = run_dag(EXPORT_DAG, _env(personium_emulator), dag_file=DAG_FILE)

    name = assert_failed_by_vendor(result, personium_emulator, vendor_state="ready").export_id
    assert f"{name}.error" in personium_emulator.snapshots
    assert f"{name}.zip" not in personium_emulator.snapshots
    assert (
        f"Export {name!r} did not succeed, vendor state 'ready', code PR503-SV-0001: "
        "Too many concurrent requests." in result.output
    )
    assert "PR503-SV-0001" in result.return_value("fetch_export_log")
    _assert_no_secrets(personium_emulator, result)


def test_token_expiry_mid_wait_renewed_with_refresh_token(make_emulator: Any, run_dag: Any) -> None:
    emulator = make_emulator("personium", expire_tokens_on_poll=3)
    emulator.script_next(
        Step("exportation in progress", 10),
        Step("exportation in progress", 40),
        Step("exportation in progress", 70),
        Step("exportation in progress", 90),
        Step("ready"),
    )
    result = run_dag(EXPORT_DAG, _env(emulator), dag_file=DAG_FILE)

    assert result.state == "success", result.output[-4000:]
    assert "deferred" in result.transitions["wait_for_export"]
    assert emulator.status_polls > 3, "the wait went on after the tokens expired"
    after_expiry = [grant for grant, polls in emulator.grants if polls >= 3]
    assert after_expiry and after_expiry[0] == "refresh_token", emulator.grants
    assert "password" not in after_expiry, "renewed with the refresh token, not a new login"
    name = only_export(emulator).export_id
    assert Path(result.return_value("download_export")).read_bytes() == emulator.snapshots[f"{name}.zip"]
    _assert_no_secrets(emulator, result)


# ---- the import DAG ----------------------------------------------------------------------------


def _import_env(emulator: PersoniumEmulator, **extra: str) -> dict[str, str]:
    emulator.add_snapshot("CellExport_2017_01")
    return _env(emulator, PERSONIUM_IMPORT_SNAPSHOT="CellExport_2017_01", **extra)


def test_import_ready_before_start_is_not_success(
    personium_emulator: PersoniumEmulator, run_dag: Any
) -> None:
    personium_emulator.script_next(
        "ready",
        "ready",
        Step("importation in progress", 40),
        Step("importation in progress", 81),
        "ready",
    )
    result = run_dag(IMPORT_DAG, _import_env(personium_emulator), dag_file=DAG_FILE)

    assert result.state == "success", result.output[-4000:]
    assert "deferred" in result.transitions["wait_for_import"]
    job = personium_emulator.imports["CellExport_2017_01"]
    assert job.polls == 5, "success only on the 'ready' after the import was seen running"
    assert "import 'CellExport_2017_01' not seen yet" in result.output
    assert "waiting on __import" in result.output
    final = result.return_value("wait_for_import")
    assert final["status"] == "success" and final["vendor_state"] == "ready"
    _assert_no_secrets(personium_emulator, result)


def test_import_seen_by_the_first_poke_finishes_in_the_triggerer(
    personium_emulator: PersoniumEmulator, run_dag: Any
) -> None:
    # The sensor's own poll sees the import running; the triggerer's first poll sees 'ready'.
    personium_emulator.script_next(Step("importation in progress", 50), "ready")
    result = run_dag(IMPORT_DAG, _import_env(personium_emulator), dag_file=DAG_FILE)

    assert result.state == "success", result.output[-4000:]
    assert "deferred" in result.transitions["wait_for_import"]
    assert personium_emulator.imports["CellExport_2017_01"].polls == 2


def test_import_that_never_starts_times_out(personium_emulator: PersoniumEmulator, run_dag: Any) -> None:
    personium_emulator.script_next("ready")
    result = run_dag(IMPORT_DAG, _import_env(personium_emulator, EXPORTS_WAIT_TIMEOUT="2"), dag_file=DAG_FILE)

    assert result.tasks["wait_for_import"] == "failed"
    assert "AirflowSensorTimeout" in result.output
    assert "import 'CellExport_2017_01' not seen yet" in result.output
    assert personium_emulator.imports["CellExport_2017_01"].polls >= 3


def test_import_failure_fails_with_code_and_message(
    personium_emulator: PersoniumEmulator, run_dag: Any
) -> None:
    personium_emulator.script_next(
        Step("importation in progress", 30),
        Step("import failed", 81, code="PR409-OD-0003", message="The entity already exists."),
    )
    result = run_dag(IMPORT_DAG, _import_env(personium_emulator), dag_file=DAG_FILE)

    assert result.tasks["wait_for_import"] == "failed"
    assert (
        "Export 'CellExport_2017_01' did not succeed, vendor state 'import failed', "
        "code PR409-OD-0003: The entity already exists." in result.output
    )
    _assert_no_secrets(personium_emulator, result)


def test_earlier_import_failure_is_not_taken_for_this_run(
    personium_emulator: PersoniumEmulator, run_dag: Any
) -> None:
    # The cell still shows yesterday's failed import of the same snapshot; this run's import
    # then succeeds, which returns the cell to 'ready'.
    personium_emulator.fail_imports_as(
        "CellExport_2017_01", time.time() - 86400, "PR500-SV-0000", "Unknown error."
    )
    personium_emulator.script_next(
        Step("importation in progress", 50), Step("importation in progress", 90), "ready"
    )
    result = run_dag(IMPORT_DAG, _import_env(personium_emulator), dag_file=DAG_FILE)

    assert result.state == "success", result.output[-4000:]
    assert "earlier failed import" in result.output
    assert personium_emulator.import_error is None
