"""The Informatica IICS example DAG on real Airflow (dag.test, SQLite) against the emulator (login
host and pod on two origins). The hook's own checks over loopback are in
tests/wire/test_informatica_iics_hook.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_exports.hooks.informatica import SESSION_HEADER
from airflow_provider_exports.testing import Fault
from airflow_provider_exports.testing.informatica import InformaticaEmulator
from integration.expect import assert_exported, assert_failed_by_vendor, only_export

pytestmark = pytest.mark.integration

DAG_ID = "informatica_iics_export"
CONN_ID = "iics_under_test"
MAPPING_ID = "iIVBNZSpUKFg4N6g2PKUox"  # "abc_map" in the seed's example
API = "/saas/public/core/v3"


def _env(emulator: InformaticaEmulator, **extra: str) -> dict[str, str]:
    name, value = emulator.connection_env(CONN_ID)
    return {name: value, "IICS_CONN_ID": CONN_ID, "EXPORTS_POKE_INTERVAL": "0.2", **extra}


def _assert_sessions_stay_on_their_hosts(emulator: InformaticaEmulator) -> None:
    """Session ids go to the pod (and to logout on the login host); the password only to login."""
    for record in emulator.login_host_requests():
        assert record.path in (f"{API}/login", f"{API}/logout"), f"API call sent to the login host: {record}"
        if record.path == f"{API}/login":
            assert SESSION_HEADER not in record.headers
    for record in emulator.pod_requests():
        assert record.headers.get(SESSION_HEADER) in emulator.issued_sessions
        assert emulator.password.encode() not in record.body


# ---- the example DAG ----------------------------------------------------------------------------


def test_success_deferred_and_package_downloaded(iics_emulator: InformaticaEmulator, run_dag: Any) -> None:
    iics_emulator.script_next("IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "SUCCESSFUL")
    result = run_dag(DAG_ID, _env(iics_emulator))

    log_lines = [
        f"Successfully exported object [/Default/abc_map] of type [MAPPING] id [{MAPPING_ID}]",
        "Status: SUCCESSFUL",
    ]
    export = assert_exported(result, iics_emulator, vendor_state="SUCCESSFUL", log_has=log_lines)
    assert [o["id"] for o in export.payload["objects"]] == ["l7bgB85m5oGiXObDxwnvK9", MAPPING_ID]
    assert iics_emulator.logins == 1, "one session serves every task and the trigger in this process"
    _assert_sessions_stay_on_their_hosts(iics_emulator)


def test_failed_export_names_the_object_and_still_fetches_the_log(
    iics_emulator: InformaticaEmulator, run_dag: Any
) -> None:
    iics_emulator.script_next("IN_PROGRESS", "IN_PROGRESS", "FAILED")
    iics_emulator.fail_objects_next(
        {MAPPING_ID: "Connection 'SQL Server Linux' cannot be exported: access denied."}
    )
    result = run_dag(DAG_ID, _env(iics_emulator))

    export = assert_failed_by_vendor(result, iics_emulator, vendor_state="FAILED")
    expected = (
        f"Failed objects: abc_map (MAPPING, /Default, id {MAPPING_ID}): "
        "Connection 'SQL Server Linux' cannot be exported: access denied."
    )
    assert expected in result.output
    log_text = result.return_value("fetch_export_log")
    assert f"Failed to export object [/Default/abc_map] of type [MAPPING] id [{MAPPING_ID}]" in log_text
    assert "Status: FAILED" in log_text
    # The per-object status was asked for only once the job had failed.
    expanded = [r for r in iics_emulator.requests if r.raw_path.endswith("?expand=objects")]
    assert expanded and all(r.path == f"{API}/export/{export.export_id}" for r in expanded)


@pytest.mark.parametrize("expired_status", [401, 403])
def test_session_expiring_mid_wait_is_renewed_once(
    make_emulator: Any, run_dag: Any, expired_status: int
) -> None:
    emulator = make_emulator("informatica_iics", expired_status=expired_status)
    emulator.script_next(*["IN_PROGRESS"] * 5, "SUCCESSFUL")
    # Poll 1 is the sensor's own poke; poll 3 is the trigger's second, after it used the session.
    polls = f"{API}/export/"
    emulator.inject(
        Fault("pass", path_prefix=polls, method="GET"),
        Fault("pass", path_prefix=polls, method="GET"),
        Fault("expire_auth", path_prefix=polls, method="GET"),
    )
    result = run_dag(DAG_ID, _env(emulator))

    assert result.state == "success", result.output[-4000:]
    assert "deferred" in result.transitions["wait_for_export"], result.transitions
    assert emulator.rejections == 1, "exactly one call met the expired session"
    # dag.test runs every task and the trigger in one process, which shares one session: the
    # first login, and one renewal after the expiry.
    assert emulator.logins == 2
    renewals = [line for line in result.output.splitlines() if "rejected the credential" in line]
    assert len(renewals) == 1 and "transport.aio" in renewals[0], "the trigger renewed the session"
    export = only_export(emulator)
    assert Path(result.return_value("download_export")).read_bytes() == export.content
    _assert_sessions_stay_on_their_hosts(emulator)


def test_no_password_or_session_id_in_output_xcom_or_errors(
    iics_emulator: InformaticaEmulator, run_dag: Any
) -> None:
    # A failing run: exception texts are in the output as well as the logs.
    iics_emulator.script_next("IN_PROGRESS", "IN_PROGRESS", "FAILED")
    iics_emulator.fail_objects_next({MAPPING_ID: "Object is locked by another user."})
    result = run_dag(DAG_ID, _env(iics_emulator))
    assert result.tasks["wait_for_export"] == "failed"
    assert "Object is locked by another user." in result.output

    assert iics_emulator.issued_sessions, "the emulator issued session ids to look for"
    secrets = iics_emulator.secrets()
    assert secrets == {iics_emulator.password, *iics_emulator.issued_sessions}
    haystacks = {"task and triggerer output": result.output, "xcom": json.dumps(result.xcom)}
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a credential leaked into {where}"


def test_flaky_pod_still_succeeds(iics_emulator: InformaticaEmulator, run_dag: Any) -> None:
    status_path = f"{API}/export/"
    iics_emulator.inject(
        Fault("status", status=503, path_prefix=status_path, method="GET"),
        Fault("status", status=429, headers={"Retry-After": "1"}, path_prefix=status_path, method="GET"),
        Fault("drop", path_prefix=status_path, method="GET"),
    )
    result = run_dag(DAG_ID, _env(iics_emulator))

    assert result.state == "success", result.output[-4000:]
    export = only_export(iics_emulator)
    assert Path(result.return_value("download_export")).read_bytes() == export.content
    assert "HTTP 429" in result.output and "HTTP 503" in result.output
