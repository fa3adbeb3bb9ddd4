"""IICS parsers and operations, fed with the example bodies of the Informatica docs.

Status and log examples are copied verbatim from the "Getting the export job status" page
(shared/seeds/002); login, error object and start request examples from the pages cited in
docs/informatica_iics.md. Operations are driven by hand (sans-I/O): each test sends the
response a server would send and checks the next request or the result. The package itself is
streamed by the transport, not by an operation, so its error test runs over loopback against the
IICS emulator.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import pendulum
import pytest
from airflow.sdk import Connection

from airflow_provider_exports.errors import (
    ExportAuthError,
    ExportConfigError,
    ExportRequestError,
    ExportResponseError,
)
from airflow_provider_exports.hooks.informatica import (
    LOGIN_PATH,
    SESSION_HEADER,
    SESSION_IDLE_SECONDS,
    VENDOR,
    InformaticaAuth,
    InformaticaHook,
    check,
    describe_failures,
    error_fields,
    export_body,
    failed_objects,
    is_session_rejected,
    login_url,
    package_error,
    parse_export_id,
    parse_login,
    parse_status,
)
from airflow_provider_exports.status import ExportState
from airflow_provider_exports.testing import Fault
from airflow_provider_exports.testing.informatica import InformaticaEmulator
from airflow_provider_exports.transport import Credential, Op, Request, Response, RetryPolicy

# ---- examples from the docs (verbatim) ----------------------------------------------------------

SEED_STATUS_IN_PROGRESS = """{ "id": "7evG9CokA1whk8ehF3opKM", "createTime": "2017-10-26T08:15:48.502Z", "updateTime": "2017-10-26T08:15:48.502Z", "name": "testJob1", "startTime": "2017-10-26T08:15:48.501Z", "endTime": null, "status": { "state": "IN_PROGRESS", "message": "In Progress." }, "objects": null }"""  # noqa: E501

SEED_STATUS_EXPANDED = """{ "id": "7evG9CokA1whk8ehF3opKM", "createTime": "2017-10-26T08:15:49.000Z", "updateTime": "2017-10-26T08:15:50.000Z", "name": "testJob1", "startTime": "2017-10-26T08:15:49.000Z", "endTime": "2017-10-26T08:15:50.000Z", "status": { "state": "SUCCESSFUL", "message": "Export completed successfully." }, "objects": [ { "id": "1MW0GDAE1sFgnvWkvom7mK", "name": "Linear Taskflow", "path": "/ICS Taskflow", "type": "SAAS_LINEAR_TASKFLOW", "description": null, "status": { "state": "SUCCESSFUL", "message": null } }, { "id": "1SuZ9Gf8LtphrJn9EdHCod", "name": "SQL Server", "path": "/DSS", "type": "Folder", "description": "", "status": { "state": "SUCCESSFUL", "message": null } }, { "id": "1Uf9PTj6kTjbsVYMk55OC6", "name": "Synchronization Task Multi Source", "path": "/Default/SQL Server", "type": "SAAS_DSS", "description": "", "status": { "state": "SUCCESSFUL", "message": null } }, { "id": "2UL9ZO9Z3OJeuxbL2cYbaX", "name": "Synchronization Task Simple Filter", "path": "/Default/SQL Server", "type": "SAAS_DSS", "description": "", "status": { "state": "SUCCESSFUL", "message": null } }, { "id": "31SzqpeEEKacy7OaXXCfaD", "name": "Synchronization Task Multi Source", "path": "/DSS/SQL Server", "type": "SAAS_DSS", "description": "", "status": { "state": "SUCCESSFUL", "message": null } }, { "id": "5FA0DnMzeuDbYZnn3hdto9", "name": "Default", "path": "/", "type": "Project", "description": "Auto-generated Default Project", "status": { "state": "SUCCESSFUL", "message": null } }, { "id": "5V5VpaoJGTNkWCB2f2t4MG", "name": "Synchronization Task Simple Filter", "path": "/DSS/SQL Server", "type": "SAAS_DSS", "description": "", "status": { "state": "SUCCESSFUL", "message": null } }, { "id": "7udJJF48H5Iizzry8gjUAb", "name": "SQL Server", "path": "/Default", "type": "Folder", "description": "", "status": { "state": "SUCCESSFUL", "message": null } }, { "id": "fIQLvhNnsqBjXKNfjyZFaH", "name": "ICS Taskflow", "path": "/", "type": "Project", "description": "", "status": { "state": "SUCCESSFUL", "message": null } }, { "id": "hGrgtrajWMUjNIsnLKQCAi", "name": "SQL Server Linux", "path": null, "type": "SAAS_CONNECTION", "description": null, "status": { "state": "SUCCESSFUL", "message": null } }, { "id": "iIVBNZSpUKFg4N6g2PKUox", "name": "abc_map", "path": "/Default", "type": "MAPPING", "description": "", "status": { "state": "SUCCESSFUL", "message": null } }, { "id": "l7bgB85m5oGiXObDxwnvK9", "name": "DSS", "path": "/", "type": "Project", "description": "", "status": { "state": "SUCCESSFUL", "message": null } }, { "id": "lOqsFQE4OSWeyg77AeWwK2", "name": "Linux", "path": null, "type": "SAAS_RUNTIME_ENVIRONMENT", "description": null, "status": { "state": "SUCCESSFUL", "message": null } } ] }"""  # noqa: E501

SEED_LOG = """> OIE_002 INFO 2019-02-05T22:50:08.788Z Starting export operation. Execution Client: API Job Name: m_RegionTotalNew-1549407002393 Organization: infa2.doc RequestId: iklHoZTokKAiNO95Cw9NG3 User: janer2 > OIE_004 INFO 2019-02-05T22:50:09.042Z Successfully exported object [/SYS/_SYSTEM_PROJECT] of type [Project] id [5UrdDrgV5yKerYgtJAA4IU]> OIE_004 INFO 2019-02-05T22:50:09.042Z Successfully exported object [/Explore/Accounts] of type [Project] id [8Uyq1wiZ9lye2Sou5OCqOa] > OIE_004 INFO 2019-02-05T22:50:09.126Z Successfully exported object [/SYS/_SYSTEM_FOLDER] of type [Folder] id [b98UuC0ADGEkXxF9EIlUCZ] > OIE_004 INFO 2019-02-05T22:50:09.126Z Successfully exported object [/Explore/Accounts/February2018] of type [Folder] id [cojSZpHcqcafFy6YkCBgIl] > OIE_004 INFO 2019-02-05T22:50:09.354Z Successfully exported object [/SYS/TMS26W0864] of type [SAAS_RUNTIME_ENVIRONMENT] id [6TKTNZ3wfIIjV5yBTJmYWO] > OIE_004 INFO 2019-02-05T22:50:09.504Z Successfully exported object [/SYS/ff] of type [SAAS_CONNECTION] id [7GgahDJzE9GbYb75xQ35GM] > OIE_004 INFO 2019-02-05T22:50:09.765Z Successfully exported object [/Explore/Accounts/February2018/m_RegionTotalNew] of type [MAPPING] id [4LiKwGKgegAixI2awqWgK1] > OIE_003 INFO 2019-02-05T22:50:09.843Z Finished export operation. Job Name: m_RegionTotalNew-1549407002393 Start Time: 2019-02-05T22:50:03.000Z End Time: 2019-02-05T22:50:09.765Z Started by: janer2 Start Method: API Source Organization: infa.doc Status: SUCCESSFUL"""  # noqa: E501

DOCS_LOGIN = """{ "products": [ { "name": "Integration Cloud", "baseApiUrl": "https://pod.clouddev.informaticacloud.com/saas" } ], "userInfo": { "sessionId": "9KA11tLGqxVcGeul8SQBK3", "id": "9L1GFroXSDHe2IIg7QhBaT", "name": "user", "parentOrgId": "52ZSTB0IDK6dXxaEQLUaQu", "orgId": "0cuQSDTq5sikvN7x8r1xm1", "orgName": "MyOrg_INFA", "groups": {}, "status": "Active" } }"""  # noqa: E501

DOCS_ERROR_V3 = """{ "error": { "code": "IDS_085", "message": "User name or password is not valid.", "requestId": "9hr8e2ObIcChbwYftgDui7", "details": null } }"""  # noqa: E501

DOCS_ERROR_V2 = """{ "code": "UI_10000", "description": "User name or password is not valid.", "statusCode": 403, "@type": "error" }"""  # noqa: E501

DOCS_START_REQUEST = """{ "name" : "testJob1", "objects" : [ { "id": "l7bgB85m5oGiXObDxwnvK9", "includeDependencies" : true }, { "id": "1MW0GDAE1sFgnvWkvom7mK", "includeDependencies" : false }, { "id": "iIVBNZSpUKFg4N6g2PKUox" } ] }"""  # noqa: E501

#: Not from the docs: the session-invalid error in the v3 error object's shape (code from
#: third-party client code that re-logs in on it; the message text is ours).
SESSION_INVALID = json.dumps(
    {"error": {"code": "AUTH_01", "message": "Invalid session.", "requestId": "r-1"}}
)

JOB_ID = "7evG9CokA1whk8ehF3opKM"


def _response(
    request: Request, status: int, body: str | bytes, content_type: str = "application/json"
) -> Response:
    data = body.encode() if isinstance(body, str) else body
    return Response(status, {"Content-Type": content_type}, data, "https://pod.example/saas", request)


def _failed_copy(failures: Mapping[str, str]) -> dict[str, Any]:
    """The seed's expanded body with the job and the given objects (id -> message) failed."""
    body: dict[str, Any] = copy.deepcopy(json.loads(SEED_STATUS_EXPANDED))
    body["status"] = {"state": "FAILED", "message": "Export failed."}
    for obj in body["objects"]:
        if obj["id"] in failures:
            obj["status"] = {"state": "FAILED", "message": failures[obj["id"]]}
    return body


