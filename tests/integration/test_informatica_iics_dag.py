"""The Informatica IICS example DAG on real Airflow (dag.test, SQLite) against the emulator, and
the hook against the emulator over loopback (login host and pod on two origins)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_exports.errors import ExportAuthError, ExportRequestError
from airflow_provider_exports.hooks.informatica import SESSION_HEADER, InformaticaHook
from airflow_provider_exports.testing import Fault, Step
from airflow_provider_exports.testing.emulator import Export
from airflow_provider_exports.testing.informatica import InformaticaEmulator
from airflow_provider_exports.transport import RetryPolicy

pytestmark = pytest.mark.integration

DAG_ID = "informatica_iics_export"
CONN_ID = "iics_under_test"
MAPPING_ID = "iIVBNZSpUKFg4N6g2PKUox"  # "abc_map" in the seed's example
API = "/saas/public/core/v3"


def _env(emulator: InformaticaEmulator, **extra: str) -> dict[str, str]:
    name, value = emulator.connection_env(CONN_ID)
    return {name: value, "IICS_CONN_ID": CONN_ID, "EXPORTS_POKE_INTERVAL": "0.2", **extra}


def _only_export(emulator: InformaticaEmulator) -> Export:
    assert len(emulator.exports) == 1, "the DAG must start exactly one export"
    return next(iter(emulator.exports.values()))


def _assert_sessions_stay_on_their_hosts(emulator: InformaticaEmulator) -> None:
    """Session ids go to the pod (and to logout on the login host); the password only to login."""
    for record in emulator.login_host_requests():
        assert record.path in (f"{API}/login", f"{API}/logout"), f"API call sent to the login host: {record}"
        if record.path == f"{API}/login":
            assert SESSION_HEADER not in record.headers
    for record in emulator.pod_requests():
        assert record.headers.get(SESSION_HEADER) in emulator.issued_sessions
        assert emulator.password.encode() not in record.body


def _hook(emulator: InformaticaEmulator, **conn_overrides: Any) -> InformaticaHook:
    fields = {**emulator.connection(), **conn_overrides}
    conn = Connection(
        conn_id=f"iics-{id(emulator)}-{sorted(conn_overrides.items())}",
        conn_type=fields["conn_type"],
        host=fields["host"],
        login=fields["login"],
        password=fields["password"],
    )
    fast = RetryPolicy(attempts=3, backoff=0.05, backoff_max=0.2)
    return InformaticaHook(conn.conn_id, connection=conn, retry_policy=fast)


# ---- the example DAG ----------------------------------------------------------------------------


def test_success_deferred_and_package_downloaded(iics_emulator: InformaticaEmulator, run_dag: Any) -> None:
    iics_emulator.script_next("IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "SUCCESSFUL")
    result = run_dag(DAG_ID, _env(iics_emulator))

    assert result.state == "success", result.output[-4000:]
    assert result.tasks == {
        "start_export": "success",
        "wait_for_export": "success",
        "download_export": "success",
        "fetch_export_log": "success",
    }
    assert "deferred" in result.transitions["wait_for_export"], result.transitions
    export = _only_export(iics_emulator)
    assert [o["id"] for o in export.payload["objects"]] == ["l7bgB85m5oGiXObDxwnvK9", MAPPING_ID]
    final = result.return_value("wait_for_export")
    assert final["status"] == "success" and final["vendor_state"] == "SUCCESSFUL"
    assert final["export_id"] == export.export_id

    downloaded = Path(result.return_value("download_export"))
    assert downloaded.read_bytes() == export.content
    assert not [p for p in downloaded.parent.iterdir() if p.name.endswith(".part")]
    log_text = result.return_value("fetch_export_log")
    assert f"Successfully exported object [/Default/abc_map] of type [MAPPING] id [{MAPPING_ID}]" in log_text
    assert "Status: SUCCESSFUL" in log_text
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

    assert result.state == "failed"
    assert result.tasks["wait_for_export"] == "failed"
    assert result.tasks["download_export"] == "upstream_failed"
    assert result.tasks["fetch_export_log"] == "success"
    export = _only_export(iics_emulator)
    expected = (
        f"Failed objects: abc_map (MAPPING, /Default, id {MAPPING_ID}): "
        "Connection 'SQL Server Linux' cannot be exported: access denied."
    )
    assert f"Export {export.export_id!r} did not succeed, vendor state 'FAILED'" in result.output
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
    export = _only_export(emulator)
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
    export = _only_export(iics_emulator)
    assert Path(result.return_value("download_export")).read_bytes() == export.content
    assert "HTTP 429" in result.output and "HTTP 503" in result.output


# ---- the hook against the emulator ---------------------------------------------------------------


def test_login_goes_to_the_login_host_and_calls_to_the_pod(iics_emulator: InformaticaEmulator) -> None:
    hook = _hook(iics_emulator, host=iics_emulator.url + "/saas/")  # a pasted /saas is dropped
    export_id = hook.start_export({"name": "one", "objects": [MAPPING_ID]})

    login, start = iics_emulator.requests
    assert login.host.endswith(f":{iics_emulator.ports[0]}") and login.path == f"{API}/login"
    assert json.loads(login.body) == {"username": iics_emulator.username, "password": iics_emulator.password}
    assert start.host.endswith(f":{iics_emulator.ports[1]}") and start.path == f"{API}/export"
    assert json.loads(start.body) == {"name": "one", "objects": [{"id": MAPPING_ID}]}
    assert start.headers[SESSION_HEADER] == iics_emulator.issued_sessions[0]
    assert export_id in iics_emulator.exports


@pytest.mark.parametrize(
    ("export_id", "raw_segment"),
    [("a/../b", "a%2F..%2Fb"), ("..", "%2E%2E"), ("%2F", "%252F"), ("with space", "with%20space")],
)
def test_ids_are_percent_encoded_in_the_path(
    iics_emulator: InformaticaEmulator, export_id: str, raw_segment: str
) -> None:
    hook = _hook(iics_emulator)
    iics_emulator.add_export(export_id, "SUCCESSFUL")
    status = hook.get_status(export_id)

    assert status.is_success and status.export_id == export_id
    assert iics_emulator.requests[-1].raw_path == f"{API}/export/{raw_segment}"


def test_session_idle_timeout_renews_once_and_keeps_working(make_emulator: Any) -> None:
    emulator = make_emulator("informatica_iics", session_idle_timeout=0.3)
    hook = _hook(emulator)
    emulator.script_next("IN_PROGRESS", "SUCCESSFUL")
    export_id = hook.start_export({"objects": [MAPPING_ID]})
    assert hook.get_status(export_id).vendor_state == "IN_PROGRESS"
    time.sleep(0.5)  # longer than the idle timeout

    assert hook.get_status(export_id).is_success
    assert (emulator.logins, emulator.rejections) == (2, 1)


def test_rejected_twice_is_an_auth_error(iics_emulator: InformaticaEmulator) -> None:
    hook = _hook(iics_emulator)
    hook.start_export({"objects": [MAPPING_ID]})
    body = json.dumps({"error": {"code": "AUTH_01", "message": "Invalid session.", "requestId": "r1"}})
    iics_emulator.inject(
        *[
            Fault(
                "status", status=403, body=body, content_type="application/json", path_prefix=f"{API}/objects"
            )
        ]
        * 2
    )
    with pytest.raises(ExportAuthError, match="rejected again after a fresh login"):
        hook.get_conn().run(hook.check_op())
    assert iics_emulator.logins == 2


def test_wrong_password_is_a_clear_error_without_the_password(iics_emulator: InformaticaEmulator) -> None:
    hook = _hook(iics_emulator, password="not-the-password-123")
    with pytest.raises(ExportAuthError) as caught:
        hook.start_export({"objects": [MAPPING_ID]})
    text = str(caught.value)
    assert "code IDS_085" in text and "User name or password is not valid." in text
    assert "not-the-password-123" not in text
    assert not iics_emulator.exports


def test_html_error_page_from_the_pod_is_named(iics_emulator: InformaticaEmulator) -> None:
    hook = _hook(iics_emulator)
    export_id = hook.start_export({"objects": [MAPPING_ID]})
    iics_emulator.inject(
        Fault(
            "body",
            body="<html><body>Maintenance</body></html>",
            content_type="text/html",
            path_prefix=f"{API}/export/",
        )
    )
    with pytest.raises(ExportRequestError, match="expected JSON, got an HTML page"):
        hook.get_status(export_id)


def test_package_of_an_unfinished_export_is_refused_before_download(
    iics_emulator: InformaticaEmulator,
) -> None:
    hook = _hook(iics_emulator)
    iics_emulator.script_next("IN_PROGRESS")
    export_id = hook.start_export({"objects": [MAPPING_ID]})
    with pytest.raises(ExportRequestError, match=r"not available .*'IN_PROGRESS'"):
        hook.download(export_id, io.BytesIO())
    assert not iics_emulator.requests_to(f"{API}/export/{export_id}/package")


def test_download_cut_half_way_resumes(make_emulator: Any) -> None:
    emulator = make_emulator("informatica_iics", package_padding=3 * 1024 * 1024)
    hook = _hook(emulator)
    emulator.script_next("SUCCESSFUL")
    export_id = hook.start_export({"objects": [MAPPING_ID]})
    content = emulator.exports[export_id].content
    package = f"{API}/export/{export_id}/package"
    emulator.inject(Fault("truncate", after_bytes=len(content) // 2, path_prefix=package))
    sink = io.BytesIO()

    assert hook.download(export_id, sink) == len(content)
    assert sink.getvalue() == content
    first, second = (r.headers.get("Range") for r in emulator.requests_to(package))
    assert first is None
    assert second is not None and second.startswith("bytes=") and int(second[6:-1]) > 0


def test_test_connection_logs_in_checks_and_logs_out(iics_emulator: InformaticaEmulator) -> None:
    hook = _hook(iics_emulator)
    ok, message = hook.test_connection()

    assert ok, message
    assert "13 objects visible" in message
    assert iics_emulator.logouts == 1
    logout = iics_emulator.requests[-1]
    assert logout.host.endswith(f":{iics_emulator.ports[0]}") and logout.path == f"{API}/logout"
    assert logout.headers[SESSION_HEADER] == iics_emulator.issued_sessions[0]
    assert not iics_emulator.sessions, "the session was ended on the server"


def test_test_connection_with_a_bad_password_says_so(iics_emulator: InformaticaEmulator) -> None:
    ok, message = _hook(iics_emulator, password="wrong-password-456").test_connection()
    assert not ok
    assert "credentials were rejected" in message and "IDS_085" in message
    assert "wrong-password-456" not in message


def test_api_calls_on_the_login_host_are_refused(iics_emulator: InformaticaEmulator) -> None:
    """The emulator serves the pod's API on the pod only, like IICS (this guards the hook's routing)."""
    import requests

    answer = requests.get(f"{iics_emulator.url}{API}/objects", timeout=5)
    assert answer.status_code == 404
    assert answer.json()["error"]["message"].endswith("is not served by the login host")


def test_failed_export_names_objects_in_the_status(make_emulator: Any) -> None:
    emulator = make_emulator("informatica_iics")
    hook = _hook(emulator)
    emulator.script_next(Step("FAILED", message="Export failed with errors."))
    emulator.fail_objects_next({MAPPING_ID: "Object is locked.", "l7bgB85m5oGiXObDxwnvK9": "No permission."})
    export_id = hook.start_export({"objects": [MAPPING_ID, "l7bgB85m5oGiXObDxwnvK9"]})
    status = hook.get_status(export_id)

    assert status.state is not None and status.state.value == "failed"
    assert status.message == (
        "Export failed with errors. Failed objects: "
        f"abc_map (MAPPING, /Default, id {MAPPING_ID}): Object is locked.; "
        "DSS (Project, /, id l7bgB85m5oGiXObDxwnvK9): No permission."
    )
