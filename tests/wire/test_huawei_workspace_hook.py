"""The Huawei Cloud Workspace hook against its emulator over loopback (IAM on another origin),
both auth modes and both runners (requests; aiohttp inside one pooled session).

Lifecycle (start, the task list's states to success, the file, the task record as log), failed
and expired tasks, IAM token renewal, list paging, and the Workspace hook-level checks that used
to live beside the DAG runs in tests/integration/test_huawei_dags.py.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from wire_support import RUNNERS, poll_status, poll_statuses, wire_hook

from airflow_provider_exports.errors import ExportAuthError, ExportConfigError, ExportRequestError
from airflow_provider_exports.hooks.base import ExportHook
from airflow_provider_exports.status import ExportState
from airflow_provider_exports.testing import Fault, Step
from airflow_provider_exports.testing.huawei import WorkspaceEmulator

AUTH_TYPES = ["aksk", "iam"]
USERS = {"export": "users", "params": {"language": "en_US", "user_names": ["alice", "bob_01"]}}

Started = Callable[..., WorkspaceEmulator]


@pytest.fixture
def workspace(make_emulator: Callable[..., Any]) -> Started:
    """Start a Workspace emulator with the given options (stopped after the test)."""

    def _start(**options: Any) -> WorkspaceEmulator:
        emulator: WorkspaceEmulator = make_emulator("huawei_workspace", **options)
        return emulator

    return _start


def _hook(emulator: WorkspaceEmulator, **overrides: Any) -> ExportHook:
    return wire_hook(emulator, "workspace_wire", **overrides)


def _list_path(emulator: WorkspaceEmulator) -> str:
    return f"/v2/{emulator.project_id}/export-tasks"


def _list_calls(emulator: WorkspaceEmulator) -> list[Any]:
    return [r for r in emulator.requests if r.method == "GET" and r.path == _list_path(emulator)]


# ---- lifecycle ---------------------------------------------------------------------------------


@RUNNERS
@pytest.mark.parametrize("auth_type", AUTH_TYPES)
def test_a_task_runs_to_success_then_downloads_and_logs(
    workspace: Started, runner: str, auth_type: str
) -> None:
    emulator = workspace(auth_type=auth_type)
    hook = _hook(emulator)
    task_id = hook.start_export(USERS)
    task = emulator.exports[task_id]
    assert task.payload == {"language": "en_US", "user_names": ["alice", "bob_01"]}

    seen = poll_statuses(hook, task_id, runner)
    assert [(s.vendor_state, s.state) for s in seen] == [
        ("CREATING", ExportState.RUNNING),
        ("CREATING", ExportState.RUNNING),
        ("SUCCESS", ExportState.SUCCEEDED),
    ]
    assert seen[-1].progress == 100 and seen[-1].artifacts == {"file_name": task.file_name}
    # Each poll is one filtered list call, newest first.
    for call in _list_calls(emulator):
        assert f"task_id={task_id}" in call.raw_path and "sort_type=DESC" in call.raw_path

    sink = io.BytesIO()
    assert hook.download(task_id, sink) == len(task.content)
    assert sink.getvalue() == task.content and task.extra["downloaded"] is True
    log = hook.fetch_log(task_id)
    assert log.startswith(f"export {task_id!r}, vendor state 'SUCCESS', progress 100%")
    assert f'"file_name": "{task.file_name}"' in log
    if auth_type == "iam":
        assert emulator.token_requests == 1 and emulator.signed_requests == 0
    else:
        assert emulator.signed_requests >= 1 and emulator.token_requests == 0


@RUNNERS
def test_a_failed_task_carries_fail_reason_and_error_code(workspace: Started, runner: str) -> None:
    emulator = workspace(auth_type="aksk")
    emulator.script_next(
        "CREATING", Step("FAIL", message="Too many users to export in one file", code="WKS.0127")
    )
    hook = _hook(emulator)
    task_id = hook.start_export(USERS)

    seen = poll_statuses(hook, task_id, runner)
    assert [s.vendor_state for s in seen] == ["CREATING", "FAIL"]
    failed = seen[-1]
    assert failed.state is ExportState.FAILED
    assert (failed.error_code, failed.message) == ("WKS.0127", "Too many users to export in one file")
    log = hook.fetch_log(task_id)
    assert (
        '"fail_reason": "Too many users to export in one file"' in log and '"error_code": "WKS.0127"' in log
    )
    with pytest.raises(ExportRequestError, match=r"no file to download .*vendor state 'FAIL'"):
        hook.download(task_id, io.BytesIO())
    assert not emulator.requests_to(f"{_list_path(emulator)}/{task_id}/download")


@RUNNERS
def test_an_expired_task_says_its_file_is_gone(workspace: Started, runner: str) -> None:
    emulator = workspace(auth_type="iam")
    emulator.script_next("CREATING", "EXPIRED")
    hook = _hook(emulator)
    task_id = hook.start_export(USERS)

    expired = poll_statuses(hook, task_id, runner)[-1]
    assert (expired.vendor_state, expired.state) == ("EXPIRED", ExportState.EXPIRED)
    assert expired.message is not None and "the export file has expired" in expired.message
    with pytest.raises(ExportRequestError, match="no file to download"):
        hook.download(task_id, io.BytesIO())
    assert "downloaded" not in emulator.exports[task_id].extra


@RUNNERS
def test_an_invalidated_iam_token_is_renewed_once(workspace: Started, runner: str) -> None:
    emulator = workspace(auth_type="iam")
    emulator.add_export("task-1", "CREATING")
    hook = _hook(emulator)
    assert poll_status(hook, "task-1", runner).vendor_state == "CREATING"
    emulator.revoke_tokens()  # as a password change does: the token still looks unexpired

    assert poll_status(hook, "task-1", runner).vendor_state == "CREATING"
    assert emulator.token_requests == 2
    first, second = emulator.tokens
    polls = [r.headers["X-Auth-Token"] for r in _list_calls(emulator)]
    assert polls == [first, first, second], "one call met the invalidated token"


def test_an_invalidated_token_after_the_start_gets_one_fresh_login(workspace: Started) -> None:
    emulator = workspace(auth_type="iam")
    hook = _hook(emulator)
    task_id = hook.start_export({"export": "desktops"})
    emulator.revoke_tokens()

    assert hook.get_status(task_id).vendor_state == "CREATING"
    emulator.revoke_tokens()
    assert poll_status(hook, task_id, "aiohttp").vendor_state == "CREATING"
    assert emulator.token_requests == 3
    # The start call was sent once, with the language the desktops export requires.
    starts = emulator.requests_to(f"/v3/{emulator.project_id}/desktops/export")
    assert [r.raw_path.split("?")[1] for r in starts] == ["language=en_US"]


@RUNNERS
def test_a_task_on_page_two_is_found_when_the_filter_is_ignored(workspace: Started, runner: str) -> None:
    # 150 older tasks listed first, filter and sort ignored: the new task is item 151, on page 2.
    emulator = workspace(auth_type="aksk", ignore_filters=True, filler_tasks=150)
    hook = _hook(emulator)
    task_id = hook.start_export(USERS)

    assert poll_status(hook, task_id, runner).vendor_state == "CREATING"
    offsets = [r.raw_path.split("offset=")[1].split("&")[0] for r in _list_calls(emulator)]
    assert offsets == ["0", "100"]


# ---- auth, ids and errors ----------------------------------------------------------------------


@pytest.mark.parametrize("auth_type", AUTH_TYPES)
def test_test_connection(workspace: Started, auth_type: str) -> None:
    ok, message = _hook(workspace(auth_type=auth_type)).test_connection()
    assert ok, message
    assert "0 export tasks" in message and f"({auth_type} authentication)" in message


def test_wrong_secret_key_fails_once_with_a_clear_message(workspace: Started) -> None:
    emulator = workspace(auth_type="aksk")
    wrong = "Wrong" + emulator.secret_key[5:]
    with pytest.raises(ExportAuthError) as caught:
        _hook(emulator, password=wrong).start_export(USERS)

    text = str(caught.value)
    assert "answered HTTP 401, code APIGW.0301" in text
    assert "verify aksk signature fail, signature mismatch" in text
    assert "clock is within 15 minutes" in text and "lock the AK" in text
    assert wrong not in text and emulator.secret_key not in text
    # No re-signing retry: five failures in a row would lock the AK for five minutes.
    assert len(emulator.requests) == 1
    assert not emulator.exports


@RUNNERS
@pytest.mark.parametrize("auth_type", AUTH_TYPES)
def test_odd_ids_are_encoded_and_still_signed(workspace: Started, runner: str, auth_type: str) -> None:
    emulator = workspace(auth_type=auth_type)
    odd = "x/../y&z=1 %2F.."
    task = emulator.add_export(odd, "SUCCESS", file_name="odd.xlsx", content=b"odd file bytes")
    hook = _hook(emulator)

    assert poll_status(hook, odd, runner).is_success
    sink = io.BytesIO()
    assert hook.download(odd, sink) == len(task.content)
    assert sink.getvalue() == task.content
    download = emulator.requests_to(f"{_list_path(emulator)}/{odd}")[-1]
    assert "/export-tasks/x%2F..%2Fy%26z%3D1%20%252F../download" in download.raw_path


@RUNNERS
def test_transient_errors_are_retried(workspace: Started, runner: str) -> None:
    emulator = workspace(auth_type="aksk")
    hook = _hook(emulator)
    task_id = hook.start_export(USERS)
    emulator.inject(
        Fault("status", status=503, path_prefix=_list_path(emulator)),
        Fault("status", status=429, headers={"Retry-After": "0"}, path_prefix=_list_path(emulator)),
        Fault("drop", path_prefix=_list_path(emulator)),
    )

    assert poll_status(hook, task_id, runner).vendor_state == "CREATING"
    assert not emulator.faults
    # Two signatures verified (start, and the list call that got through); no re-login for AK/SK.
    assert emulator.signed_requests == 2 and emulator.token_requests == 0


@RUNNERS
def test_an_html_error_page_is_reported_clearly(workspace: Started, runner: str) -> None:
    emulator = workspace(auth_type="aksk")
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
        poll_status(_hook(emulator), "some-task", runner)
    text = str(caught.value)
    assert "answered HTTP 403: <html><body><h1>403 Forbidden</h1>Blocked by the proxy" in text
    assert "grant the IAM user the service's permissions" in text


@RUNNERS
def test_an_unknown_task_id_is_a_clear_error(workspace: Started, runner: str) -> None:
    emulator = workspace(auth_type="aksk", filler_tasks=3)
    with pytest.raises(ExportRequestError) as caught:
        poll_status(_hook(emulator), "no-such-task", runner)
    assert "the task is not in the export task list" in str(caught.value)


def test_an_unknown_export_kind_is_refused_before_any_call(workspace: Started) -> None:
    emulator = workspace(auth_type="aksk")
    with pytest.raises(ExportConfigError, match="needs 'export'"):
        _hook(emulator).start_export({"export": "printers"})
    assert not emulator.requests