def _finish(op: Op[Any], response_for: Any) -> tuple[list[Request], Any]:
    """Drive an operation, answering each request with ``response_for(request)``."""
    requests_seen: list[Request] = []
    try:
        request = next(op)
        while True:
            requests_seen.append(request)
            request = op.send(response_for(request))
    except StopIteration as stop:
        return requests_seen, stop.value


def _hook(**options: Any) -> InformaticaHook:
    return InformaticaHook("iics_unit", **options)


# ---- status --------------------------------------------------------------------------------------


def test_in_progress_example() -> None:
    status = parse_status(json.loads(SEED_STATUS_IN_PROGRESS), JOB_ID)

    assert status.state is ExportState.RUNNING
    assert status.vendor_state == "IN_PROGRESS"
    assert not status.is_terminal
    assert status.message == "In Progress."
    assert status.progress is None
    assert status.started_at == pendulum.datetime(2017, 10, 26, 8, 15, 48, 501000)
    assert status.ended_at is None


def test_successful_expanded_example() -> None:
    body = json.loads(SEED_STATUS_EXPANDED)
    status = parse_status(body, JOB_ID)

    assert status.state is ExportState.SUCCEEDED and status.is_terminal and status.is_success
    assert status.message == "Export completed successfully."
    assert status.progress == 100
    assert status.ended_at == pendulum.datetime(2017, 10, 26, 8, 15, 50)
    assert len(status.raw["objects"]) == 13
    assert failed_objects(body["objects"]) == []
    assert describe_failures(body["objects"]) is None


