"""The start calls of DataArts Studio (export-model) and Workspace (export tasks) against their
documented answer: HTTP 200, a JSON object, carrying ``data.uuid`` (DataArts) or ``task_id``
(Workspace). Anything else fails at once with ExportResponseError naming the vendor, the call, the
status, the content type and the start of the body (issue 17, defect 1). Pure: no HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_exports.errors import ExportRequestError, ExportResponseError
from airflow_provider_exports.hooks.huawei.dataarts import HuaweiDataArtsHook
from airflow_provider_exports.hooks.huawei.workspace import HuaweiWorkspaceHook
from airflow_provider_exports.transport import Op, Request, Response

PROJECT = "0b5f4a6e3c2d4e1f8a9b7c6d5e4f3a2b"
LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in</title></head>"
    b"<body><form action='/login'>Corporate proxy: please sign in</form></body></html>"
)


def _connection(conn_type: str, **extra: Any) -> Connection:
    extras = {"auth_type": "aksk", "region": "cn-north-4", "project_id": PROJECT, **extra}
    return Connection(
        conn_id="huawei_start_unit",
        conn_type=conn_type,
        login="QTWAOYTTINDUT2QVKYUC",
        password="sk-start-answer-unit-test",
        extra=json.dumps(extras),
    )


def _dataarts_start() -> Op[str]:
    hook = HuaweiDataArtsHook("d", connection=_connection("huawei_dataarts", workspace_id="ws-1"))
    return hook.start_op({"type": "TABLE_MODEL", "ids": ["1"]})


def _workspace_users_start() -> Op[str]:
    hook = HuaweiWorkspaceHook("w", connection=_connection("huawei_workspace"))
    return hook.start_op({"export": "users", "params": {"language": "en_US"}})


def _workspace_desktops_start() -> Op[str]:
    hook = HuaweiWorkspaceHook("w", connection=_connection("huawei_workspace"))
    return hook.start_op({"export": "desktops", "params": {"user_names": ["alice"]}})


#: (vendor, the call as named in messages, the operation, a documented good answer).
STARTS: dict[str, tuple[str, str, Callable[[], Op[str]], dict[str, Any]]] = {
    "dataarts": (
        "Huawei Cloud DataArts Studio",
        "start an Excel export",
        _dataarts_start,
        # shared/vendor-apis/huawei.md section 2, E1 200 response.
        {"data": {"uuid": "fd653968-864b-45f6-9842-2b125d2dbfb9"}},
    ),
    "workspace_users": (
        "Huawei Cloud Workspace",
        "start a users export task",
        _workspace_users_start,
        {"task_id": "2c10d098-5e3c-4b1e-9f7a-0d1e2f3a4b5c"},
    ),
    "workspace_desktops": (
        "Huawei Cloud Workspace",
        "start a desktops export task",
        _workspace_desktops_start,
        {"task_id": "2c10d098-5e3c-4b1e-9f7a-0d1e2f3a4b5c"},
    ),
}


def _answer(
    op: Op[str], status: int, body: bytes | Mapping[str, Any] | list[Any], content_type: str | None
) -> str:
    """Send the start operation one answer; its result (the export id)."""
    request = next(op)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": content_type} if content_type is not None else {}
    try:
        op.send(Response(status, headers, raw, f"https://example.test{request.url}", request))
    except StopIteration as stop:
        return str(stop.value)
    raise AssertionError("the start operation asked for a second request")


def _first_request(case: str) -> Request:
    return next(STARTS[case][2]())


@pytest.mark.parametrize("case", list(STARTS))
@pytest.mark.parametrize(
    "content_type", ["application/json;charset=UTF-8", "application/json", "application/json; charset=utf-8"]
)
def test_the_documented_answer_gives_the_id(case: str, content_type: str) -> None:
    _, _, start, good = STARTS[case]
    expected = good["data"]["uuid"] if "data" in good else good["task_id"]
    assert _answer(start(), 200, good, content_type) == expected


@pytest.mark.parametrize("case", list(STARTS))
def test_a_start_is_never_resent(case: str) -> None:
    assert not _first_request(case).idempotent


BAD_ANSWERS: dict[str, tuple[int, bytes | dict[str, Any] | list[Any], str | None, list[str]]] = {
    # A proxy or captive portal answering for the service: 200 and a login page.
    "html_page": (200, LOGIN_PAGE, "text/html; charset=utf-8", ["text/html", "an HTML page", "Sign in"]),
    # The same page mislabelled as JSON.
    "html_labelled_json": (200, LOGIN_PAGE, "application/json", ["application/json", "an HTML page"]),
    "xhtml_page": (200, LOGIN_PAGE, "application/xhtml+xml", ["application/xhtml+xml", "an HTML page"]),
    "malformed_json": (200, b'{"data": {"uuid": "fd65', "application/json", ["malformed JSON", '{"data"']),
    "empty_body": (200, b"", "application/json", ["<empty body>"]),
    "plain_text": (200, b"export started", "text/plain", ["text/plain", "export started"]),
    "json_array": (200, [{"task_id": "t"}], "application/json", ["a JSON object"]),
    "no_id": (200, {"data": {}, "result": "ok"}, "application/json", ['"result"']),
    "wrong_id_field": (200, {"job_id": "j-1", "uuid": "u-1"}, "application/json", ['"job_id"']),
    "empty_id": (200, {"data": {"uuid": ""}, "task_id": ""}, "application/json", ['"uuid"']),
    "id_not_a_string": (200, {"data": {"uuid": 42}, "task_id": 42}, "application/json", ["42"]),
    # The documented answer is 200 with a body; 204 has none, 202 is not what the API says.
    "no_content": (204, b"", None, ["HTTP 204"]),
    "accepted_instead_of_200": (
        202,
        {"data": {"uuid": "u-1"}, "task_id": "t-1"},
        "application/json",
        ["HTTP 202", "200"],
    ),
}


@pytest.mark.parametrize("case", list(STARTS))
@pytest.mark.parametrize("bad", list(BAD_ANSWERS))
def test_an_answer_that_is_not_the_documented_one_fails_at_once(case: str, bad: str) -> None:
    vendor, what, start, _ = STARTS[case]
    status, body, content_type, must_say = BAD_ANSWERS[bad]
    with pytest.raises(ExportResponseError) as caught:
        _answer(start(), status, body, content_type)
    error = caught.value
    text = str(error)
    assert type(error) is ExportResponseError
    assert error.vendor == vendor and error.status == status
    assert text.startswith(f"{vendor}: {what} answered HTTP {status}"), text
    assert (content_type or "no content type").split(";")[0] in text
    for phrase in must_say:
        assert phrase in text, text


def test_messages_keep_only_the_start_of_a_large_page() -> None:
    start = STARTS["dataarts"][2]
    page = b"<html><body>" + b"x" * 100_000 + b"</body></html>"
    with pytest.raises(ExportResponseError) as caught:
        _answer(start(), 200, page, "text/html")
    assert len(str(caught.value)) < 600


@pytest.mark.parametrize("case", list(STARTS))
def test_an_error_body_sent_with_200_is_the_vendor_error(case: str) -> None:
    # Workspace's error code table lists some WKS codes with HTTP 200: reported as that error.
    vendor, what, start, _ = STARTS[case]
    body = {"error_code": "WKS.0127", "error_msg": "Too many users to export in one file"}
    with pytest.raises(ExportRequestError) as caught:
        _answer(start(), 200, body, "application/json")
    assert caught.value.code == "WKS.0127"
    assert str(caught.value).startswith(f"{vendor}: {what} answered HTTP 200, code WKS.0127")
