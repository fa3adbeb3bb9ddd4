"""Personium's pure logic fed with the examples of its docs (bodies copied verbatim)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

import pendulum
import pytest

from airflow_provider_exports.errors import (
    ExportAuthError,
    ExportConfigError,
    ExportRequestError,
    ExportResponseError,
)
from airflow_provider_exports.hooks.personium import (
    PersoniumAuth,
    SnapshotFile,
    check,
    classify_export,
    classify_import,
    default_snapshot_name,
    error_details,
    parse_options,
    parse_token,
    propfind_size,
    read_report,
    validate_request_key,
    validate_snapshot_name,
)
from airflow_provider_exports.status import ExportState, ExportStatus
from airflow_provider_exports.transport import Credential, Request, Response

# ---- shared/seeds/001 (Retrieve cell import status), "Response Sample" -------------------------

SEED_READY = """{
"status": "ready"
}"""

SEED_IN_PROGRESS = """{
"status": "importation in progress",
"started_at": "2017-02-13T09:00:00.000Z",
"progress": "81%",
"importation_name": "CellExport_2017_01"
}"""

SEED_FAILED = """{
"status": "import failed",
"started_at": "2017-02-13T09:00:00.000Z",
"progress": "81%",
"importation_name": "CellExport_2017_01",
"message": {
"code" : "PR409-OD-0003",
"message" : {
"lang" : "en",
"value" : "The entity already exists."
}
}
}"""

# ---- 502 Retrieve cell export status, 501 error file, 505 PROPFIND, 293 token ------------------

EXPORT_READY = '{ "status": "ready" }'

EXPORT_IN_PROGRESS = """{
  "status": "exportation in progress",
  "started_at": "2017-02-13T09:00:00.000Z",
  "progress": "81%",
  "exportation_name": "CellExport_2017_01"
}"""

ERROR_FILE = """{
  "code":"PR503-SV-0001",
  "message":
  {
    "lang":"en",
    "value":"Too many concurrent requests."
  }
}"""

PROPFIND_SAMPLE = b"""<multistatus xmlns="DAV:">
  <response>
    <href>https://cell1.unit1.example/__snapshot/CellExport_2017_01.zip</href>
    <propstat>
      <prop>
        <creationdate>2017-02-15T01:52:34.635+0000</creationdate>
        <getcontentlength>2000000</getcontentlength>
        <getcontenttype>application/zip</getcontenttype>
        <getlastmodified>Wed, 15 Feb 2017 01:52:34 GMT</getlastmodified>
        <resourcetype/>
        <acl xmlns:p="urn:x-personium:xmlns"/>
      </prop>
      <status>HTTP/1.1 200 OK</status>
    </propstat>
  </response>