def test_failed_job_names_failed_objects_and_messages() -> None:
    body = _failed_copy(
        {"iIVBNZSpUKFg4N6g2PKUox": "Object is locked.", "hGrgtrajWMUjNIsnLKQCAi": "No permission."}
    )
    status = parse_status(body, JOB_ID)

    assert status.state is ExportState.FAILED and status.is_terminal and not status.is_success
    assert status.message == (
        "Export failed. Failed objects: "
        "SQL Server Linux (SAAS_CONNECTION, id hGrgtrajWMUjNIsnLKQCAi): No permission.; "
        "abc_map (MAPPING, /Default, id iIVBNZSpUKFg4N6g2PKUox): Object is locked."
    )


def test_many_failed_objects_are_counted_not_all_listed() -> None:
    body = _failed_copy({obj["id"]: "boom" for obj in json.loads(SEED_STATUS_EXPANDED)["objects"]})
    message = parse_status(body, JOB_ID).message or ""

    assert message.count(": boom") == 10
    assert message.endswith("; and 3 more")


def test_failed_job_without_object_details_keeps_the_job_message() -> None:
    body = json.loads(SEED_STATUS_IN_PROGRESS)
    body["status"] = {"state": "FAILED", "message": "Export failed."}
    assert parse_status(body, JOB_ID).message == "Export failed."


