"""The Huawei Cloud DataArts Studio hook against its emulator over loopback (IAM on another
origin), both auth modes and both runners (requests; aiohttp inside one pooled session).

Lifecycle (start, statuses to success, the Excel file, the log), a failed export's message,
IAM token renewal, and the DataArts hook-level checks that used to live beside the DAG runs in
tests/integration/test_huawei_dags.py.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from wire_support import RUNNERS, poll_status, poll_statuses, wire_hook

from airflow_provider_exports.errors import ExportAuthError, ExportRequestError
from airflow_provider_exports.hooks.base import ExportHook
from airflow_provider_exports.status import ExportState
from airflow_provider_exports.testing import Fault, Step
from airflow_provider_exports.testing.huawei import DataArtsEmulator
from airflow_provider_exports.testing.huawei_signing import parse_authorization
from airflow_provider_exports.transport import Op, Request, Response
from airflow_provider_exports.transport.aio import pooled_session

AUTH_TYPES = ["aksk", "iam"]
PAYLOAD = {"type": "TABLE_MODEL", "ids": ["1160236484595425279", "1160236484595425280"]}

Started = Callable[..., DataArtsEmulator]


@pytest.fixture
def dataarts(make_emulator: Callable[..., Any]) -> Started:
    """Start a DataArts emulator with the given options (stopped after the test)."""

    def _start(**options: Any) -> DataArtsEmulator:
        emulator: DataArtsEmulator = make_emulator("huawei_dataarts", **options)
        return emulator

    return _start


def _hook(emulator: DataArtsEmulator, **overrides: Any) -> ExportHook:
    return wire_hook(emulator, "dataarts_wire", **overrides)


def _result_path(emulator: DataArtsEmulator) -> str:
    return f"/v2/{emulator.project_id}/design/export-result"


def _assert_auth_mode_used(emulator: DataArtsEmulator) -> None:
    if emulator.auth_type == "iam":
        assert emulator.token_requests == 1 and emulator.signed_requests == 0
    else:
        assert emulator.signed_requests >= 1 and emulator.token_requests == 0


# ---- lifecycle ---------------------------------------------------------------------------------


@RUNNERS
@pytest.mark.parametrize("auth_type", AUTH_TYPES)
def test_an_export_runs_to_success_then_downloads_and_logs(
    dataarts: Started, runner: str, auth_type: str
) -> None:
    emulator = dataarts(auth_type=auth_type)
    hook = _hook(emulator)
    export_id = hook.start_export(PAYLOAD)
    (start,) = emulator.requests_to(f"/v2/{emulator.project_id}/design/export-model")
    assert json.loads(start.body) == {**PAYLOAD, "asyn": True}
    assert start.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert start.headers["workspace"] == emulator.workspace_id

    seen = poll_statuses(hook, export_id, runner)
    assert [(s.vendor_state, s.state, s.progress) for s in seen] == [
        ("importing", ExportState.RUNNING, 0),
        ("importing", ExportState.RUNNING, 40),
        ("importing", ExportState.RUNNING, 80),
        ("success", ExportState.SUCCEEDED, 100),
    ]

    content = emulator.exports[export_id].content
    sink = io.BytesIO()
    assert hook.download(export_id, sink) == len(content)
    assert sink.getvalue() == content
    log = hook.fetch_log(export_id)
    assert log.startswith(f"export {export_id!r}, vendor state 'success', progress 100%")
    assert "the result endpoint now answers with the Excel file" in log
    _assert_auth_mode_used(emulator)


@RUNNERS
def test_a_failed_export_carries_the_vendor_message(dataarts: Started, runner: str) -> None:
    emulator = dataarts(auth_type="aksk")
    emulator.script_next(
        Step("importing", 20),
        Step("fail", 35, message="Table model 1160236484595425279 was deleted", code="DS.6021"),
    )
    hook = _hook(emulator)
    export_id = hook.start_export(PAYLOAD)

    seen = poll_statuses(hook, export_id, runner)
    assert [s.vendor_state for s in seen] == ["importing", "fail"]
    failed = seen[-1]
    assert (failed.state, failed.progress) == (ExportState.FAILED, 35)
    assert failed.message == "[DS.6021] Table model 1160236484595425279 was deleted"
    log = hook.fetch_log(export_id)
    assert "[DS.6021] Table model 1160236484595425279 was deleted" in log
    assert '"operation_status": "FAILED"' in log
    with pytest.raises(ExportRequestError, match=r"the file is not ready .*vendor state 'fail'"):
        hook.download(export_id, io.BytesIO())


@RUNNERS
def test_an_invalidated_iam_token_is_renewed_once(dataarts: Started, runner: str) -> None:
    emulator = dataarts(auth_type="iam")
    emulator.add_export("e1", "importing")
    hook = _hook(emulator)
    assert poll_status(hook, "e1", runner).vendor_state == "importing"
    emulator.revoke_tokens()  # as a password change does: the token still looks unexpired

    assert poll_status(hook, "e1", runner).vendor_state == "importing"
    assert emulator.token_requests == 2
    first, second = emulator.tokens
    polls = [r.headers["X-Auth-Token"] for r in emulator.requests_to(_result_path(emulator))]
    assert polls == [first, first, second], "one call met the invalidated token"


# ---- auth and origins --------------------------------------------------------------------------


@pytest.mark.parametrize("auth_type", AUTH_TYPES)
def test_test_connection(dataarts: Started, auth_type: str) -> None:
    emulator = dataarts(auth_type=auth_type)
    ok, message = _hook(emulator).test_connection()
    assert ok, message
    assert f"workspace {emulator.workspace_id}" in message

    extra = {**emulator.connection()["extra"], "workspace_id": "not-my-workspace"}
    ok, message = _hook(emulator, extra=extra).test_connection()
    assert not ok
    assert "HTTP 400, code DS.4001" in message and "workspace" in message


def test_wrong_iam_password_fails_with_a_clear_message(dataarts: Started) -> None:
    emulator = dataarts(auth_type="iam")
    wrong = emulator.password + "x"
    with pytest.raises(ExportAuthError) as caught:
        _hook(emulator, password=wrong).start_export(PAYLOAD)

    text = str(caught.value)
    assert "get an IAM token answered HTTP 401, code 401: The username or password is wrong." in text
    assert "check the IAM user name, password and account (domain) name" in text
    assert wrong not in text and emulator.password not in text
    assert emulator.token_requests == 0 and not emulator.requests_to("/v2/")


def test_iam_credentials_stay_on_their_origins(dataarts: Started) -> None:
    emulator = dataarts(auth_type="iam")
    hook = _hook(emulator)
    export_id = hook.start_export(PAYLOAD)
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


@RUNNERS
def test_aksk_requests_are_signed_with_project_and_workspace(dataarts: Started, runner: str) -> None:
    emulator = dataarts(auth_type="aksk")
    hook = _hook(emulator)
    export_id = hook.start_export(PAYLOAD)
    poll_status(hook, export_id, runner)

    assert emulator.signed_requests == 2 and emulator.token_requests == 0
    for call in emulator.requests:
        auth = parse_authorization(call.headers["Authorization"])
        assert auth is not None and auth.access_key == emulator.access_key
        assert {"host", "x-sdk-date", "x-project-id", "workspace"} <= set(auth.signed_headers)
        assert call.headers["X-Project-Id"] == emulator.project_id
        assert "X-Auth-Token" not in call.headers


@RUNNERS
@pytest.mark.parametrize("auth_type", AUTH_TYPES)
def test_an_odd_id_is_encoded_signed_and_simply_unknown(
    dataarts: Started, runner: str, auth_type: str
) -> None:
    emulator = dataarts(auth_type=auth_type)
    with pytest.raises(ExportRequestError) as caught:
        poll_status(_hook(emulator), "..", runner)
    assert caught.value.status == 400 and caught.value.code == "DS.4006"  # signature valid, id unknown
    (call,) = emulator.requests_to(_result_path(emulator))
    assert call.raw_path.endswith("?uuid=..")


# ---- the result endpoint answers with the file ------------------------------------------------


def _probe(request: Request) -> Op[Response]:
    response = yield request
    return response


def test_a_finished_status_does_not_read_the_file(dataarts: Started) -> None:
    emulator = dataarts(auth_type="aksk", file_padding=6 * 1024 * 1024)
    emulator.script_next("success")
    hook = _hook(emulator)
    export_id = hook.start_export(PAYLOAD)
    assert len(emulator.exports[export_id].content) > 6 * 1024 * 1024

    request = next(hook.status_op(export_id))
    sync_response = hook.sync_transport().run(_probe(request))
    assert sync_response.body_skipped and sync_response.body == b""

    async def _async_probe() -> Response:
        async with pooled_session():
            transport = await hook.async_transport()
            return await transport.run(_probe(request))

    async_response = asyncio.run(_async_probe())
    assert async_response.body_skipped and async_response.body == b""
    status = poll_status(hook, export_id, "aiohttp")
    assert status.is_success and status.vendor_state == "success"


def test_a_download_cut_half_way_resumes(dataarts: Started) -> None:
    emulator = dataarts(auth_type="iam", file_padding=2 * 1024 * 1024)
    emulator.script_next("success")
    hook = _hook(emulator)
    export_id = hook.start_export(PAYLOAD)
    result_path = _result_path(emulator)
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