</multistatus>"""

TOKEN_ANSWER = """{
  "access_token": "AA~PBDc...(snip)...FrTjA",
  "refresh_token_expires_in": 86400,
  "refresh_token": "RA~uELM...(snip)...yWMoQ",
  "token_type": "Bearer",
  "scope": "root",
  "expires_in": 3600,
  "last_authenticated": 1486462510467,
  "failed_count": 2
}"""

NAME = "CellExport_2017_01"
STARTED = pendulum.datetime(2017, 2, 13, 9, 0, 0)


def _import(body: str, **kw: Any) -> tuple[ExportStatus, bool]:
    return classify_import(read_report(json.loads(body), "import"), NAME, **kw)


def _export(body: str, **kw: Any) -> ExportStatus:
    return classify_export(read_report(json.loads(body), "export"), NAME, **kw)


# ---- import status -----------------------------------------------------------------------------


def test_seed_in_progress_is_running_with_progress_start_and_name() -> None:
    report = read_report(json.loads(SEED_IN_PROGRESS), "import")
    assert report.vendor_state == "importation in progress"
    assert report.progress == 81
    assert report.name == NAME
    assert report.started_at == STARTED
    status, begun = classify_import(report, NAME)
    assert status.state is ExportState.RUNNING and not status.is_terminal
    assert status.progress == 81 and status.started_at == STARTED
    assert begun, "seeing it running is the proof that it began"


def test_seed_ready_before_the_import_started_is_not_success() -> None:
    status, begun = _import(SEED_READY)
    assert status.state is ExportState.PENDING
    assert not status.is_terminal
    assert "not seen yet" in status.message
    assert "__import" in status.message
    assert not begun


def test_seed_ready_after_the_import_was_seen_is_success() -> None:
    status, _ = _import(SEED_READY, observed=True)
    assert status.is_success
    assert status.vendor_state == "ready" and status.progress == 100


def test_seed_failure_gives_code_and_message() -> None:
    status, begun = _import(SEED_FAILED)
    assert status.state is ExportState.FAILED
    assert status.error_code == "PR409-OD-0003"
    assert status.message == "The entity already exists."
    assert status.progress == 81
    assert begun


def test_failure_of_an_earlier_run_is_not_ours_but_proves_the_cell_is_held() -> None:
    status, begun = _import(SEED_FAILED, started_after=pendulum.datetime(2017, 2, 14))
    assert status.state is ExportState.PENDING
    assert "earlier failed import" in status.message
    # Only a successful import clears 'import failed', so a later 'ready' means ours finished.
    assert begun
    assert _import(SEED_FAILED, started_after=STARTED)[0].state is ExportState.FAILED


def test_running_import_is_matched_by_name_only() -> None:
    # started_after guards against old failures; a running import of ours is ours even if the
    # cell's clock is behind Airflow's.
    status, begun = _import(SEED_IN_PROGRESS, started_after=pendulum.datetime(2017, 2, 14))
    assert status.state is ExportState.RUNNING and begun


def test_another_import_running_is_not_ours() -> None:
    status, begun = classify_import(read_report(json.loads(SEED_IN_PROGRESS), "import"), "Other_Snapshot")
    assert status.state is ExportState.PENDING
    assert "another import ('CellExport_2017_01'" in (status.message or "")
    assert not begun
    failed, _ = classify_import(read_report(json.loads(SEED_FAILED), "import"), "Other_Snapshot")
    assert failed.state is ExportState.PENDING


def test_unknown_state_is_not_terminal_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    body = {"status": "importation queued (unit test)", "importation_name": NAME}
    with caplog.at_level(logging.WARNING):
        first, _ = classify_import(read_report(body, "import"), NAME)
        second, _ = classify_import(read_report(body, "import"), NAME)
    assert first.state is None and not first.is_terminal and second.state is None
    warned = [r for r in caplog.records if "importation queued (unit test)" in r.getMessage()]
    assert len(warned) == 1


def test_answer_without_status_is_a_clear_error() -> None:
    with pytest.raises(ExportResponseError, match="no 'status' in the answer"):
        read_report({"progress": "81%"}, "import")


# ---- export status -----------------------------------------------------------------------------


def test_export_in_progress_is_running() -> None:
    status = _export(EXPORT_IN_PROGRESS)
    assert status.state is ExportState.RUNNING and status.progress == 81
    assert status.started_at == STARTED
    other = classify_export(read_report(json.loads(EXPORT_IN_PROGRESS), "export"), "Mine")
    assert other.state is ExportState.PENDING and "another export" in (other.message or "")


def test_export_ready_with_the_zip_is_success() -> None:
    status = _export(EXPORT_READY, snapshot=SnapshotFile(f"{NAME}.zip", propfind_size(PROPFIND_SAMPLE)))
    assert status.is_success
    assert status.message == f"snapshot {NAME}.zip is ready (2000000 bytes)"
    assert status.artifacts == {"file": f"__snapshot/{NAME}.zip"}


def test_export_ready_with_the_error_file_is_failure_with_its_code_and_message() -> None:
    status = _export(EXPORT_READY, error_file=json.loads(ERROR_FILE))
    assert status.state is ExportState.FAILED
    assert status.error_code == "PR503-SV-0001"
    assert status.message == "Too many concurrent requests."
    assert status.raw["error_file"]["code"] == "PR503-SV-0001"


def test_export_ready_before_it_started_is_pending() -> None:
    for snapshot in (None, SnapshotFile(f"{NAME}.zip", 0)):
        status = _export(EXPORT_READY, snapshot=snapshot)
        assert status.state is ExportState.PENDING
        assert "neither" in status.message


def test_there_is_no_export_failed_state() -> None:
    status = _export('{"status": "export failed"}')
    assert status.state is None, "not documented for __export: never terminal on its own"


def test_propfind_size_and_bad_xml() -> None:
    assert propfind_size(PROPFIND_SAMPLE) == 2000000
    assert propfind_size(b'<multistatus xmlns="DAV:"><response/></multistatus>') is None
    with pytest.raises(ExportResponseError, match="unreadable XML"):
        propfind_size(b"<html><body>Bad gateway")


def test_error_details_shapes() -> None:
    assert error_details(json.loads(ERROR_FILE)) == ("PR503-SV-0001", "Too many concurrent requests.")
    assert error_details(json.loads(SEED_FAILED)["message"]) == (
        "PR409-OD-0003",
        "The entity already exists.",
    )
    assert error_details({"code": "X", "message": "plain"}) == ("X", "plain")
    assert error_details("not an object") == (None, None)


# ---- tokens ------------------------------------------------------------------------------------


def test_token_answer_from_the_docs() -> None:
    before = time.time()
    credential = parse_token(json.loads(TOKEN_ANSWER), "log in")
    assert credential.token == "AA~PBDc...(snip)...FrTjA"
    assert credential.refresh_token == "RA~uELM...(snip)...yWMoQ"
    assert credential.expires_at is not None and before + 3600 <= credential.expires_at <= time.time() + 3600
    assert "AA~" not in repr(credential) and "RA~" not in repr(credential)
    with pytest.raises(ExportResponseError, match="no access_token"):
        parse_token({"token_type": "Bearer"}, "log in")


def _response(status: int, body: str, request: Request) -> Response:
    return Response(
        status, {"Content-Type": "application/json"}, body.encode(), "http://cell/__token", request
    )


def test_login_prefers_the_refresh_token_and_falls_back_to_the_password() -> None:
    auth = PersoniumAuth(username="me", password="pw-secret-1", request_key="key_1")
    previous = Credential(token="old", expires_at=time.time() - 1, refresh_token="RA~refresh")
    op = auth.login(previous)
    refresh = next(op)
    assert refresh.url == "__token" and not refresh.authenticate
    assert refresh.headers["X-Personium-RequestKey"] == "key_1"
    assert parse_qs(refresh.body.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["RA~refresh"],
    }
    expired = '{"error": "invalid_grant", "error_description": "[PR400-AN-0010] - Token expired or invalid."}'
    login = op.send(_response(400, expired, refresh))
    assert parse_qs(login.body.decode()) == {
        "grant_type": ["password"],
        "username": ["me"],
        "password": ["pw-secret-1"],
    }
    with pytest.raises(StopIteration) as done:
        op.send(_response(200, TOKEN_ANSWER, login))
    assert done.value.value.token == "AA~PBDc...(snip)...FrTjA"


def test_connection_token_is_used_first_then_renewed_from_what_was_sent() -> None:
    auth = PersoniumAuth(access_token="AA~conn", refresh_token="RA~conn")
    first = auth.login(None)
    with pytest.raises(StopIteration) as done:
        next(first)
    credential = done.value.value
    assert credential.token == "AA~conn"
    signed = auth.apply(Request("GET", "http://cell/__export", "status"), credential)
    assert signed.headers["Authorization"] == "Bearer AA~conn"
    # The runner drops a rejected credential and calls login(None): the refresh token still works.
    renew = auth.login(None)
    assert parse_qs(next(renew).body.decode())["refresh_token"] == ["RA~conn"]


def test_rejected_refresh_without_password_is_an_auth_error() -> None:
    auth = PersoniumAuth(refresh_token="RA~gone")
    op = auth.login(None)
    request = next(op)
    with pytest.raises(ExportAuthError, match=r"could not be renewed.*PR400-AN-0010") as err:
        op.send(
            _response(400, '{"error": "invalid_grant", "error_description": "[PR400-AN-0010] - x"}', request)
        )
    assert "RA~gone" not in str(err.value)


# ---- errors --------------------------------------------------------------------------------------


def test_api_error_body_gives_code_message_and_hint() -> None:
    request = Request("POST", "__export", "start the export of snapshot 'X'")
    body = '{"code": "PR409-DV-0002", "message": {"lang": "en", "value": "File [X.zip] already exists."}}'
    with pytest.raises(ExportRequestError) as err:
        check(_response(409, body, request), request.what)
    assert err.value.code == "PR409-DV-0002" and err.value.status == 409
    assert "File [X.zip] already exists. (a snapshot with this name already exists" in str(err.value)
    forbidden = (
        '{"code": "PR403-AU-0002", "message": {"lang": "en", "value": "Necessary privilege is lacking."}}'
    )
    with pytest.raises(ExportAuthError, match="root privilege"):
        check(_response(403, forbidden, request), request.what)


def test_html_error_page_is_quoted_not_parsed() -> None:
    request = Request("GET", "__export", "status")
    page = Response(
        502, {"Content-Type": "text/html"}, b"<html><body>Bad Gateway</body></html>", "u", request
    )
    with pytest.raises(ExportRequestError, match="HTTP 502: <html><body>Bad Gateway"):
        check(page, "status")


# ---- names, request keys, options ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["CellExport_2017_01", "a", "x" * 192, "with-dash_and_underscore"])
def test_valid_snapshot_names(name: str) -> None:
    assert validate_snapshot_name(name) == name


@pytest.mark.parametrize("name", ["", "../x", "a/b", "a.zip", "x" * 193, "spaces no", None, 7])
def test_invalid_snapshot_names(name: object) -> None:
    with pytest.raises(ExportConfigError, match="is not a snapshot name"):
        validate_snapshot_name(name)


def test_default_snapshot_names_are_valid_and_new() -> None:
    names = {default_snapshot_name() for _ in range(20)}
    assert len(names) == 20
    assert all(validate_snapshot_name(n).startswith("airflow_") for n in names)


def test_request_key_limits() -> None:
    assert validate_request_key("k" * 128) == "k" * 128
    assert validate_request_key("run-1_A") == "run-1_A"
    with pytest.raises(ExportConfigError, match=r"\(it has 129 characters\)"):
        validate_request_key("k" * 129)
    with pytest.raises(ExportConfigError, match=r"it contains ' :'"):
        validate_request_key("manual run:1")
    with pytest.raises(ExportConfigError, match="it is empty"):
        validate_request_key("")


def test_options() -> None:
    assert parse_options({}).job == "export" and parse_options({}).endpoint == "__export"
    options = parse_options(
        {"job": "import", "started_after": "2017-02-13T09:00:00Z", "observed_imports": [NAME]}
    )
    assert options.endpoint == "__import" and options.started_after == STARTED
    assert options.observed_imports == frozenset({NAME})
    with pytest.raises(ExportConfigError, match="job must be 'export' or 'import'"):
        parse_options({"job": "snapshot"})
    with pytest.raises(ExportConfigError, match=r"unknown hook_params \['jobb'\]"):
        parse_options({"jobb": "import"})
    with pytest.raises(ExportConfigError, match="started_after must be an ISO-8601 time"):
        parse_options({"started_after": "yesterday-ish"})