def test_queued_is_pending_not_terminal() -> None:
    body = json.loads(SEED_STATUS_IN_PROGRESS)
    body["status"]["state"] = "QUEUED"
    status = parse_status(body, JOB_ID)
    assert status.state is ExportState.PENDING and not status.is_terminal


def test_unknown_state_is_not_terminal_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    body = json.loads(SEED_STATUS_IN_PROGRESS)
    body["status"]["state"] = "SUCCESS_WITH_WARNINGS_UNIT_TEST"
    with caplog.at_level(logging.WARNING):
        first = parse_status(body, JOB_ID)
        second = parse_status(body, JOB_ID)

    assert first.state is None and second.state is None
    assert not first.is_terminal
    warnings = [r for r in caplog.records if "SUCCESS_WITH_WARNINGS_UNIT_TEST" in r.getMessage()]
    assert len(warnings) == 1


@pytest.mark.parametrize(
    "body", [{}, {"status": None}, {"status": {"message": "x"}}, {"status": {"state": ""}}]
)
def test_status_without_a_state_is_a_clear_error(body: dict[str, Any]) -> None:
    with pytest.raises(ExportResponseError, match=r"no status\.state"):
        parse_status(body, JOB_ID)


def test_start_answer_gives_the_job_id() -> None:
    # The docs give the same body for the start and the status answers.
    assert parse_export_id(json.loads(SEED_STATUS_IN_PROGRESS)) == JOB_ID
    with pytest.raises(ExportResponseError, match="no export job id"):
        parse_export_id({"status": {"state": "IN_PROGRESS"}})


# ---- login and sessions ------------------------------------------------------------------------


def test_login_example_gives_session_and_pod() -> None:
    before = time.time()
    credential = parse_login(json.loads(DOCS_LOGIN))

    assert credential.token == "9KA11tLGqxVcGeul8SQBK3"
    assert credential.base_url == "https://pod.clouddev.informaticacloud.com/saas"
    assert credential.expires_at is not None
    assert before + SESSION_IDLE_SECONDS <= credential.expires_at <= time.time() + SESSION_IDLE_SECONDS
    assert "9KA11tLGqxVcGeul8SQBK3" not in repr(credential)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda b: b["userInfo"].pop("sessionId"), "no userInfo.sessionId"),
        (lambda b: b.pop("products"), r"no products\[\].baseApiUrl"),
        (lambda b: b["products"][0].update(baseApiUrl="ftp://pod/saas"), "not an http"),
    ],
)
def test_incomplete_login_answers_are_clear_errors(change: Any, error: str) -> None:
    body = json.loads(DOCS_LOGIN)
    change(body)
    with pytest.raises(ExportResponseError, match=error):
        parse_login(body)


def test_login_operation_posts_credentials_to_the_login_path() -> None:
    auth = InformaticaAuth("user", "pa55-word")
    requests_seen, credential = _finish(auth.login(None), lambda r: _response(r, 200, DOCS_LOGIN))

    (login,) = requests_seen
    assert (login.method, login.url, login.authenticate) == ("POST", LOGIN_PATH, False)
    assert json.loads(login.body or b"") == {"username": "user", "password": "pa55-word"}
    assert credential.token == "9KA11tLGqxVcGeul8SQBK3"
    assert list(auth.secrets()) == ["pa55-word"]


@pytest.mark.parametrize("status", [400, 401, 403])
def test_bad_password_is_an_auth_error_with_code_and_request_id(status: int) -> None:
    auth = InformaticaAuth("user", "wrong-pa55")
    with pytest.raises(ExportAuthError) as caught:
        _finish(auth.login(None), lambda r: _response(r, status, DOCS_ERROR_V3))
    text = str(caught.value)
    assert f"HTTP {status}, code IDS_085: User name or password is not valid." in text
    assert "requestId 9hr8e2ObIcChbwYftgDui7" in text
    assert "wrong-pa55" not in text


