"""Personium end to end: the example DAGs on real Airflow (dag.test, SQLite, deferrable sensor)
and the hook over loopback HTTP, both against the Personium cell emulator."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_exports.errors import (
    ExportAuthError,
    ExportConfigError,
    ExportRequestError,
    ExportResponseError,
)
from airflow_provider_exports.hooks.personium import PersoniumHook
from airflow_provider_exports.status import ExportState
from airflow_provider_exports.testing import Fault, Step
from airflow_provider_exports.testing.personium import PersoniumEmulator
from airflow_provider_exports.transport import RetryPolicy
from airflow_provider_exports.transport.auth import CREDENTIALS
from airflow_provider_exports.transport.sync import CHUNK

pytestmark = pytest.mark.integration

EXPORT_DAG = "personium_export"
IMPORT_DAG = "personium_import"
DAG_FILE = "personium_export.py"
FAST = RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.05)


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


def _only_export(emulator: PersoniumEmulator) -> Any:
    assert len(emulator.exports) == 1, "the DAG must start exactly one export"
    return next(iter(emulator.exports.values()))


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


def _hook(emulator: PersoniumEmulator, conn: dict[str, Any] | None = None, **options: Any) -> PersoniumHook:
    fields = dict(conn or emulator.connection())
    extra = fields.pop("extra", None)
    connection = Connection(conn_id="personium_test", extra=json.dumps(extra) if extra else None, **fields)
    return PersoniumHook("personium_test", connection=connection, retry_policy=FAST, **options)


def _wait(hook: PersoniumHook, name: str, polls: int = 20) -> Any:
    for _ in range(polls):
        status = hook.get_status(name)
        if status.is_terminal:
            return status
    raise AssertionError(f"not finished after {polls} polls: {status.describe()}")


# ---- the export DAG ----------------------------------------------------------------------------


def test_export_success_deferred_and_downloaded(personium_emulator: PersoniumEmulator, run_dag: Any) -> None:
    result = run_dag(EXPORT_DAG, _env(personium_emulator), dag_file=DAG_FILE)

    assert result.state == "success", result.output[-4000:]
    assert result.tasks == {
        "start_export": "success",
        "wait_for_export": "success",
        "download_export": "success",
        "fetch_export_log": "success",
    }
    assert "deferred" in result.transitions["wait_for_export"], result.transitions
    export = _only_export(personium_emulator)
    name = export.export_id
    assert result.return_value("start_export") == name
    final = result.return_value("wait_for_export")
    assert final["status"] == "success" and final["vendor_state"] == "ready"
    assert final["export_id"] == name
    # The first answer was 'ready' before the export started: the wait went past it.
    assert "neither" in result.output and f"{name}.zip nor {name}.error" in result.output
    assert "vendor state 'exportation in progress', progress 45%" in result.output
    assert "waiting on __export" in result.output

    downloaded = Path(result.return_value("download_export"))
    assert downloaded.name == f"{name}.zip"
    assert downloaded.read_bytes() == personium_emulator.snapshots[f"{name}.zip"] == export.content
    assert not [p for p in downloaded.parent.iterdir() if p.name.endswith(".part")]
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

    assert result.state == "failed"
    assert result.tasks["wait_for_export"] == "failed"
    assert result.tasks["download_export"] == "upstream_failed"
    assert result.tasks["fetch_export_log"] == "success"
    name = _only_export(personium_emulator).export_id
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
    name = _only_export(emulator).export_id
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


# ---- the hook over loopback HTTP ---------------------------------------------------------------


def test_existing_snapshot_name_is_a_clear_error_and_not_overwritten(
    personium_emulator: PersoniumEmulator,
) -> None:
    original = personium_emulator.add_snapshot("CellExport_2017_01")
    hook = _hook(personium_emulator)
    with pytest.raises(ExportRequestError) as err:
        hook.start_export({"Name": "CellExport_2017_01"})
    assert err.value.status == 409 and err.value.code == "PR409-DV-0002"
    assert "File [CellExport_2017_01.zip] already exists." in str(err.value)
    assert "choose another Name" in str(err.value)
    assert personium_emulator.snapshots["CellExport_2017_01.zip"] == original
    assert not personium_emulator.exports


def test_leftover_error_file_refuses_a_new_export_of_that_name(personium_emulator: PersoniumEmulator) -> None:
    personium_emulator.snapshots["Nightly.error"] = json.dumps(
        {"code": "PR503-SV-0001", "message": {"lang": "en", "value": "Too many concurrent requests."}}
    ).encode()
    with pytest.raises(ExportConfigError, match=r"Nightly\.error .*Too many concurrent requests"):
        _hook(personium_emulator).start_export({"Name": "Nightly"})
    assert not personium_emulator.requests_to("/cell1/__export")


def test_named_export_runs_and_downloads(personium_emulator: PersoniumEmulator) -> None:
    hook = _hook(personium_emulator)
    assert hook.start_export({"Name": "CellExport_2017_01"}) == "CellExport_2017_01"
    posted = personium_emulator.requests_to("/cell1/__export")[0]
    assert json.loads(posted.body) == {"Name": "CellExport_2017_01"}
    assert _wait(hook, "CellExport_2017_01").is_success
    sink = io.BytesIO()
    assert hook.download("CellExport_2017_01", sink) == len(sink.getvalue())
    assert sink.getvalue() == personium_emulator.snapshots["CellExport_2017_01.zip"]


def test_request_key_goes_on_every_call(personium_emulator: PersoniumEmulator) -> None:
    conn = {**personium_emulator.connection(), "extra": {"request_key": "airflow_run-42"}}
    hook = _hook(personium_emulator, conn)
    name = hook.start_export({})
    _wait(hook, name)
    hook.download(name, io.BytesIO())
    keys = {r.headers.get("X-Personium-RequestKey") for r in personium_emulator.requests}
    assert keys == {"airflow_run-42"}, "token, start, status, PROPFIND and download all carry it"
    # hook_params override the connection's key.
    other = _hook(personium_emulator, conn, request_key="task_B")
    other.get_status(name)
    assert personium_emulator.requests[-1].headers["X-Personium-RequestKey"] == "task_B"


@pytest.mark.parametrize(
    ("key", "problem"),
    [("k" * 129, "it has 129 characters"), ("run:2026-01-01T00:00+00:00", "it contains '+:'")],
)
def test_bad_request_key_is_refused_before_any_call(
    personium_emulator: PersoniumEmulator, key: str, problem: str
) -> None:
    conn = {**personium_emulator.connection(), "extra": {"request_key": key}}
    with pytest.raises(ExportConfigError, match="1-128 characters") as err:
        _hook(personium_emulator, conn).get_status("CellExport_2017_01")
    assert problem in str(err.value)
    with pytest.raises(ExportConfigError, match="1-128 characters"):
        _hook(personium_emulator, request_key=key)
    assert not personium_emulator.requests


@pytest.mark.parametrize("bad_id", ["../__token", "a/b", "x%2F..", "..", "", "CellExport.zip"])
def test_ids_that_could_change_the_path_are_refused(
    personium_emulator: PersoniumEmulator, bad_id: str
) -> None:
    hook = _hook(personium_emulator)
    for call in (hook.get_status, lambda i: hook.download(i, io.BytesIO()), hook.fetch_log):
        with pytest.raises(ExportConfigError, match="is not a snapshot name"):
            call(bad_id)
    if bad_id:  # an empty Name means "pick one", which is not an error
        with pytest.raises(ExportConfigError, match="is not a snapshot name"):
            hook.start_export({"Name": bad_id})
    assert not [r for r in personium_emulator.requests if r.path != "/cell1/__token"]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            Fault(
                "body", body="<!DOCTYPE html><html><body>Maintenance</body></html>", content_type="text/html"
            ),
            "expected JSON, got an HTML page",
        ),
        (
            Fault("body", body='{"status": "ready"', content_type="application/json"),
            "expected JSON, got malformed JSON",
        ),
        (
            Fault("body", body='{"progress": "81%"}', content_type="application/json"),
            "no 'status' in the answer",
        ),
    ],
)
def test_unreadable_status_answers_are_clear_errors(
    personium_emulator: PersoniumEmulator, fault: Fault, expected: str
) -> None:
    personium_emulator.inject(dataclasses.replace(fault, path_prefix="/cell1/__export", method="GET"))
    with pytest.raises(ExportResponseError, match=expected):
        _hook(personium_emulator).get_status("CellExport_2017_01")


def test_throttling_and_dropped_connections_are_retried(personium_emulator: PersoniumEmulator) -> None:
    hook = _hook(personium_emulator)
    name = hook.start_export({})
    personium_emulator.inject(
        Fault(
            "status", status=429, headers={"Retry-After": "0"}, path_prefix="/cell1/__export", method="GET"
        ),
        Fault("status", status=503, path_prefix="/cell1/__export", method="GET"),
        Fault("drop", path_prefix="/cell1/__snapshot", method="PROPFIND"),
    )
    assert _wait(hook, name).is_success
    assert not personium_emulator.faults, "every fault was served"


def test_download_cut_half_way_is_resumed(personium_emulator: PersoniumEmulator) -> None:
    data = personium_emulator.add_snapshot("Big", os.urandom(CHUNK * 2 + 12_345))
    personium_emulator.inject(
        Fault("truncate", after_bytes=CHUNK + 500, path_prefix="/cell1/__snapshot/Big.zip", method="GET")
    )
    sink = io.BytesIO()
    assert _hook(personium_emulator).download("Big", sink) == len(data)
    assert sink.getvalue() == data
    gets = [r for r in personium_emulator.requests_to("/cell1/__snapshot/Big.zip") if r.method == "GET"]
    # The first whole chunk was kept; the rest came with Range.
    assert [r.headers.get("Range") for r in gets] == [None, f"bytes={CHUNK}-"]


def test_download_of_a_failed_export_says_why(personium_emulator: PersoniumEmulator) -> None:
    personium_emulator.script_next(
        Step("exportation in progress", 5), Step("ready", code="PR500-SV-0000", message="Disk full.")
    )
    hook = _hook(personium_emulator)
    name = hook.start_export({})
    status = _wait(hook, name)
    assert status.state is ExportState.FAILED and status.error_code == "PR500-SV-0000"
    with pytest.raises(ExportRequestError, match=r"not available .*code PR500-SV-0000, message: Disk full\."):
        hook.download(name, io.BytesIO())


def test_token_from_the_connection_is_renewed_with_its_refresh_token(
    personium_emulator: PersoniumEmulator,
) -> None:
    conn = personium_emulator.token_connection()
    hook = _hook(personium_emulator, conn)
    assert hook.get_status("CellExport_2017_01").state is ExportState.PENDING
    assert personium_emulator.grants == [], "the connection's access token was used as it is"
    personium_emulator.tokens.expire_all()
    assert hook.get_status("CellExport_2017_01").state is ExportState.PENDING
    assert [grant for grant, _ in personium_emulator.grants] == ["refresh_token"]
    form = personium_emulator.requests_to("/cell1/__token")[0].body.decode()
    assert "grant_type=refresh_token" in form and "password" not in form


def test_rejected_token_without_a_way_to_renew_is_a_clear_error(
    personium_emulator: PersoniumEmulator,
) -> None:
    conn = personium_emulator.token_connection()
    conn["extra"]["refresh_token"] = "RA~not-a-token-we-issued-123"
    hook = _hook(personium_emulator, conn)
    personium_emulator.tokens.expire_all()
    with pytest.raises(ExportAuthError) as err:
        hook.get_status("CellExport_2017_01")
    text = str(err.value)
    assert "could not be renewed" in text and "PR400-AN-0010" in text
    for secret in (*personium_emulator.secrets(), "RA~not-a-token-we-issued-123"):
        assert secret not in text


def test_token_near_expiry_is_renewed_before_use(make_emulator: Any) -> None:
    # A 2-second token is renewed once three quarters of its life are gone, not on every call.
    emulator = make_emulator("personium", token_ttl=2)
    hook = _hook(emulator)
    hook.get_status("CellExport_2017_01")
    hook.get_status("CellExport_2017_01")
    assert [grant for grant, _ in emulator.grants] == ["password"]
    time.sleep(1.6)
    hook.get_status("CellExport_2017_01")
    assert [grant for grant, _ in emulator.grants] == ["password", "refresh_token"]
    statuses = [r for r in emulator.requests if r.path == "/cell1/__export"]
    assert statuses[1].headers["Authorization"] != statuses[2].headers["Authorization"]
    assert all(r.headers.get("Authorization") for r in statuses)


def test_wrong_password_is_reported_without_the_password(personium_emulator: PersoniumEmulator) -> None:
    conn = {**personium_emulator.connection(), "password": "wrong-password-4711"}
    hook = _hook(personium_emulator, conn)
    with pytest.raises(ExportAuthError) as err:
        hook.get_status("CellExport_2017_01")
    assert err.value.code == "PR400-AN-0017" and "wrong username or password" in str(err.value)
    ok, message = _hook(personium_emulator, conn).test_connection()
    assert not ok and "PR400-AN-0017" in message
    assert "wrong-password-4711" not in str(err.value) + message
    assert _hook(personium_emulator).test_connection() == (
        True,
        "Connected to the Personium cell: __export says 'ready'.",
    )


def test_connection_without_credentials_is_a_config_error(personium_emulator: PersoniumEmulator) -> None:
    conn = {"conn_type": "personium", "host": personium_emulator.cell_url}
    with pytest.raises(ExportConfigError, match="needs a username and password, or an access_token"):
        _hook(personium_emulator, conn).get_status("CellExport_2017_01")


def test_import_memory_travels_to_the_triggerer_and_async_path_agrees(
    personium_emulator: PersoniumEmulator,
) -> None:
    personium_emulator.add_snapshot("CellExport_2017_01")
    personium_emulator.script_next(Step("importation in progress", 81), "ready")
    hook = _hook(personium_emulator, job="import")
    assert hook.start_export({"Name": "CellExport_2017_01"}) == "CellExport_2017_01"
    running = hook.get_status("CellExport_2017_01")
    assert running.state is ExportState.RUNNING and running.progress == 81
    params = hook.trigger_hook_params()
    assert params == {"job": "import", "observed_imports": ["CellExport_2017_01"]}

    fresh = _hook(personium_emulator, job="import")
    later = _hook(personium_emulator, **params)
    assert asyncio.run(later.aget_status("CellExport_2017_01")).is_success
    # A hook that did not see the import start cannot tell 'finished' from 'not started'.
    assert asyncio.run(fresh.aget_status("CellExport_2017_01")).state is ExportState.PENDING
    text = json.dumps(params)
    for secret in personium_emulator.secrets():
        assert secret not in text
