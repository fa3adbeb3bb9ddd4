"""The Informatica IICS hook against its emulator over loopback: the login host and the pod on
two origins, both runners (requests; aiohttp inside one pooled session, as the triggerer runs).

Lifecycle (start, statuses to success, package, log), a failed job's object messages, session
renewal, and the hook-level checks that used to live beside the DAG runs in
tests/integration/test_informatica_iics_dag.py.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from wire_support import RUNNERS, poll_status, poll_statuses, wire_hook

from airflow_provider_exports.errors import ExportAuthError, ExportRequestError, ExportResponseError
from airflow_provider_exports.hooks.base import ExportHook
from airflow_provider_exports.status import ExportState
from airflow_provider_exports.testing import Fault, Step
from airflow_provider_exports.testing.informatica import SESSION_HEADER, InformaticaEmulator
from airflow_provider_exports.transport.aio import pooled_session

API = "/saas/public/core/v3"
STATUS = f"{API}/export/"
MAPPING_ID = "iIVBNZSpUKFg4N6g2PKUox"  # abc_map (MAPPING, /Default) in the seed's example
PROJECT_ID = "l7bgB85m5oGiXObDxwnvK9"  # DSS (Project, /)


def _hook(emulator: InformaticaEmulator, **conn: Any) -> ExportHook:
    return wire_hook(emulator, "iics_wire", **conn)


def _expanded(emulator: InformaticaEmulator) -> list[str]:
    """Paths of the status calls that asked for the per-object status."""
    return [r.path for r in emulator.requests if r.raw_path.endswith("?expand=objects")]


# ---- lifecycle ---------------------------------------------------------------------------------


@RUNNERS
def test_an_export_runs_to_success_then_downloads_and_logs(
    iics_emulator: InformaticaEmulator, runner: str
) -> None:
    iics_emulator.script_next("IN_PROGRESS", "IN_PROGRESS", "SUCCESSFUL")
    hook = _hook(iics_emulator)
    export_id = hook.start_export({"name": "nightly", "objects": [MAPPING_ID]})
    export = iics_emulator.exports[export_id]
    assert export.payload == {"name": "nightly", "objects": [{"id": MAPPING_ID}]}

    seen = poll_statuses(hook, export_id, runner)
    assert [s.vendor_state for s in seen] == ["IN_PROGRESS", "IN_PROGRESS", "SUCCESSFUL"]
    assert [s.state for s in seen] == [ExportState.RUNNING, ExportState.RUNNING, ExportState.SUCCEEDED]
    assert seen[-1].is_success and seen[-1].progress == 100
    assert seen[-1].message == "Export completed successfully."
    assert not _expanded(iics_emulator), "a successful job is not read again per object"

    sink = io.BytesIO()
    assert hook.download(export_id, sink) == len(export.content)
    assert sink.getvalue() == export.content
    log = hook.fetch_log(export_id)
    assert f"Successfully exported object [/Default/abc_map] of type [MAPPING] id [{MAPPING_ID}]" in log
    assert "Job Name: nightly" in log and "Status: SUCCESSFUL" in log
    # One session served both runners; every call after the login went to the pod with it.
    assert iics_emulator.logins == 1
    (session,) = iics_emulator.issued_sessions
    assert [r.path for r in iics_emulator.login_host_requests()] == [f"{API}/login"]
    assert all(r.headers[SESSION_HEADER] == session for r in iics_emulator.pod_requests())


@RUNNERS
def test_a_failed_export_names_its_objects_in_status_and_log(
    iics_emulator: InformaticaEmulator, runner: str
) -> None:
    iics_emulator.script_next("IN_PROGRESS", Step("FAILED", message="Export failed with errors."))
    iics_emulator.fail_objects_next({MAPPING_ID: "Object is locked.", PROJECT_ID: "No permission."})
    hook = _hook(iics_emulator)
    export_id = hook.start_export({"objects": [MAPPING_ID, PROJECT_ID]})

    seen = poll_statuses(hook, export_id, runner)
    assert [s.vendor_state for s in seen] == ["IN_PROGRESS", "FAILED"]
    failed = seen[-1]
    assert failed.state is ExportState.FAILED
    assert failed.message == (
        "Export failed with errors. Failed objects: "
        f"abc_map (MAPPING, /Default, id {MAPPING_ID}): Object is locked.; "
        f"DSS (Project, /, id {PROJECT_ID}): No permission."
    )
    # Only the failed job was read again with its per-object status.
    assert _expanded(iics_emulator) == [f"{API}/export/{export_id}"]

    log = hook.fetch_log(export_id)
    assert (
        f"Failed to export object [/Default/abc_map] of type [MAPPING] id [{MAPPING_ID}]: Object is locked."
        in log
    )
    assert "Status: FAILED" in log and "No permission." in log
    with pytest.raises(ExportRequestError, match=r"not available .*'FAILED'"):
        hook.download(export_id, io.BytesIO())
    assert not iics_emulator.requests_to(f"{API}/export/{export_id}/package")


@RUNNERS
@pytest.mark.parametrize("expired_status", [401, 403])
def test_an_expired_session_is_renewed_once(
    make_emulator: Callable[..., Any], runner: str, expired_status: int
) -> None:
    # IICS answers an expired session with 401, or 403 and error code AUTH_01.
    emulator: InformaticaEmulator = make_emulator("informatica_iics", expired_status=expired_status)
    emulator.add_export("job-1", "IN_PROGRESS")
    hook = _hook(emulator)
    assert poll_status(hook, "job-1", runner).vendor_state == "IN_PROGRESS"
    emulator.expire_credentials()

    assert poll_status(hook, "job-1", runner).vendor_state == "IN_PROGRESS"
    assert (emulator.logins, emulator.rejections) == (2, 1)
    first, second = emulator.issued_sessions
    polls = emulator.requests_to(f"{API}/export/job-1")
    assert [r.headers[SESSION_HEADER] for r in polls] == [first, first, second]


def test_session_idle_timeout_renews_once_and_keeps_working(make_emulator: Callable[..., Any]) -> None:
    emulator: InformaticaEmulator = make_emulator("informatica_iics", session_idle_timeout=1.0)
    hook = _hook(emulator)
    emulator.script_next("IN_PROGRESS", "SUCCESSFUL")
    export_id = hook.start_export({"objects": [MAPPING_ID]})
    assert hook.get_status(export_id).vendor_state == "IN_PROGRESS"
    time.sleep(1.5)  # longer than the emulator's idle timeout: the session is expired server-side

    assert hook.get_status(export_id).is_success
    assert (emulator.logins, emulator.rejections) == (2, 1)


@RUNNERS
def test_rejected_twice_is_an_auth_error(iics_emulator: InformaticaEmulator, runner: str) -> None:
    iics_emulator.add_export("job-1", "IN_PROGRESS")
    body = json.dumps({"error": {"code": "AUTH_01", "message": "Invalid session.", "requestId": "r1"}})
    iics_emulator.inject(
        *[Fault("status", status=403, body=body, content_type="application/json", path_prefix=STATUS)] * 2
    )
    with pytest.raises(ExportAuthError, match="rejected again after a fresh login"):
        poll_status(_hook(iics_emulator), "job-1", runner)
    assert iics_emulator.logins == 2
    assert not iics_emulator.faults


@RUNNERS
def test_rejected_twice_on_the_connection_check_is_an_auth_error(
    iics_emulator: InformaticaEmulator, runner: str
) -> None:
    # The same on the objects listing of test_connection's check, with a session already in use.
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

    async def _check() -> str:
        async with pooled_session():
            transport = await hook.async_transport()
            return await transport.run(hook.check_op())

    with pytest.raises(ExportAuthError, match="rejected again after a fresh login"):
        if runner == "requests":
            hook.get_conn().run(hook.check_op())
        else:
            asyncio.run(_check())
    assert iics_emulator.logins == 2
    assert not iics_emulator.faults


# ---- requests on the wire ----------------------------------------------------------------------


def test_login_goes_to_the_login_host_and_calls_to_the_pod(iics_emulator: InformaticaEmulator) -> None:
    hook = _hook(iics_emulator, host=iics_emulator.url + "/saas/")  # a pasted /saas is dropped
    export_id = hook.start_export({"name": "one", "objects": [MAPPING_ID]})

    login, start = iics_emulator.requests
    assert login.host.endswith(f":{iics_emulator.ports[0]}") and login.path == f"{API}/login"
    assert json.loads(login.body) == {"username": iics_emulator.username, "password": iics_emulator.password}
    assert SESSION_HEADER not in login.headers
    assert start.host.endswith(f":{iics_emulator.ports[1]}") and start.path == f"{API}/export"
    assert json.loads(start.body) == {"name": "one", "objects": [{"id": MAPPING_ID}]}
    assert start.headers[SESSION_HEADER] == iics_emulator.issued_sessions[0]
    assert iics_emulator.password.encode() not in start.body
    assert export_id in iics_emulator.exports


@RUNNERS
@pytest.mark.parametrize(
    ("export_id", "raw_segment"),
    [("a/../b", "a%2F..%2Fb"), ("..", "%2E%2E"), ("%2F", "%252F"), ("with space", "with%20space")],
)
def test_ids_are_percent_encoded_in_the_path(
    iics_emulator: InformaticaEmulator, runner: str, export_id: str, raw_segment: str
) -> None:
    iics_emulator.add_export(export_id, "SUCCESSFUL")
    status = poll_status(_hook(iics_emulator), export_id, runner)

    assert status.is_success and status.export_id == export_id
    assert iics_emulator.requests[-1].raw_path == f"{API}/export/{raw_segment}"


def test_api_calls_on_the_login_host_are_refused(iics_emulator: InformaticaEmulator) -> None:
    """The emulator serves the pod's API on the pod only, like IICS (this guards the hook's routing)."""
    answer = requests.get(f"{iics_emulator.url}{API}/objects", timeout=5)
    assert answer.status_code == 404
    assert answer.json()["error"]["message"].endswith("is not served by the login host")


# ---- errors ------------------------------------------------------------------------------------


def test_wrong_password_is_a_clear_error_without_the_password(iics_emulator: InformaticaEmulator) -> None:
    hook = _hook(iics_emulator, password="not-the-password-123")
    with pytest.raises(ExportAuthError) as caught:
        hook.start_export({"objects": [MAPPING_ID]})
    text = str(caught.value)
    assert "code IDS_085" in text and "User name or password is not valid." in text
    assert "not-the-password-123" not in text
    assert not iics_emulator.exports


@RUNNERS
def test_html_error_page_from_the_pod_is_named(iics_emulator: InformaticaEmulator, runner: str) -> None:
    iics_emulator.add_export("job-1", "IN_PROGRESS")
    iics_emulator.inject(
        Fault(
            "body", body="<html><body>Maintenance</body></html>", content_type="text/html", path_prefix=STATUS
        )
    )
    with pytest.raises(ExportResponseError, match="expected JSON, got an HTML page"):
        poll_status(_hook(iics_emulator), "job-1", runner)


def test_package_of_an_unfinished_export_is_refused_before_download(
    iics_emulator: InformaticaEmulator,
) -> None:
    hook = _hook(iics_emulator)
    iics_emulator.script_next("IN_PROGRESS")
    export_id = hook.start_export({"objects": [MAPPING_ID]})
    with pytest.raises(ExportRequestError, match=r"not available .*'IN_PROGRESS'"):
        hook.download(export_id, io.BytesIO())
    assert not iics_emulator.requests_to(f"{API}/export/{export_id}/package")


def test_download_cut_half_way_resumes(make_emulator: Callable[..., Any]) -> None:
    emulator: InformaticaEmulator = make_emulator("informatica_iics", package_padding=3 * 1024 * 1024)
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


# ---- test_connection ---------------------------------------------------------------------------


def test_test_connection_logs_in_checks_and_logs_out(iics_emulator: InformaticaEmulator) -> None:
    ok, message = _hook(iics_emulator).test_connection()

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