def test_session_goes_in_the_infa_session_id_header() -> None:
    auth = InformaticaAuth("user", "pw-1234")
    request = Request("GET", "https://pod.example/saas/public/core/v3/export/x", "status")
    applied = auth.apply(request, Credential(token="sess-1234"))
    assert applied.headers == {SESSION_HEADER: "sess-1234"}


@pytest.mark.parametrize(
    ("status", "body", "content_type", "rejected"),
    [
        (401, SESSION_INVALID, "application/json", True),
        (401, "", "text/plain", True),
        (403, SESSION_INVALID, "application/json", True),
        (403, DOCS_ERROR_V3, "application/json", False),  # another code: a permission problem
        (403, "<html><body>Forbidden</body></html>", "text/html", False),
        (400, SESSION_INVALID, "application/json", False),
        (200, SESSION_INVALID, "application/json", False),
    ],
)
def test_which_answers_mean_the_session_is_gone(
    status: int, body: str, content_type: str, rejected: bool
) -> None:
    request = Request("GET", "/public/core/v3/export/x", "status")
    response = _response(request, status, body, content_type)
    assert is_session_rejected(response) is rejected
    assert InformaticaAuth("u", "p").is_rejected(response) is rejected


# ---- error bodies --------------------------------------------------------------------------------


def test_error_objects_of_both_api_versions() -> None:
    assert error_fields(DOCS_ERROR_V3.encode()) == (
        "IDS_085",
        "User name or password is not valid. (requestId 9hr8e2ObIcChbwYftgDui7)",
    )
    assert error_fields(DOCS_ERROR_V2.encode()) == ("UI_10000", "User name or password is not valid.")
    assert error_fields(b"<html>Bad gateway</html>") == (None, None)
    assert error_fields(b"[1, 2]") == (None, None)


def test_check_raises_the_vendor_error_with_code_and_message() -> None:
    request = Request("GET", "/public/core/v3/export/x", "status of export 'x'")
    not_found = json.dumps(
        {"error": {"code": "MIGRATION_404", "message": "Job not found", "requestId": "q1"}}
    )
    with pytest.raises(ExportRequestError) as caught:
        check(_response(request, 404, not_found), "status of export 'x'")
    assert not isinstance(caught.value, ExportAuthError)
    assert (caught.value.status, caught.value.code) == (404, "MIGRATION_404")
    assert str(caught.value) == (
        "Informatica IICS: status of export 'x' answered HTTP 404, code MIGRATION_404: "
        "Job not found (requestId q1)"
    )
    with pytest.raises(ExportRequestError, match="HTTP 502: <html>"):
        check(_response(request, 502, "<html>proxy error</html>", "text/html"), "status of export 'x'")


# ---- requests the hook builds ----------------------------------------------------------------------


def test_start_sends_the_docs_example_body_unchanged() -> None:
    payload = json.loads(DOCS_START_REQUEST)
    requests_seen, export_id = _finish(
        _hook().start_op(payload), lambda r: _response(r, 200, SEED_STATUS_IN_PROGRESS)
    )

    (start,) = requests_seen
    assert (start.method, start.url, start.idempotent, start.params) == (
        "POST",
        "/public/core/v3/export",
        False,
        (),
    )
    assert json.loads(start.body or b"") == payload
    assert export_id == JOB_ID


def test_start_can_ask_for_tag_information() -> None:
    requests_seen, _ = _finish(
        _hook(include_tag_information="true").start_op({"objects": ["iIVBNZSpUKFg4N6g2PKUox"]}),
        lambda r: _response(r, 200, SEED_STATUS_IN_PROGRESS),
    )
    assert requests_seen[0].params == (("includeTagInformation", "true"),)


def test_start_without_the_export_privilege_says_so() -> None:
    denied = json.dumps({"error": {"code": "CORE_403", "message": "Access denied.", "requestId": "z9"}})
    with pytest.raises(ExportRequestError, match="'Asset - export' privilege"):
        _finish(_hook().start_op({"objects": ["x1"]}), lambda r: _response(r, 403, denied))


