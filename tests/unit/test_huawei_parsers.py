"""Huawei Cloud parsers, request builders and authenticators, fed with the examples of the vendor
docs (shared/seeds/003 and 004, shared/vendor-apis/huawei.md). Pure: no HTTP."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import pytest
from airflow.sdk import Connection

from airflow_provider_exports.errors import (
    ExportAuthError,
    ExportConfigError,
    ExportRequestError,
    ExportResponseError,
)
from airflow_provider_exports.hooks.huawei.auth import (
    AkSkAuth,
    HuaweiSettings,
    IamTokenAuth,
    iam_token_body,
    parse_error,
    parse_token,
    raise_for_status,
)
from airflow_provider_exports.hooks.huawei.dataarts import (
    HuaweiDataArtsHook,
    parse_result,
    parse_result_body,
    parse_start,
)
from airflow_provider_exports.hooks.huawei.workspace import (
    HuaweiWorkspaceHook,
    parse_task,
    parse_task_id,
    parse_task_page,
)
from airflow_provider_exports.status import ExportState
from airflow_provider_exports.testing.huawei_signing import parse_authorization, verify_signature
from airflow_provider_exports.transport import Credential, Request, Response

PROJECT = "0b5f4a6e3c2d4e1f8a9b7c6d5e4f3a2b"
SECRET = "sk-unit-test-0123456789abcdef"

# seed 003, "Example Responses", status code 200.
SEED_EXPORT_RESULT = """{
"data" : {
"status" : "importing",
"group" : null,
"rate" : "0"
}
}"""
# huawei.md 2, E1 200 response.
DOC_EXPORT_MODEL = '{"data": {"uuid": "fd653968-864b-45f6-9842-2b125d2dbfb9"}}'
# seed 004, "Example Responses", status code 200.
SEED_EXPORT_TASKS = """{
"export_tasks" : [ {
"task_id" : "string",
"file_name" : "string",
"status" : "CREATING",
"fail_reason" : "string",
"error_code" : "string",
"create_time" : "2022-03-28'T'00:00:00.000Z",
"end_time" : "2022-03-28'T'00:00:00.000Z",
"is_download" : true
} ],
"count" : 1
}"""


def _response(
    status: int,
    body: bytes | str | Mapping[str, Any] = b"",
    *,
    content_type: str = "application/json;charset=UTF-8",
    headers: Mapping[str, str] | None = None,
    skipped: bool = False,
) -> Response:
    raw = json.dumps(body).encode() if isinstance(body, Mapping) else body
    raw = raw.encode() if isinstance(raw, str) else raw
    request = Request("GET", f"https://example.test/v2/{PROJECT}/x", "a call")
    return Response(
        status,
        {"Content-Type": content_type, **(headers or {})},
        b"" if skipped else raw,
        request.url,
        request,
        body_skipped=skipped,
    )


def _connection(conn_type: str, **extra: Any) -> Connection:
    extras = {"auth_type": "aksk", "region": "cn-north-4", "project_id": PROJECT, **extra}
    return Connection(
        conn_id="huawei_unit",
        conn_type=conn_type,
        login="QTWAOYTTINDUT2QVKYUC",
        password=SECRET,
        extra=json.dumps({k: v for k, v in extras.items() if v is not None}),
    )


def _workspace_hook(**options: Any) -> HuaweiWorkspaceHook:
    return HuaweiWorkspaceHook("w", connection=_connection("huawei_workspace"), **options)


def _dataarts_hook(**extra: Any) -> HuaweiDataArtsHook:
    return HuaweiDataArtsHook("d", connection=_connection("huawei_dataarts", workspace_id="ws-1", **extra))


def _settings(**overrides: Any) -> HuaweiSettings:
    values: dict[str, Any] = {
        "auth_type": "aksk",
        "login": "QTWAOYTTINDUT2QVKYUC",
        "secret": SECRET,
        "project_id": PROJECT,
        "endpoint": "https://workspace.cn-north-4.myhuaweicloud.com",
    }
    return HuaweiSettings(**{**values, **overrides})


# ---- DataArts --------------------------------------------------------------------------------------


def test_dataarts_start_answer_from_the_docs() -> None:
    assert parse_start(json.loads(DOC_EXPORT_MODEL)) == "fd653968-864b-45f6-9842-2b125d2dbfb9"
    with pytest.raises(ExportResponseError, match=r"no data\.uuid"):
        parse_start({"data": {}})


def test_dataarts_status_example_from_the_seed_is_running() -> None:
    status = parse_result(_response(200, SEED_EXPORT_RESULT), "fd653968")
    assert status.state is ExportState.RUNNING
    assert (status.vendor_state, status.progress, status.message) == ("importing", 0, None)
    assert not status.is_terminal


@pytest.mark.parametrize(
    ("rate", "progress"), [("0", 0), ("45", 45), ("45%", 45), ("99.5", 99), ("n/a", None)]
)
def test_dataarts_rate_is_read_leniently(rate: str, progress: int | None) -> None:
    status = parse_result_body({"data": {"status": "importing", "group": None, "rate": rate}}, "u")
    assert status.progress == progress


def test_dataarts_fail_carries_the_group_logs() -> None:
    body = {
        "data": {
            "status": "fail",
            "rate": "35",
            "group": {
                "operation_status": "FAILED",
                "remark": "model deleted",
                "logs": "[DS.6021] model deleted",
            },
        }
    }
    status = parse_result_body(body, "u")
    assert status.state is ExportState.FAILED and status.is_terminal
    assert status.message == "[DS.6021] model deleted"
    assert status.progress == 35


def test_dataarts_json_success_is_complete() -> None:
    status = parse_result_body({"data": {"status": "success", "rate": "90"}}, "u")
    assert status.is_success and status.progress == 100


def test_dataarts_unknown_state_waits_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        first = parse_result_body({"data": {"status": "queued-for-unit-test"}}, "u")
        parse_result_body({"data": {"status": "queued-for-unit-test"}}, "u")
    assert first.state is None and not first.is_terminal
    assert len([r for r in caplog.records if "queued-for-unit-test" in r.getMessage()]) == 1


@pytest.mark.parametrize(
    ("content_type", "headers"),
    [
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", {}),
        ("application/octet-stream", {}),
        ("text/plain", {"Content-Disposition": 'attachment; filename="export.xlsx"'}),
    ],
)
def test_dataarts_file_answer_means_success(content_type: str, headers: dict[str, str]) -> None:
    status = parse_result(_response(200, content_type=content_type, headers=headers, skipped=True), "u")
    assert status.is_success and status.vendor_state == "success" and status.progress == 100


@pytest.mark.parametrize("content_type", ["text/html", "text/plain", ""])
def test_dataarts_page_instead_of_file_is_an_error(content_type: str) -> None:
    with pytest.raises(ExportResponseError, match="expected JSON or the export file"):
        parse_result(_response(200, b"<html>login</html>", content_type=content_type, skipped=True), "u")


def test_dataarts_malformed_json_and_error_with_200_are_errors() -> None:
    with pytest.raises(ExportResponseError, match="malformed JSON"):
        parse_result(_response(200, b'{"data": {"status": '), "u")
    with pytest.raises(ExportRequestError) as caught:
        parse_result(
            _response(200, {"error_code": "DS.6002", "error_msg": "uuid expired", "data": None}), "u"
        )
    assert caught.value.code == "DS.6002" and "uuid expired" in str(caught.value)


def test_dataarts_requests_carry_workspace_and_project() -> None:
    hook = _dataarts_hook()
    start = next(hook.start_op({"type": "TABLE_MODEL", "ids": ["1"]}))
    assert (start.method, start.url) == ("POST", f"/v2/{PROJECT}/design/export-model")
    assert json.loads(start.body or b"") == {"type": "TABLE_MODEL", "ids": ["1"], "asyn": True}
    assert start.headers["workspace"] == "ws-1" and start.headers["X-Project-Id"] == PROJECT
    assert not start.idempotent
    poll = next(hook.status_op("a/b&c"))
    assert poll.url == f"/v2/{PROJECT}/design/export-result" and poll.params == (("uuid", "a/b&c"),)
    assert poll.read_body == "json-only" and poll.headers["workspace"] == "ws-1"
    with pytest.raises(ExportConfigError, match="asyn"):
        next(hook.start_op({"type": "TABLE_MODEL", "asyn": False}))


# ---- Workspace -------------------------------------------------------------------------------------


def test_workspace_list_example_from_the_seed() -> None:
    page = parse_task_page(json.loads(SEED_EXPORT_TASKS))
    assert page.count == 1
    item = page.find("string")
    assert item is not None
    status = parse_task(item, "string")
    assert status.state is ExportState.RUNNING and status.vendor_state == "CREATING"
    # Not a failure: the example's placeholder fail_reason / error_code are not reported.
    assert status.message is None and status.error_code is None
    assert status.started_at is not None and status.started_at.year == 2022
    assert status.artifacts == {"file_name": "string"}


def test_workspace_fail_reports_reason_and_code() -> None:
    item = {"task_id": "t", "status": "FAIL", "fail_reason": "Too many users", "error_code": "WKS.0127"}
    status = parse_task(item, "t")
    assert status.state is ExportState.FAILED
    assert (status.message, status.error_code) == ("Too many users", "WKS.0127")


def test_workspace_expired_is_terminal_with_a_clear_message() -> None:
    status = parse_task({"task_id": "t", "status": "EXPIRED", "fail_reason": "", "error_code": ""}, "t")
    assert status.state is ExportState.EXPIRED and status.is_terminal and not status.is_success
    assert status.message is not None and "expired and can no longer be downloaded" in status.message


def test_workspace_success_and_malformed_items() -> None:
    status = parse_task({"task_id": "t", "status": "SUCCESS", "file_name": "users.xlsx"}, "t")
    assert status.is_success and status.artifacts == {"file_name": "users.xlsx"}
    with pytest.raises(ExportResponseError, match="no status"):
        parse_task({"task_id": "t"}, "t")
    with pytest.raises(ExportResponseError, match="no export_tasks list"):
        parse_task_page({"count": 3})


def test_workspace_start_answer() -> None:
    assert parse_task_id({"task_id": "2c10d098"}) == "2c10d098"
    with pytest.raises(ExportResponseError, match="no task_id"):
        parse_task_id({"job_id": "x"})


def _drive(op: Any, pages: Sequence[Mapping[str, Any]]) -> tuple[list[Request], Any]:
    """Run an operation by hand, answering each request with the next page."""
    requests = [next(op)]
    try:
        for page in pages:
            requests.append(op.send(_response(200, page)))
    except StopIteration as stop:
        return requests, stop.value
    raise AssertionError("the operation asked for more pages than given")


def _items(prefix: str, count: int) -> list[dict[str, Any]]:
    return [{"task_id": f"{prefix}-{n}", "status": "SUCCESS"} for n in range(count)]


def test_workspace_finds_a_task_on_page_two_when_the_filter_is_ignored() -> None:
    target = {"task_id": "mine", "status": "FAIL", "fail_reason": "quota", "error_code": "WKS.0300"}
    pages = [
        {"export_tasks": _items("old", 100), "count": 150},
        {"export_tasks": [*_items("newer", 49), target], "count": 150},
    ]
    requests, status = _drive(_workspace_hook().status_op("mine"), pages)

    assert status.state is ExportState.FAILED and status.error_code == "WKS.0300"
    queries = [dict(r.params) for r in requests]
    assert [q["offset"] for q in queries] == ["0", "100"]
    assert all(q["task_id"] == "mine" and q["limit"] == "100" for q in queries)
    assert requests[0].url == f"/v2/{PROJECT}/export-tasks"


def test_workspace_paging_stops_and_reports_a_missing_task() -> None:
    hook = _workspace_hook()
    # The count promises more, but the server sends an empty page: no endless loop.
    op = hook.status_op("gone")
    next(op)
    op.send(_response(200, {"export_tasks": _items("a", 100), "count": 500}))
    with pytest.raises(ExportRequestError, match=r"not in the export task list \(100 tasks checked\)"):
        op.send(_response(200, {"export_tasks": [], "count": 500}))


def test_workspace_paging_without_count_reads_until_a_short_page() -> None:
    pages = [{"export_tasks": _items("a", 10)}, {"export_tasks": _items("b", 3)}]
    op = _workspace_hook(list_page_size=10).status_op("missing")
    next(op)
    op.send(_response(200, pages[0]))
    with pytest.raises(ExportRequestError, match=r"\(13 tasks checked\)"):
        op.send(_response(200, pages[1]))


@pytest.mark.parametrize("size", [0, 101, "50", True])
def test_workspace_page_size_is_validated(size: Any) -> None:
    with pytest.raises(ExportConfigError, match="list_page_size"):
        next(_workspace_hook(list_page_size=size).status_op("t"))


def test_workspace_start_requests() -> None:
    hook = _workspace_hook()
    users = hook.start_request({"export": "users", "params": {"user_names": ["a", "b"], "language": "zh_CN"}})
    assert (users.method, users.url) == ("POST", f"/v3/{PROJECT}/users/export")
    assert json.loads(users.body or b"") == {"user_names": ["a", "b"], "language": "zh_CN"}
    assert not users.idempotent

    desktops = hook.start_request(
        {"export": "desktops", "params": {"user_names": ["a", "b"], "in_maintenance_mode": False}}
    )
    assert (desktops.method, desktops.url) == ("GET", f"/v3/{PROJECT}/desktops/export")
    # An array parameter goes as repeated keys, as Huawei's SDK sends it (docs/huawei.md).
    assert desktops.params == (
        ("language", "en_US"),
        ("user_names", "a"),
        ("user_names", "b"),
        ("in_maintenance_mode", "false"),
    )
    assert desktops.body is None and not desktops.idempotent

    group = hook.start_request({"export": "group_users", "params": {"group_id": "g/../1"}})
    assert group.url == f"/v3/{PROJECT}/groups/g%2F..%2F1/users/export" and group.params == ()

    metrics = hook.start_request({"export": "app_user_access_metrics"})
    assert (metrics.method, metrics.url) == (
        "POST",
        f"/v2/{PROJECT}/statistics/metrics/app-user-access/export",
    )


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "needs 'export'"),
        ({"export": "printers"}, "needs 'export'"),
        ({"export": "users", "params": ["x"]}, "must be an object"),
        ({"export": "group_users"}, "needs params.group_id"),
    ],
)
def test_workspace_bad_payloads_are_config_errors(payload: dict[str, Any], message: str) -> None:
    with pytest.raises(ExportConfigError, match=message):
        _workspace_hook().start_request(payload)


def test_download_path_encodes_the_task_id() -> None:
    page = {"export_tasks": [{"task_id": "a/../b", "status": "SUCCESS"}], "count": 1}
    _, request = _drive(_workspace_hook().download_op("a/../b"), [page])
    assert request.url == f"/v2/{PROJECT}/export-tasks/a%2F..%2Fb/download"


def test_download_of_a_failed_task_is_refused() -> None:
    op = _workspace_hook().download_op("t")
    next(op)
    with pytest.raises(ExportRequestError, match=r"no file to download .*FAIL"):
        op.send(_response(200, {"export_tasks": [{"task_id": "t", "status": "FAIL"}], "count": 1}))


# ---- authentication --------------------------------------------------------------------------------


def test_iam_login_request_matches_the_documented_body() -> None:
    settings = _settings(
        auth_type="iam", login="robot", domain="acme", iam_endpoint="https://iam.example.test"
    )
    assert iam_token_body(settings) == {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "robot", "password": SECRET, "domain": {"name": "acme"}}},
            },
            "scope": {"project": {"id": PROJECT}},
        }
    }
    auth = IamTokenAuth(settings, "Huawei Cloud Workspace")
    login = auth.login(None)
    request = next(login)
    assert (request.method, request.url) == ("POST", "https://iam.example.test/v3/auth/tokens")
    assert request.params == (("nocatalog", "true"),) and request.authenticate is False
    token_body = {
        "token": {"issued_at": "2026-01-01T00:00:00.000000Z", "expires_at": "2026-01-02T00:00:00.000000Z"}
    }
    with pytest.raises(StopIteration) as done:
        login.send(_response(201, token_body, headers={"X-Subject-Token": "MIIT-token"}))
    credential = done.value.value
    assert isinstance(credential, Credential) and credential.token == "MIIT-token"
    assert credential.fresh(auth.refresh_margin)
    applied = auth.apply(Request("GET", "https://workspace.example.test/v2/p/x", "x"), credential)
    assert applied.headers == {"X-Auth-Token": "MIIT-token"}
    assert list(auth.secrets()) == [SECRET]


def test_token_lifetime_comes_from_server_times_not_the_local_clock() -> None:
    body = {
        "token": {"issued_at": "2020-06-08T00:00:00.000000Z", "expires_at": "2020-06-08T02:00:00.000000Z"}
    }
    credential = parse_token(_response(201, body, headers={"X-Subject-Token": "t"}), "v", "w", now=1000.0)
    assert credential.expires_at == 1000.0 + 2 * 3600
    no_body = parse_token(_response(201, b"", headers={"X-Subject-Token": "t"}), "v", "w", now=0.0)
    assert no_body.expires_at == 24 * 3600
    with pytest.raises(ExportResponseError, match="no X-Subject-Token"):
        parse_token(_response(201, body), "v", "w")


def test_iam_login_failure_uses_the_keystone_error_body() -> None:
    auth = IamTokenAuth(_settings(auth_type="iam", domain="acme", iam_endpoint="https://iam.test"), "Huawei")
    login = auth.login(None)
    next(login)
    body = {"error": {"code": 401, "title": "Unauthorized", "message": "The username or password is wrong."}}
    with pytest.raises(ExportAuthError) as caught:
        login.send(_response(401, body))
    assert "code 401: The username or password is wrong." in str(caught.value)
    assert "account (domain) name" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_aksk_signs_with_project_id_and_the_server_accepts_it() -> None:
    auth = AkSkAuth(_settings(), "Huawei Cloud Workspace")
    url = f"https://workspace.cn-north-4.myhuaweicloud.com/v2/{PROJECT}/export-tasks?task_id=a%2Fb%26c&limit=100"
    signed = auth.apply(Request("GET", url, "list", headers={"Accept": "application/json"}), Credential(""))

    assert signed.headers["X-Project-Id"] == PROJECT
    parsed = parse_authorization(signed.headers["Authorization"])
    assert parsed is not None and parsed.access_key == "QTWAOYTTINDUT2QVKYUC"
    assert set(parsed.signed_headers) == {"accept", "host", "x-project-id", "x-sdk-date"}
    parts = urlsplit(url)
    lookup = {"QTWAOYTTINDUT2QVKYUC": SECRET}.get
    assert verify_signature("GET", parts.path, parts.query, signed.headers, b"", lookup) is None
    # Any change after signing breaks it (the gateway recomputes the same canonical request).
    assert (
        verify_signature("GET", parts.path, "limit=99", signed.headers, b"", lookup) == "signature mismatch"
    )
    assert SECRET not in json.dumps(dict(signed.headers))
    assert auth.is_rejected(_response(401, {})) is False


def test_aksk_keeps_a_caller_project_header_and_reports_unsignable_requests() -> None:
    auth = AkSkAuth(_settings(), "Huawei Cloud Workspace")
    request = Request(
        "POST", "https://w.test/v3/p/users/export", "x", headers={"x-project-id": "other"}, body=b"{}"
    )
    signed = auth.apply(request, Credential(""))
    assert [k for k in signed.headers if k.lower() == "x-project-id"] == ["x-project-id"]
    with pytest.raises(ExportConfigError, match="cannot sign POST /v3/p/users/export") as caught:
        auth.apply(
            Request("POST", "https://w.test/v3/p/users/export", "x", headers={"X-Note": "é"}), Credential("")
        )
    assert SECRET not in str(caught.value)


# ---- error bodies ----------------------------------------------------------------------------------


def test_gateway_signature_error_is_explained() -> None:
    body = {
        "error_msg": "Incorrect IAM authentication information: verify aksk signature fail",
        "error_code": "APIGW.0301",
        "request_id": "4f1c0b6a",
    }
    with pytest.raises(ExportAuthError) as caught:
        raise_for_status(
            _response(401, body), "Huawei Cloud Workspace", "list export tasks", auth_type="aksk"
        )
    error = caught.value
    assert (error.status, error.code) == (401, "APIGW.0301")
    assert str(error).startswith(
        "Huawei Cloud Workspace: list export tasks answered HTTP 401, code APIGW.0301: Incorrect IAM "
        "authentication information: verify aksk signature fail; the AK/SK signature was refused"
    )
    assert "within 15 minutes" in str(error) and str(error).endswith("request id 4f1c0b6a")


@pytest.mark.parametrize(
    ("status", "body", "cls", "code", "hint"),
    [
        (
            400,
            {"error_code": "WKS.0001", "error_msg": "The request message input by the interface is empty."},
            ExportRequestError,
            "WKS.0001",
            "refused as invalid",
        ),
        (
            403,
            {"error_code": "DS.1001", "error_msg": "No permission", "data": {}},
            ExportAuthError,
            "DS.1001",
            "grant the IAM user",
        ),
        (
            403,
            {"error_code": "WKS.0403", "error_msg": "Denied", "encoded_authorization_message": "xyz"},
            ExportAuthError,
            "WKS.0403",
            "decode-authorization-message",
        ),
        (
            404,
            {"error_msg": "The API does not exist", "error_code": "APIGW.0101"},
            ExportRequestError,
            "APIGW.0101",
            "check the region or endpoint URL",
        ),
        (
            400,
            {"errorCode": "DLS.1000", "errorMsg": "process failed"},
            ExportRequestError,
            "DLS.1000",
            "invalid",
        ),
    ],
)
def test_error_bodies_of_each_service(
    status: int, body: dict[str, Any], cls: type[Exception], code: str, hint: str
) -> None:
    with pytest.raises(cls) as caught:
        raise_for_status(_response(status, body), "Huawei", "a call", auth_type="iam")
    assert isinstance(caught.value, ExportRequestError) and caught.value.code == code
    assert hint in str(caught.value)


def test_unreadable_error_bodies_still_give_status_and_hint() -> None:
    html = _response(502, "<html><body>Bad gateway</body></html>", content_type="text/html")
    with pytest.raises(ExportRequestError, match="HTTP 502: <html><body>Bad gateway"):
        raise_for_status(html, "Huawei", "a call")
    skipped = _response(403, content_type="text/html", skipped=True)
    with pytest.raises(ExportAuthError, match="HTTP 403: a text/html answer; the credentials are valid"):
        raise_for_status(skipped, "Huawei", "a call")


def test_parse_error_finds_nested_fields() -> None:
    assert parse_error({"error": {"code": "IAM.0006", "message": "m"}, "request_id": "r"}).code == "IAM.0006"
    assert parse_error({"error": {"code": "IAM.0006", "message": "m"}, "request_id": "r"}).request_id == "r"
    assert parse_error(["not", "an", "object"]).code is None


# ---- connection settings ---------------------------------------------------------------------------


def test_settings_default_endpoints_from_the_region() -> None:
    hook = _dataarts_hook()
    settings = hook.read_settings(hook.connection)
    assert settings.endpoint == "https://dayu.cn-north-4.myhuaweicloud.com"
    assert settings.workspace_id == "ws-1" and settings.iam_endpoint is None
    assert SECRET not in repr(settings)

    conn = _connection("huawei_workspace", auth_type="iam", domain="acme", region="eu-west-101")
    iam = HuaweiWorkspaceHook("w", connection=conn).read_settings(conn)
    assert iam.endpoint == "https://workspace.eu-west-101.myhuaweicloud.com"
    assert iam.iam_endpoint == "https://iam.eu-west-101.myhuaweicloud.eu"


def test_settings_overrides_and_missing_fields() -> None:
    conn = _connection(
        "huawei_workspace", auth_type="iam", domain="acme", iam_endpoint="iam.internal:8443/v3/"
    )
    conn.host = "workspace.internal"
    conn.port = 9443
    settings = HuaweiWorkspaceHook("w", connection=conn).read_settings(conn)
    assert settings.endpoint == "https://workspace.internal:9443"
    assert settings.iam_endpoint == "https://iam.internal:8443"

    cases: list[tuple[Connection, str, type[Any]]] = [
        (
            _connection("huawei_workspace", auth_type="token"),
            "auth_type must be 'aksk' or 'iam'",
            HuaweiWorkspaceHook,
        ),
        (_connection("huawei_workspace", auth_type="iam"), "no domain extra", HuaweiWorkspaceHook),
        (_connection("huawei_workspace", project_id=None), "no project_id extra", HuaweiWorkspaceHook),
        (_connection("huawei_workspace", region=None), "no region extra", HuaweiWorkspaceHook),
        (_connection("huawei_dataarts"), "no workspace_id extra", HuaweiDataArtsHook),
    ]
    for bad, message, hook_class in cases:
        with pytest.raises(ExportConfigError, match=message):
            hook_class("x", connection=bad).read_settings(bad)
