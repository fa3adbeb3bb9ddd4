"""Huawei Cloud (DataArts Studio, Workspace) on real Airflow and real HTTP against the emulators.

DAG runs (dag.test, SQLite, deferrable sensor) cover success in both auth modes, vendor failure,
expiry and list paging; faster hook-level tests cover auth errors, origins, signing, odd ids,
large result bodies and resumed downloads over loopback.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_exports.errors import ExportAuthError, ExportConfigError, ExportRequestError
from airflow_provider_exports.hooks.huawei.dataarts import HuaweiDataArtsHook
from airflow_provider_exports.hooks.huawei.workspace import HuaweiWorkspaceHook
from airflow_provider_exports.testing import Fault, Step
from airflow_provider_exports.testing.huawei import DataArtsEmulator, HuaweiCloudEmulator, WorkspaceEmulator
from airflow_provider_exports.testing.huawei_signing import parse_authorization
from airflow_provider_exports.transport import Op, Request, Response, RetryPolicy

pytestmark = pytest.mark.integration

DATAARTS_DAG = "huawei_dataarts_export"
WORKSPACE_DAG = "huawei_workspace_export"
AUTH_TYPES = ["aksk", "iam"]
FAST_RETRIES = RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.05)


# ---- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def started() -> Iterator[Callable[[HuaweiCloudEmulator], HuaweiCloudEmulator]]:
    """Start emulators built in the test (with their own options); stop them afterwards."""
    running: list[HuaweiCloudEmulator] = []

    def _start(emulator: HuaweiCloudEmulator) -> HuaweiCloudEmulator:
        emulator.start()
        running.append(emulator)
        return emulator

    yield _start
    for emulator in running:
        emulator.stop()


def _env(emulator: HuaweiCloudEmulator, conn_id: str, **extra: str) -> dict[str, str]:
    name, value = emulator.connection_env(conn_id)
    return {name: value, "EXPORTS_POKE_INTERVAL": "0.2", **extra}


def _connection(emulator: HuaweiCloudEmulator, **overrides: Any) -> Connection:
    data = {**emulator.connection(), **overrides}
    return Connection(
        conn_id=f"{emulator.vendor}_hook_test",
        conn_type=data["conn_type"],
        host=data["host"],
        login=data["login"],
        password=data["password"],
        extra=json.dumps(data["extra"]),
    )


def _dataarts_hook(emulator: DataArtsEmulator, **overrides: Any) -> HuaweiDataArtsHook:
    return HuaweiDataArtsHook(
        "dataarts", connection=_connection(emulator, **overrides), retry_policy=FAST_RETRIES
    )


def _workspace_hook(emulator: WorkspaceEmulator, **overrides: Any) -> HuaweiWorkspaceHook:
    return HuaweiWorkspaceHook(
        "workspace", connection=_connection(emulator, **overrides), retry_policy=FAST_RETRIES
    )


def _only_export(emulator: HuaweiCloudEmulator) -> Any:
    started_exports = [e for e in emulator.exports.values() if not e.export_id.startswith("filler-")]
    assert len(started_exports) == 1, "the DAG must start exactly one export"
    return started_exports[0]


def _assert_no_secrets(emulator: HuaweiCloudEmulator, *texts: str) -> None:
    secrets = emulator.secrets()
    assert {emulator.password, emulator.secret_key} <= secrets
    for text in texts:
        for secret in secrets:
            assert secret not in text, "a password, secret key or token leaked"


def _assert_auth_mode_used(emulator: HuaweiCloudEmulator) -> None:
    if emulator.auth_type == "iam":
        assert emulator.token_requests >= 1 and emulator.signed_requests == 0
    else:
        assert emulator.signed_requests >= 1 and emulator.token_requests == 0


def _probe(request: Request) -> Op[Response]:
    response = yield request
    return response


# ---- DAG runs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth_type", AUTH_TYPES)
def test_dataarts_export_succeeds_deferred_and_downloads(
    started: Callable[..., Any], run_dag: Any, auth_type: str
) -> None:
    emulator = started(DataArtsEmulator(auth_type=auth_type))
    result = run_dag(DATAARTS_DAG, _env(emulator, "huawei_dataarts_default"))

    assert result.state == "success", result.output[-4000:]
    assert result.tasks == {
        "start_export": "success",
        "wait_for_export": "success",
        "download_export": "success",
        "fetch_export_log": "success",
    }
    assert "deferred" in result.transitions["wait_for_export"], result.transitions
    export = _only_export(emulator)
    assert export.payload["type"] == "TABLE_MODEL" and export.payload["asyn"] is True
    final = result.return_value("wait_for_export")
    assert final["status"] == "success" and final["vendor_state"] == "success"
    assert final["export_id"] == export.export_id
    downloaded = Path(result.return_value("download_export"))
    assert downloaded.suffix == ".xlsx"
    assert downloaded.read_bytes() == export.content
    assert "vendor state 'importing', progress 40%" in result.output
    _assert_auth_mode_used(emulator)
    _assert_no_secrets(emulator, result.output, json.dumps(result.xcom))


@pytest.mark.parametrize(
    ("auth_type", "token_uses"),
    [("aksk", None), ("iam", 3)],
    ids=["aksk", "iam-token-invalidated-mid-wait"],
)
def test_workspace_export_succeeds_deferred_and_downloads(
    started: Callable[..., Any], run_dag: Any, auth_type: str, token_uses: int | None
) -> None:
    emulator = started(WorkspaceEmulator(auth_type=auth_type, token_uses=token_uses))
    emulator.script_next("CREATING", "CREATING", "CREATING", "CREATING", "SUCCESS")
    result = run_dag(WORKSPACE_DAG, _env(emulator, "huawei_workspace_default"))

    assert result.state == "success", result.output[-4000:]
    assert "deferred" in result.transitions["wait_for_export"], result.transitions
    export = _only_export(emulator)
    assert export.payload == {"language": "en_US"}
    final = result.return_value("wait_for_export")
    assert final["vendor_state"] == "SUCCESS" and final["export_id"] == export.export_id
    assert Path(result.return_value("download_export")).read_bytes() == export.content
    assert export.extra["downloaded"] is True
    assert result.return_value("fetch_export_log").startswith(
        f"export {export.export_id!r}, vendor state 'SUCCESS'"
    )
    _assert_auth_mode_used(emulator)
    if token_uses is not None:
        # The server invalidated the first token while it still looked valid: one fresh login.
        assert emulator.token_requests >= 2
    _assert_no_secrets(emulator, result.output, json.dumps(result.xcom))


def test_dataarts_failure_fails_with_the_vendor_message(started: Callable[..., Any], run_dag: Any) -> None:
    emulator = started(DataArtsEmulator(auth_type="iam"))
    emulator.script_next(
        Step("importing", 20),
        Step("fail", 35, message="Table model 1160236484595425279 was deleted", code="DS.6021"),
    )
    result = run_dag(DATAARTS_DAG, _env(emulator, "huawei_dataarts_default"))

    assert result.state == "failed"
    assert result.tasks["wait_for_export"] == "failed"
    assert result.tasks["download_export"] == "upstream_failed"
    assert result.tasks["fetch_export_log"] == "success"
    export = _only_export(emulator)
    assert f"Export {export.export_id!r} did not succeed, vendor state 'fail'" in result.output
    assert "Table model 1160236484595425279 was deleted" in result.output
    assert "[DS.6021]" in result.return_value("fetch_export_log")
    _assert_no_secrets(emulator, result.output, json.dumps(result.xcom))


def test_workspace_failure_fails_with_fail_reason_and_error_code(
    started: Callable[..., Any], run_dag: Any
) -> None:
    emulator = started(WorkspaceEmulator(auth_type="aksk"))
    emulator.script_next(
        "CREATING", Step("FAIL", message="Too many users to export in one file", code="WKS.0127")
    )
    result = run_dag(WORKSPACE_DAG, _env(emulator, "huawei_workspace_default"))

    assert result.state == "failed"
    assert result.tasks["wait_for_export"] == "failed"
    assert result.tasks["download_export"] == "upstream_failed"
    assert result.tasks["fetch_export_log"] == "success"
    export = _only_export(emulator)
    assert (
        f"Export {export.export_id!r} did not succeed, vendor state 'FAIL', code WKS.0127: "
        "Too many users to export in one file"
    ) in result.output
    assert '"fail_reason": "Too many users to export in one file"' in result.return_value("fetch_export_log")
    _assert_no_secrets(emulator, result.output, json.dumps(result.xcom))


def test_workspace_expired_task_fails_clearly(started: Callable[..., Any], run_dag: Any) -> None:
    emulator = started(WorkspaceEmulator(auth_type="iam"))
    emulator.script_next("CREATING", "EXPIRED")
    result = run_dag(WORKSPACE_DAG, _env(emulator, "huawei_workspace_default"))

    assert result.tasks["wait_for_export"] == "failed"
    assert result.tasks["download_export"] == "upstream_failed"
    export = _only_export(emulator)
    assert f"Export {export.export_id!r} did not succeed, vendor state 'EXPIRED'" in result.output
    assert "the export file has expired and can no longer be downloaded; start a new export" in result.output
    assert "downloaded" not in export.extra
    _assert_no_secrets(emulator, result.output, json.dumps(result.xcom))


def test_workspace_task_on_page_two_when_the_filter_is_ignored(
    started: Callable[..., Any], run_dag: Any
) -> None:
    # 150 older tasks listed first, filter and sort ignored: the new task is item 151, on page 2.
    emulator = started(WorkspaceEmulator(auth_type="aksk", ignore_filters=True, filler_tasks=150))
    result = run_dag(WORKSPACE_DAG, _env(emulator, "huawei_workspace_default"))

    assert result.state == "success", result.output[-4000:]
    assert "deferred" in result.transitions["wait_for_export"], result.transitions
    export = _only_export(emulator)
    assert Path(result.return_value("download_export")).read_bytes() == export.content
    list_calls = [
        r for r in emulator.requests_to(f"/v2/{emulator.project_id}/export-tasks") if r.method == "GET"
    ]
    offsets = [r.raw_path for r in list_calls if "offset=100&" in r.raw_path and "limit=100" in r.raw_path]
    assert offsets, "the hook read page 2 (offset 100)"
    assert all(f"task_id={export.export_id}" in r.raw_path for r in list_calls if "offset=" in r.raw_path)
    _assert_no_secrets(emulator, result.output, json.dumps(result.xcom))


# ---- hook against the emulators (real HTTP, no DAG run) -----------------------------------------


@pytest.mark.parametrize("auth_type", AUTH_TYPES)
def test_test_connection_both_services(started: Callable[..., Any], auth_type: str) -> None:
    dataarts = started(DataArtsEmulator(auth_type=auth_type))
    workspace = started(WorkspaceEmulator(auth_type=auth_type))

    ok, message = _dataarts_hook(dataarts).test_connection()
    assert ok, message
    assert f"workspace {dataarts.workspace_id}" in message
    ok, message = _workspace_hook(workspace).test_connection()
    assert ok, message
    assert "0 export tasks" in message

    extra = {**dataarts.connection()["extra"], "workspace_id": "not-my-workspace"}
    ok, message = _dataarts_hook(dataarts, extra=extra).test_connection()
    assert not ok
    assert "HTTP 400, code DS.4001" in message and "workspace" in message


def test_wrong_secret_key_fails_once_with_a_clear_message(started: Callable[..., Any]) -> None:
    emulator = started(WorkspaceEmulator(auth_type="aksk"))
    wrong = "Wrong" + emulator.secret_key[5:]
    hook = _workspace_hook(emulator, password=wrong)

    with pytest.raises(ExportAuthError) as caught:
        hook.start_export({"export": "users"})

    text = str(caught.value)
    assert "answered HTTP 401, code APIGW.0301" in text
    assert "verify aksk signature fail, signature mismatch" in text
    assert "clock is within 15 minutes" in text and "lock the AK" in text
    assert wrong not in text and emulator.secret_key not in text
    # No re-signing retry: five failures in a row would lock the AK for five minutes.
    assert len(emulator.requests) == 1
    assert not emulator.exports


def test_wrong_iam_password_fails_with_a_clear_message(started: Callable[..., Any]) -> None:
    emulator = started(DataArtsEmulator(auth_type="iam"))
    wrong = emulator.password + "x"
    hook = _dataarts_hook(emulator, password=wrong)

    with pytest.raises(ExportAuthError) as caught:
        hook.start_export({"type": "TABLE_MODEL"})

    text = str(caught.value)
    assert "get an IAM token answered HTTP 401, code 401: The username or password is wrong." in text
    assert "check the IAM user name, password and account (domain) name" in text
    assert wrong not in text and emulator.password not in text
    assert emulator.token_requests == 0 and not emulator.requests_to("/v2/")


def test_iam_credentials_stay_on_their_origins(started: Callable[..., Any]) -> None:
    emulator = started(DataArtsEmulator(auth_type="iam"))
    hook = _dataarts_hook(emulator)
    export_id = hook.start_export({"type": "TABLE_MODEL", "ids": ["1"]})
    hook.get_status(export_id)

    iam_port = emulator.iam_url.rsplit(":", 1)[1]
    service_port = emulator.url.rsplit(":", 1)[1]
    iam_calls = [r for r in emulator.requests if r.host.endswith(":" + iam_port)]
    service_calls = [r for r in emulator.requests if r.host.endswith(":" + service_port)]
    assert [r.path for r in iam_calls] == ["/v3/auth/tokens"]
    assert "X-Auth-Token" not in iam_calls[0].headers
    assert len(service_calls) == 2
    token = next(iter(emulator.tokens))
    for call in service_calls:
        assert call.headers["X-Auth-Token"] == token
        assert call.headers["workspace"] == emulator.workspace_id
        assert emulator.password.encode() not in call.body


def test_aksk_requests_are_signed_with_project_and_workspace(started: Callable[..., Any]) -> None:
    emulator = started(DataArtsEmulator(auth_type="aksk"))
    hook = _dataarts_hook(emulator)
    export_id = hook.start_export({"type": "TABLE_MODEL", "ids": ["1"]})
    asyncio.run(hook.aget_status(export_id))

    assert emulator.signed_requests == 2 and emulator.token_requests == 0
    for call in emulator.requests:
        auth = parse_authorization(call.headers["Authorization"])
        assert auth is not None and auth.access_key == emulator.access_key
        assert {"host", "x-sdk-date", "x-project-id", "workspace"} <= set(auth.signed_headers)
        assert call.headers["X-Project-Id"] == emulator.project_id
        assert "X-Auth-Token" not in call.headers


@pytest.mark.parametrize("auth_type", AUTH_TYPES)
def test_odd_ids_are_encoded_and_still_signed(started: Callable[..., Any], auth_type: str) -> None:
    emulator = started(WorkspaceEmulator(auth_type=auth_type))
    odd = "x/../y&z=1 %2F.."
    task = emulator.add_export(odd, "SUCCESS", file_name="odd.xlsx", content=b"odd file bytes")
    hook = _workspace_hook(emulator)

    assert asyncio.run(hook.aget_status(odd)).is_success
    sink = io.BytesIO()
    assert hook.download(odd, sink) == len(task.content)
    assert sink.getvalue() == task.content
    download = emulator.requests_to(f"/v2/{emulator.project_id}/export-tasks/{odd}")[-1]
    assert "/export-tasks/x%2F..%2Fy%26z%3D1%20%252F../download" in download.raw_path

    dots = asyncio.run(_status_error(_dataarts_hook(started(DataArtsEmulator(auth_type=auth_type))), ".."))
    assert dots.status == 400 and dots.code == "DS.4006"  # signature valid, id simply unknown


async def _status_error(hook: HuaweiDataArtsHook, export_id: str) -> ExportRequestError:
    with pytest.raises(ExportRequestError) as caught:
        await hook.aget_status(export_id)
    return caught.value


def test_iam_token_invalidated_early_gets_one_fresh_login(started: Callable[..., Any]) -> None:
    emulator = started(WorkspaceEmulator(auth_type="iam"))
    hook = _workspace_hook(emulator)
    task_id = hook.start_export({"export": "desktops"})
    emulator.revoke_tokens()

    assert hook.get_status(task_id).vendor_state == "CREATING"
    emulator.revoke_tokens()
    assert asyncio.run(hook.aget_status(task_id)).vendor_state == "CREATING"
    assert emulator.token_requests == 3
    # The start call was sent once, with the language the desktops export requires.
    starts = emulator.requests_to(f"/v3/{emulator.project_id}/desktops/export")
    assert [r.raw_path.split("?")[1] for r in starts] == ["language=en_US"]


def test_dataarts_finished_status_does_not_read_the_file(started: Callable[..., Any]) -> None:
    emulator = started(DataArtsEmulator(auth_type="aksk", file_padding=6 * 1024 * 1024))
    emulator.script_next("success")
    hook = _dataarts_hook(emulator)
    export_id = hook.start_export({"type": "TABLE_MODEL"})
    assert len(emulator.exports[export_id].content) > 6 * 1024 * 1024

    request = next(hook.status_op(export_id))
    sync_response = hook.sync_transport().run(_probe(request))
    assert sync_response.body_skipped and sync_response.body == b""

    async def _async_probe() -> Response:
        transport = await hook.async_transport()
        return await transport.run(_probe(request))

    async_response = asyncio.run(_async_probe())
    assert async_response.body_skipped and async_response.body == b""
    status = asyncio.run(hook.aget_status(export_id))
    assert status.is_success and status.vendor_state == "success"


def test_dataarts_download_cut_half_way_resumes(started: Callable[..., Any]) -> None:
    emulator = started(DataArtsEmulator(auth_type="iam", file_padding=2 * 1024 * 1024))
    emulator.script_next("success")
    hook = _dataarts_hook(emulator)
    export_id = hook.start_export({"type": "TABLE_MODEL"})
    result_path = f"/v2/{emulator.project_id}/design/export-result"
    # The first cut hits the status check before the download (its body is not read anyway).
    emulator.inject(
        Fault("truncate", after_bytes=4096, path_prefix=result_path),
        Fault("truncate", after_bytes=1024 * 1024, path_prefix=result_path),
    )

    sink = io.BytesIO()
    size = hook.download(export_id, sink)

    assert sink.getvalue() == emulator.exports[export_id].content and size == len(sink.getvalue())
    assert not emulator.faults
    ranges = [r.headers.get("Range") for r in emulator.requests_to(result_path)]
    assert ranges[-1] == "bytes=1048576-"


def test_workspace_transient_errors_are_retried(started: Callable[..., Any]) -> None:
    emulator = started(WorkspaceEmulator(auth_type="aksk"))
    hook = _workspace_hook(emulator)
    task_id = hook.start_export({"export": "users"})
    list_path = f"/v2/{emulator.project_id}/export-tasks"
    emulator.inject(
        Fault("status", status=503, path_prefix=list_path),
        Fault("status", status=429, headers={"Retry-After": "0"}, path_prefix=list_path),
        Fault("drop", path_prefix=list_path),
    )

    assert hook.get_status(task_id).vendor_state == "CREATING"
    assert not emulator.faults
    # Two signatures verified (start, and the list call that got through); no re-login for AK/SK.
    assert emulator.signed_requests == 2 and emulator.token_requests == 0


def test_workspace_html_error_page_is_reported_clearly(started: Callable[..., Any]) -> None:
    emulator = started(WorkspaceEmulator(auth_type="aksk"))
    hook = _workspace_hook(emulator)
    emulator.inject(
        Fault(
            "status",
            status=403,
            body="<html><body><h1>403 Forbidden</h1>Blocked by the proxy</body></html>",
            content_type="text/html",
            path_prefix="/v2/",
        )
    )

    with pytest.raises(ExportAuthError) as caught:
        hook.get_status("some-task")
    text = str(caught.value)
    assert "answered HTTP 403: <html><body><h1>403 Forbidden</h1>Blocked by the proxy" in text
    assert "grant the IAM user the service's permissions" in text


def test_unknown_task_id_is_a_clear_error(started: Callable[..., Any]) -> None:
    emulator = started(WorkspaceEmulator(auth_type="aksk", filler_tasks=3))
    with pytest.raises(ExportRequestError) as caught:
        _workspace_hook(emulator).get_status("no-such-task")
    assert "the task is not in the export task list" in str(caught.value)

    with pytest.raises(ExportConfigError, match="needs 'export'"):
        _workspace_hook(emulator).start_export({"export": "printers"})
