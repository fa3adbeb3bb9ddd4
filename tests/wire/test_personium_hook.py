"""The Personium hook against the cell emulator over loopback, both runners (requests; aiohttp
inside one pooled session, as the triggerer runs).

Export and import lifecycles (start, statuses to success, snapshot download, log), a failed
export's ``.error`` code and message, token renewal, and the hook-level checks that used to live
beside the DAG runs in tests/integration/test_personium_dag.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from wire_support import RUNNERS, poll_status, poll_statuses, wire_hook

from airflow_provider_exports.errors import (
    ExportAuthError,
    ExportConfigError,
    ExportRequestError,
    ExportResponseError,
)
from airflow_provider_exports.hooks.base import ExportHook
from airflow_provider_exports.status import ExportState, ExportStatus
from airflow_provider_exports.testing import Fault, Step
from airflow_provider_exports.testing.personium import PersoniumEmulator
from airflow_provider_exports.transport.sync import CHUNK

RUNNING = "exportation in progress"


def _hook(emulator: PersoniumEmulator, conn: dict[str, Any] | None = None, **options: Any) -> ExportHook:
    return wire_hook(emulator, "personium_wire", fields=conn, hook_params=options)


def _wait(hook: ExportHook, name: str) -> ExportStatus:
    seen = poll_statuses(hook, name, "requests")
    assert seen[-1].is_terminal, f"not finished after {len(seen)} polls: {seen[-1].describe()}"
    return seen[-1]


def _grants(emulator: PersoniumEmulator) -> list[str]:
    return [grant for grant, _ in emulator.grants]


# ---- lifecycle ---------------------------------------------------------------------------------


@RUNNERS
def test_an_export_runs_to_success_then_downloads_and_logs(
    personium_emulator: PersoniumEmulator, runner: str
) -> None:
    hook = _hook(personium_emulator)
    assert hook.start_export({"Name": "Nightly_01"}) == "Nightly_01"
    (posted,) = [r for r in personium_emulator.requests_to("/cell1/__export") if r.method == "POST"]
    assert json.loads(posted.body) == {"Name": "Nightly_01"}
    assert personium_emulator.requests_to("/cell1/__export") == [posted], "no status call before the start"

    # The emulator's default script: 'ready' before the export starts, then running, then ready.
    seen = poll_statuses(hook, "Nightly_01", runner)
    assert [(s.vendor_state, s.state, s.progress) for s in seen] == [
        ("ready", ExportState.PENDING, None),
        (RUNNING, ExportState.RUNNING, 0),
        (RUNNING, ExportState.RUNNING, 45),
        (RUNNING, ExportState.RUNNING, 100),
        ("ready", ExportState.SUCCEEDED, 100),
    ]
    assert "neither Nightly_01.zip nor Nightly_01.error" in (seen[0].message or "")
    snapshot = personium_emulator.snapshots["Nightly_01.zip"]
    assert seen[-1].message == f"snapshot Nightly_01.zip is ready ({len(snapshot)} bytes)"

    sink = io.BytesIO()
    assert hook.download("Nightly_01", sink) == len(snapshot)
    assert sink.getvalue() == snapshot == personium_emulator.exports["Nightly_01"].content
    assert "snapshot Nightly_01.zip is ready" in hook.fetch_log("Nightly_01")
    assert _grants(personium_emulator) == ["password"], "one token served both runners"


@RUNNERS
def test_a_failed_export_carries_the_error_files_code_and_message(
    personium_emulator: PersoniumEmulator, runner: str
) -> None:
    personium_emulator.script_next(
        Step(RUNNING, 10), Step("ready", code="PR503-SV-0001", message="Too many concurrent requests.")
    )
    hook = _hook(personium_emulator)
    name = hook.start_export({})

    seen = poll_statuses(hook, name, runner)
    assert [s.vendor_state for s in seen] == [RUNNING, "ready"]
    failed = seen[-1]
    assert failed.state is ExportState.FAILED
    assert (failed.error_code, failed.message) == ("PR503-SV-0001", "Too many concurrent requests.")
    assert (
        f"{name}.error" in personium_emulator.snapshots and f"{name}.zip" not in personium_emulator.snapshots
    )

    log = hook.fetch_log(name)
    assert "code PR503-SV-0001, message: Too many concurrent requests." in log
    refused = r"not available .*code PR503-SV-0001, message: Too many concurrent requests\."
    with pytest.raises(ExportRequestError, match=refused):
        hook.download(name, io.BytesIO())
    assert not [
        r for r in personium_emulator.requests_to(f"/cell1/__snapshot/{name}.zip") if r.method == "GET"
    ]


@RUNNERS
def test_an_import_runs_to_success(personium_emulator: PersoniumEmulator, runner: str) -> None:
    personium_emulator.add_snapshot("CellExport_2017_01")
    hook = _hook(personium_emulator, job="import")
    assert hook.start_export({"Name": "CellExport_2017_01"}) == "CellExport_2017_01"

    # 'ready' before the import is seen running is not success; 'ready' after it is.
    seen = poll_statuses(hook, "CellExport_2017_01", runner)
    assert [(s.vendor_state, s.state) for s in seen] == [
        ("ready", ExportState.PENDING),
        ("importation in progress", ExportState.RUNNING),
        ("importation in progress", ExportState.RUNNING),
        ("ready", ExportState.SUCCEEDED),
    ]
    assert seen[2].progress == 81
    assert personium_emulator.imports["CellExport_2017_01"].polls == 4


@RUNNERS
def test_an_expired_token_is_renewed_once_with_the_refresh_token(
    personium_emulator: PersoniumEmulator, runner: str
) -> None:
    personium_emulator.begin_export("Held", RUNNING)
    hook = _hook(personium_emulator)
    assert poll_status(hook, "Held", runner).state is ExportState.RUNNING
    personium_emulator.expire_credentials()

    assert poll_status(hook, "Held", runner).state is ExportState.RUNNING
    assert _grants(personium_emulator) == ["password", "refresh_token"]
    polls = [r.headers["Authorization"] for r in personium_emulator.requests_to("/cell1/__export")]
    assert len(polls) == 3 and polls[0] == polls[1] != polls[2], "one call met the expired token"


# ---- starting ----------------------------------------------------------------------------------


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
    assert not personium_emulator.requests_to("/cell1/__export"), "neither a start nor a status call"


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
    calls: list[Callable[[str], Any]] = [
        hook.get_status,
        lambda i: asyncio.run(hook.aget_status(i)),
        lambda i: hook.download(i, io.BytesIO()),
        hook.fetch_log,
    ]
    for call in calls:
        with pytest.raises(ExportConfigError, match="is not a snapshot name"):
            call(bad_id)
    if bad_id:  # an empty Name means "pick one", which is not an error
        with pytest.raises(ExportConfigError, match="is not a snapshot name"):
            hook.start_export({"Name": bad_id})
    assert not [r for r in personium_emulator.requests if r.path != "/cell1/__token"]


# ---- answers and faults ------------------------------------------------------------------------


@RUNNERS
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
    ids=["html", "truncated-json", "no-status"],
)
def test_unreadable_status_answers_are_clear_errors(
    personium_emulator: PersoniumEmulator, runner: str, fault: Fault, expected: str
) -> None:
    personium_emulator.inject(dataclasses.replace(fault, path_prefix="/cell1/__export", method="GET"))
    with pytest.raises(ExportResponseError, match=expected):
        poll_status(_hook(personium_emulator), "CellExport_2017_01", runner)


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


# ---- credentials -------------------------------------------------------------------------------


def test_token_from_the_connection_is_renewed_with_its_refresh_token(
    personium_emulator: PersoniumEmulator,
) -> None:
    conn = personium_emulator.token_connection()
    hook = _hook(personium_emulator, conn)
    assert hook.get_status("CellExport_2017_01").state is ExportState.PENDING
    assert personium_emulator.grants == [], "the connection's access token was used as it is"
    personium_emulator.tokens.expire_all()
    assert hook.get_status("CellExport_2017_01").state is ExportState.PENDING
    assert _grants(personium_emulator) == ["refresh_token"]
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


def test_token_near_expiry_is_renewed_before_use(make_emulator: Callable[..., Any]) -> None:
    # A 3-second token is renewed once three quarters of its life are gone, not on every call.
    emulator: PersoniumEmulator = make_emulator("personium", token_ttl=3)
    hook = _hook(emulator)
    hook.get_status("CellExport_2017_01")
    hook.get_status("CellExport_2017_01")
    assert _grants(emulator) == ["password"]
    time.sleep(2.4)  # past three quarters of the token's life (as issued), before its end
    hook.get_status("CellExport_2017_01")
    assert _grants(emulator) == ["password", "refresh_token"]
    statuses = [r for r in emulator.requests if r.path == "/cell1/__export"]
    assert statuses[1].headers["Authorization"] != statuses[2].headers["Authorization"]
    assert all(r.headers.get("Authorization") for r in statuses)


def test_wrong_password_is_reported_without_the_password(personium_emulator: PersoniumEmulator) -> None:
    conn = {**personium_emulator.connection(), "password": "wrong-password-4711"}
    with pytest.raises(ExportAuthError) as err:
        _hook(personium_emulator, conn).get_status("CellExport_2017_01")
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
    assert not personium_emulator.requests


# ---- the import's memory -----------------------------------------------------------------------


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
    assert poll_status(later, "CellExport_2017_01", "aiohttp").is_success
    # A hook that did not see the import start cannot tell 'finished' from 'not started'.
    assert poll_status(fresh, "CellExport_2017_01", "aiohttp").state is ExportState.PENDING
    text = json.dumps(params)
    for secret in personium_emulator.secrets():
        assert secret not in text