def test_export_body_normalizes_ids_and_keeps_other_keys() -> None:
    body = export_body({"name": "n", "objects": ["a1", {"id": "b2", "includeDependencies": False}], "x": 1})
    assert body == {
        "name": "n",
        "objects": [{"id": "a1"}, {"id": "b2", "includeDependencies": False}],
        "x": 1,
    }


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({}, "needs 'objects'"),
        ({"objects": []}, "needs 'objects'"),
        ({"objects": "a1"}, "needs 'objects'"),
        ({"objects": ["a1", {"includeDependencies": True}]}, r"objects\[1\] has no 'id'"),
        ({"objects": ["a1", ""]}, r"objects\[1\] has no 'id'"),
        ({"objects": ["a1"], "name": 5}, "'name' must be a string"),
    ],
)
def test_bad_payloads_are_config_errors(payload: dict[str, Any], error: str) -> None:
    with pytest.raises(ExportConfigError, match=error):
        export_body(payload)


def test_status_encodes_the_id_and_reads_objects_only_after_a_failure() -> None:
    failed = json.dumps(_failed_copy({"iIVBNZSpUKFg4N6g2PKUox": "Object is locked."}))
    plain = dict(json.loads(failed), objects=None)

    def answer(request: Request) -> Response:
        return _response(request, 200, failed if request.params else json.dumps(plain))

    requests_seen, status = _finish(_hook().status_op("a/../b"), answer)

    assert [(r.url, r.params) for r in requests_seen] == [
        ("/public/core/v3/export/a%2F..%2Fb", ()),
        ("/public/core/v3/export/a%2F..%2Fb", (("expand", "objects"),)),
    ]
    assert "abc_map (MAPPING, /Default, id iIVBNZSpUKFg4N6g2PKUox): Object is locked." in (
        status.message or ""
    )


def test_running_status_is_one_call() -> None:
    requests_seen, status = _finish(
        _hook().status_op(JOB_ID), lambda r: _response(r, 200, SEED_STATUS_IN_PROGRESS)
    )
    assert len(requests_seen) == 1 and status.vendor_state == "IN_PROGRESS"


def test_failed_status_survives_unreadable_object_details(caplog: pytest.LogCaptureFixture) -> None:
    plain = json.loads(SEED_STATUS_IN_PROGRESS)
    plain["status"] = {"state": "FAILED", "message": "Export failed."}

    def answer(request: Request) -> Response:
        if request.params:
            return _response(request, 404, json.dumps({"error": {"code": "X", "message": "gone"}}))
        return _response(request, 200, json.dumps(plain))

    with caplog.at_level(logging.WARNING):
        _, status = _finish(_hook().status_op(JOB_ID), answer)
    assert status.state is ExportState.FAILED and status.message == "Export failed."
    assert any("per-object status" in r.getMessage() for r in caplog.records)


def test_download_streams_the_package_of_a_successful_export() -> None:
    requests_seen, package = _finish(
        _hook().download_op(JOB_ID), lambda r: _response(r, 200, SEED_STATUS_EXPANDED)
    )
    assert len(requests_seen) == 1
    assert (package.method, package.url) == ("GET", f"/public/core/v3/export/{JOB_ID}/package")


def test_download_of_a_running_export_is_refused() -> None:
    with pytest.raises(ExportRequestError, match=r"not available .*IN_PROGRESS"):
        _finish(_hook().download_op(JOB_ID), lambda r: _response(r, 200, SEED_STATUS_IN_PROGRESS))


def test_log_is_the_status_line_and_the_log_text() -> None:
    def answer(request: Request) -> Response:
        if request.url.endswith("/log"):
            return _response(request, 200, SEED_LOG, "text/plain")
        return _response(request, 200, SEED_STATUS_EXPANDED)

    requests_seen, text = _finish(_hook().log_op(JOB_ID), answer)

    assert requests_seen[-1].url == f"/public/core/v3/export/{JOB_ID}/log"
    summary = f"export '{JOB_ID}', vendor state 'SUCCESSFUL', progress 100%"
    assert text == f"{summary}, message: Export completed successfully.\n{SEED_LOG}"


