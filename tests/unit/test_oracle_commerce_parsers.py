"""OCC parsers fed with the examples from the vendor docs (shared/seeds/000, vendor-apis notes)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_exports.errors import ExportAuthError, ExportRequestError, ExportResponseError
from airflow_provider_exports.hooks.oracle_commerce import (
    check,
    links,
    parse_status,
    parse_token,
    read_meta_archive,
)
from airflow_provider_exports.status import ExportState
from airflow_provider_exports.testing.emulator import make_zip
from airflow_provider_exports.transport import Request, Response

# Verbatim from the getExportProcess page (seed 000).
SEED_SUCCEEDED = """{
"progress":"succeeded",
"startTime":"2016-04-04T20:25:01.982Z",
"links":[
{
"rel":"meta",
"href":"http://BUSGTEST:9080/file/export/ezzPxcPRmJIlXYCyOTQNT9HMacA_10000/exportStatus.zip"
},
{
"rel":"file",
"href":"http://BUSGTEST:9080/file/export/ezzPxcPRmJIlXYCyOTQNT9HMacA_10000/exportProfilesAndOrders.zip"
},
{
"rel":"self",
"href":"http://BUSGTEST:9080/ccadminui/v1/exportProcess/ezzPxcPRmJIlXYCyOTQNT9HMacA_10000"
}
],
"endTime":"2016-04-04T20:25:02.190Z",
"completed":true,
"requestStatus":200
}"""

# The login example of the OCC docs.
LOGIN_EXAMPLE = """{
    "access_token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE0MTQxNDk5NTYsInN1YiI6IjExMDU1OCIsImlzcyI6InN0b3JlZnJvbnRVSSIsImlhdCI6MTQxNDE0OTAyNn0=.B9qM0/VKpCNKvjCmOnUPv4RS7mkIDgKcP8RJPaVQGYU=",
    "token_type":"bearer",
    "expires_in":930
}"""


def _resp(status: int, body: bytes | str, content_type: str = "application/json") -> Response:
    data = body.encode() if isinstance(body, str) else body
    req = Request("GET", "https://admin.example.com/ccadmin/v1/exportProcess/x?secret=1", "status")
    return Response(status, {"Content-Type": content_type}, data, req.url, req)


def test_seed_example_maps_to_succeeded() -> None:
    export_id = "ezzPxcPRmJIlXYCyOTQNT9HMacA_10000"
    status = parse_status(json.loads(SEED_SUCCEEDED), export_id)
    assert status.state is ExportState.SUCCEEDED and status.is_terminal and status.is_success
    assert status.vendor_state == "succeeded"
    assert status.progress == 100  # no completedPercentage in the 12-17 schema: implied by success
    assert status.started_at is not None and status.started_at.isoformat().startswith(
        "2016-04-04T20:25:01.982"
    )
    assert status.ended_at is not None and status.ended_at.second == 2
    assert status.artifacts["file"].endswith("/exportProfilesAndOrders.zip")
    assert status.artifacts["meta"].endswith("/exportStatus.zip")
    assert status.message is None and status.error_code is None


@pytest.mark.parametrize(
    ("progress", "state"),
    [
        ("pending", ExportState.PENDING),
        ("processing", ExportState.RUNNING),
        ("paused", ExportState.PAUSED),
        ("blocked", ExportState.PAUSED),
        ("failed", ExportState.FAILED),
        ("aborted", ExportState.CANCELLED),
    ],
)
def test_every_progress_value(progress: str, state: ExportState) -> None:
    assert parse_status({"progress": progress, "completedPercentage": 40}, "t").state is state


def test_failed_process_carries_error_detail() -> None:
    body = {
        "progress": "failed",
        "completed": True,
        "requestStatus": 500,
        "error": {"type": "https://x", "title": "Export failed", "detail": "Repository unavailable"},
    }
    status = parse_status(body, "t")
    assert status.state is ExportState.FAILED
    assert status.message == "Export failed: Repository unavailable"
    assert status.error_code == "500"


def test_older_file_link_keys() -> None:
    assert links({"fileLink": "http://h/file/v4/account.zip", "metaLink": "http://h/m.zip"}) == {
        "file": "http://h/file/v4/account.zip",
        "meta": "http://h/m.zip",
    }


def test_missing_progress_is_a_clear_error() -> None:
    with pytest.raises(ExportResponseError, match="no 'progress'"):
        parse_status({"completed": False}, "t")


def test_login_example_gives_a_token_with_expiry() -> None:
    cred = parse_token(json.loads(LOGIN_EXAMPLE), "login")
    assert cred.token.startswith("eyJhbGciOiJIUzI1NiIs")
    assert cred.expires_at is not None
    assert cred.token not in repr(cred)


def test_error_model_becomes_clear_exception() -> None:
    body = json.dumps({"errorCode": "20031", "message": "Invalid export id", "status": "404"})
    with pytest.raises(ExportRequestError, match=r"HTTP 404, code 20031: Invalid export id") as info:
        check(_resp(404, body), "status of export 'x'")
    assert info.value.code == "20031"
    with pytest.raises(ExportAuthError):
        check(_resp(401, json.dumps({"errorCode": "1", "message": "no"})), "login")


def test_html_error_page_is_named_not_parsed() -> None:
    page = "<!DOCTYPE html><html><body>Gateway maintenance</body></html>"
    with pytest.raises(ExportResponseError, match="got an HTML page") as info:
        _resp(200, page, "text/html").json_object("Oracle Commerce Cloud")
    assert "secret=1" not in str(info.value)  # the query never reaches a message
    with pytest.raises(ExportResponseError, match="malformed JSON"):
        _resp(200, '{"progress": ').json_object("Oracle Commerce Cloud")
    with pytest.raises(ExportResponseError, match="empty body"):
        _resp(200, "").json_object("Oracle Commerce Cloud")


def test_meta_archive_is_read_as_text() -> None:
    meta = {
        "failureCount": 1,
        "successCount": 152,
        "failureExceptions": ["Invalid Phone Number is provided for 313"],
    }
    text = read_meta_archive(make_zip({"exportStatus.json": json.dumps(meta)}))
    assert "Invalid Phone Number is provided for 313" in text
    assert read_meta_archive(b"not a zip") == "not a zip"