def test_log_of_an_unknown_export_is_a_clear_error() -> None:
    not_found = json.dumps(
        {"error": {"code": "MIGRATION_404", "message": "Job not found", "requestId": "q2"}}
    )
    with pytest.raises(ExportRequestError, match="HTTP 404, code MIGRATION_404: Job not found"):
        _finish(_hook().log_op("nope"), lambda r: _response(r, 404, not_found))


# The v3 error object (docs "Error object" shape) for a package that is gone.
PACKAGE_GONE = json.dumps(
    {
        "error": {
            "code": "MIGRATION_404",
            "message": "Export package not found.",
            "requestId": "2ddkqcEtG6dhkhM0g9xYUm",
            "details": None,
        }
    }
)


def test_package_error_reads_like_the_other_errors() -> None:
    # What the transport raises for a refused package GET: the error object quoted as text.
    quoted = ExportRequestError(VENDOR, f"download export {JOB_ID!r}", status=404, message=PACKAGE_GONE)
    error = package_error(quoted)
    assert type(error) is ExportRequestError
    assert (error.status, error.code) == (404, "MIGRATION_404")
    assert str(error) == (
        f"Informatica IICS: download export {JOB_ID!r} answered HTTP 404, code MIGRATION_404: "
        "Export package not found. (requestId 2ddkqcEtG6dhkhM0g9xYUm)"
    )
    # The same form as check() gives the status and log calls.
    what = f"download export {JOB_ID!r}"
    with pytest.raises(ExportRequestError) as checked:
        check(_response(Request("GET", "/x", what), 404, PACKAGE_GONE), what)
    assert str(checked.value) == str(error)


@pytest.mark.parametrize(
    "error",
    [
        ExportRequestError(VENDOR, "download export 'x'", status=502, message="<html>Bad gateway</html>"),
        ExportRequestError(VENDOR, "download export 'x'", status=404, code="MIGRATION_404", message="gone"),
        ExportRequestError(VENDOR, "download export 'x'", message="not available (state IN_PROGRESS)"),
    ],
)
def test_package_error_leaves_other_errors_alone(error: ExportRequestError) -> None:
    assert package_error(error) is error


def test_package_404_over_the_wire_names_code_and_message(iics_emulator: InformaticaEmulator) -> None:
    fields = iics_emulator.connection()
    conn = Connection(
        conn_id="iics_package_404",
        conn_type=fields["conn_type"],
        host=fields["host"],
        login=fields["login"],
        password=fields["password"],
    )
    hook = InformaticaHook(conn.conn_id, connection=conn, retry_policy=RetryPolicy(attempts=2, backoff=0.05))
    iics_emulator.add_export(JOB_ID, "SUCCESSFUL", content=b"PK")
    package = f"/public/core/v3/export/{JOB_ID}/package"
    iics_emulator.inject(
        Fault("status", status=404, body=PACKAGE_GONE, content_type="application/json", contains=package)
    )
    with pytest.raises(ExportRequestError) as err:
        hook.download(JOB_ID, io.BytesIO())
    assert (err.value.status, err.value.code) == (404, "MIGRATION_404")
    assert str(err.value) == (
        f"Informatica IICS: download export {JOB_ID!r} answered HTTP 404, code MIGRATION_404: "
        "Export package not found. (requestId 2ddkqcEtG6dhkhM0g9xYUm)"
    )
    assert '{"error"' not in str(err.value)


def test_malformed_status_json_is_named() -> None:
    with pytest.raises(ExportResponseError, match="expected JSON, got malformed JSON"):
        _finish(_hook().status_op(JOB_ID), lambda r: _response(r, 200, '{"status": {"state": "IN_PRO'))


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("https://dm-us.informaticacloud.com", None, "https://dm-us.informaticacloud.com"),
        ("dm-em.informaticacloud.com/", None, "https://dm-em.informaticacloud.com"),
        ("https://dm-us.informaticacloud.com/saas/", None, "https://dm-us.informaticacloud.com"),
        ("http://127.0.0.1", 8080, "http://127.0.0.1:8080"),
    ],
)
def test_login_url_from_the_host_field(host: str, port: int | None, expected: str) -> None:
    assert login_url(host, port) == expected
