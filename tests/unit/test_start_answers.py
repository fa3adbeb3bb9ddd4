"""The start call of each vendor against the answer its docs give (issue 17, defect 1).

A start answer that is not the documented one (a status the docs do not name, an HTML page,
malformed JSON, JSON without the id, Personium's 202 without its ``Location``) must fail at
once with an :class:`ExportResponseError` that names the vendor, the call, the status, the
content type and the start of what came back; every documented answer must still be accepted.

Documented answers (shared/vendor-apis/*.md; the bodies below are copied from them):

- Oracle Commerce Cloud, ``POST /ccadmin/v1/exportProcess``: 202 (current docs) or 200 (older
  docs), a JSON object with ``processId``.
- Informatica IICS, ``POST <baseApiUrl>/public/core/v3/export``: "if successful" (no status named;
  the notes say accept any 2xx), the export job object with its ``id``.
- Personium, ``POST {CellURL}__export`` (501) and ``__import`` (507): 202 Accepted, empty body,
  ``Location: {CellURL}__export`` (``__import``); personium-core's ``CellExportResource`` and
  ``CellImportResource`` build exactly that.

Operations are driven by hand (sans-I/O): each test answers the requests a real server would get.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_exports.errors import ExportResponseError
from airflow_provider_exports.hooks.informatica import InformaticaHook
from airflow_provider_exports.hooks.oracle_commerce import OracleCommerceHook
from airflow_provider_exports.hooks.personium import PersoniumHook
from airflow_provider_exports.transport import Op, Request, Response

MAINTENANCE = (
    "<!DOCTYPE html><html><head><title>Maintenance</title></head><h1>Down for maintenance</h1></html>"
)

# ---- documented answers (verbatim) -----------------------------------------------------------------

#: OCC executeExport, current (22a) docs, HTTP 202.
OCC_START = """{
    "processId":"N2ECA3RrG1jLYZjN4Q6XTNrkjc_10000",
    "links":[
        {
            "rel":"self",
            "href":"http://example.com:9080/ccadminui/v1/exportProcess"
        }
    ],
    "status":"submitted"
}"""
OCC_PROCESS_ID = "N2ECA3RrG1jLYZjN4Q6XTNrkjc_10000"

#: IICS: the docs give the same body for the start and the status answers.
IICS_START = """{ "id": "7evG9CokA1whk8ehF3opKM", "createTime": "2017-10-26T08:15:48.502Z", "updateTime": "2017-10-26T08:15:48.502Z", "name": "testJob1", "startTime": "2017-10-26T08:15:48.501Z", "endTime": null, "status": { "state": "IN_PROGRESS", "message": "In Progress." }, "objects": null }"""  # noqa: E501
IICS_JOB_ID = "7evG9CokA1whk8ehF3opKM"

CELL = "https://cell1.unit1.example/"
NAME = "CellExport_2017_01"


def _finish(op: Op[Any], answer: Callable[[Request], Response]) -> tuple[list[Request], Any]:
    """Drive an operation, answering each request with ``answer(request)``."""
    seen: list[Request] = []
    try:
        request = next(op)
        while True:
            seen.append(request)
            request = op.send(answer(request))
    except StopIteration as stop:
        return seen, stop.value


def _answer(
    status: int, body: str, content_type: str | None = "application/json", **headers: str
) -> Callable[[Request], Response]:
    def _make(request: Request) -> Response:
        all_headers = {**({"Content-Type": content_type} if content_type else {}), **headers}
        return Response(status, all_headers, body.encode(), request.url, request)

    return _make


def _assert_names_everything(
    error: ExportResponseError, vendor: str, call: str, status: int, *shown: str
) -> None:
    """The message names the vendor, the call (its words and method + path), the status, and
    what came back (content type, start of the body)."""
    text = str(error)
    assert text.startswith(f"{vendor}: "), text
    assert call in text, text
    assert f"answered HTTP {status}" in text, text
    assert error.status == status
    for part in shown:
        assert part in text, (part, text)


# ---- the shared part: Response --------------------------------------------------------------------


def _response(status: int, body: str, content_type: str | None) -> Response:
    request = Request("POST", "https://api.example/v1/start?token=s3cret", "start an export")
    headers = {"Content-Type": content_type} if content_type else {}
    return Response(status, headers, body.encode(), request.url, request)


@pytest.mark.parametrize(
    ("body", "content_type", "html"),
    [
        (MAINTENANCE, "text/html; charset=utf-8", True),
        (MAINTENANCE, "text/plain", True),  # by its first bytes
        ("  <html><body>x</body></html>", None, True),
        ('{"processId": "x"}', "application/json", False),
        ("", "text/html", True),  # the label alone says it is a page
    ],
)
def test_an_html_answer_is_known_by_its_type_or_its_first_bytes(
    body: str, content_type: str | None, html: bool
) -> None:
    assert _response(200, body, content_type).is_html is html


@pytest.mark.parametrize(
    ("body", "content_type", "described"),
    [
        (MAINTENANCE, "text/html", f"an HTML page (text/html): {MAINTENANCE}"),
        ('{"status": ', "application/json", 'malformed JSON (application/json): {"status":'),
        ('{"status": "submitted"}', "application/json", 'JSON (application/json): {"status": "submitted"}'),
        ("", None, "an empty body (no content type)"),
        ("Accepted", "text/plain", "a text body that is not JSON (text/plain): Accepted"),
    ],
)
def test_unexpected_names_the_call_status_content_type_and_body(
    body: str, content_type: str | None, described: str
) -> None:
    error = _response(200, body, content_type).unexpected("Vendor X", "HTTP 202 with a JSON object")
    assert isinstance(error, ExportResponseError)
    assert str(error) == (
        "Vendor X: start an export (POST /v1/start) answered HTTP 200: "
        f"expected HTTP 202 with a JSON object, got {described}"
    )
    assert "s3cret" not in str(error)  # the query never reaches a message


def test_documented_json_checks_status_page_and_shape() -> None:
    ok = _response(202, '{"processId": "p1"}', "application/json")
    assert ok.documented_json("V", "a JSON object", statuses=(202, 200)) == {"processId": "p1"}
    assert ok.documented_json("V", "a JSON object") == {"processId": "p1"}  # any 2xx
    with pytest.raises(ExportResponseError, match=r"HTTP 201: expected a JSON object, got JSON"):
        _response(201, '{"processId": "p1"}', "application/json").documented_json(
            "V", "a JSON object", statuses=(202, 200)
        )
    with pytest.raises(ExportResponseError, match=r"got an HTML page \(text/html\)"):
        # Labelled as a page: not the documented JSON answer, whatever the body holds.
        _response(200, '{"processId": "p1"}', "text/html").documented_json("V", "a JSON object")
    with pytest.raises(ExportResponseError, match=r"got JSON \(application/json\): \[1, 2\]"):
        _response(200, "[1, 2]", "application/json").documented_json("V", "a JSON object")


# ---- Oracle Commerce Cloud -----------------------------------------------------------------------

OCC = "Oracle Commerce Cloud"
OCC_CALL = "start an export (POST /ccadmin/v1/exportProcess)"
OCC_PAYLOAD = {"mode": "bundle", "fileName": "p.zip", "items": [{"id": "Profiles", "format": "csv"}]}


@pytest.mark.parametrize("status", [202, 200])
def test_occ_start_accepts_the_documented_answers(status: int) -> None:
    # 202 on current releases, 200 on older ones: both documented, both accepted.
    seen, process_id = _finish(OracleCommerceHook("occ").start_op(OCC_PAYLOAD), _answer(status, OCC_START))
    assert process_id == OCC_PROCESS_ID and len(seen) == 1


@pytest.mark.parametrize(
    ("status", "body", "content_type", "shown"),
    [
        (200, MAINTENANCE, "text/html", ["an HTML page (text/html)", "Down for maintenance"]),
        (202, '{"processId": ', "application/json", ["malformed JSON (application/json)", '{"processId":']),
        (202, '{"status": "submitted", "links": []}', "application/json", ["processId", '"submitted"']),
        (202, '{"processId": 17}', "application/json", ["processId", "17"]),
        (202, "", "application/json", ["an empty body (application/json)"]),
        (201, OCC_START, "application/json", ["202", "N2ECA3RrG1jLYZjN4Q6XTNrkjc_10000"]),
        (204, "", None, ["an empty body (no content type)"]),
    ],
)
def test_occ_start_refuses_answers_that_are_not_documented(
    status: int, body: str, content_type: str | None, shown: list[str]
) -> None:
    with pytest.raises(ExportResponseError) as err:
        _finish(OracleCommerceHook("occ").start_op(OCC_PAYLOAD), _answer(status, body, content_type))
    _assert_names_everything(err.value, OCC, OCC_CALL, status, *shown)


# ---- Informatica IICS ----------------------------------------------------------------------------------

IICS = "Informatica IICS"
IICS_CALL = "start an export (POST /public/core/v3/export)"


@pytest.mark.parametrize("status", [200, 201])
def test_iics_start_accepts_the_documented_answer_with_any_2xx(status: int) -> None:
    # The docs say only "if successful": the status is not pinned, the body is.
    seen, job_id = _finish(InformaticaHook("iics").start_op({"objects": ["a1"]}), _answer(status, IICS_START))
    assert job_id == IICS_JOB_ID and len(seen) == 1


@pytest.mark.parametrize(
    ("status", "body", "content_type", "shown"),
    [
        (200, MAINTENANCE, "text/html", ["an HTML page (text/html)", "Down for maintenance"]),
        (200, '{"id": "7evG9', "application/json", ["malformed JSON (application/json)", '{"id": "7evG9']),
        (
            200,
            '{"name": "testJob1", "status": {"state": "IN_PROGRESS"}}',
            "application/json",
            ["'id'", '"testJob1"'],
        ),
        (200, '{"id": null, "name": "testJob1"}', "application/json", ["'id'", '"id": null']),
        (204, "", None, ["an empty body (no content type)"]),
    ],
)
def test_iics_start_refuses_answers_that_are_not_documented(
    status: int, body: str, content_type: str | None, shown: list[str]
) -> None:
    with pytest.raises(ExportResponseError) as err:
        _finish(InformaticaHook("iics").start_op({"objects": ["a1"]}), _answer(status, body, content_type))
    _assert_names_everything(err.value, IICS, IICS_CALL, status, *shown)


# ---- Personium --------------------------------------------------------------------------------------

PERSONIUM = "Personium"


def _personium_answer(start: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """No ``{Name}.error`` in the snapshot area (404), then ``start`` for the POST."""

    def _make(request: Request) -> Response:
        if request.method == "GET":
            not_found = '{"code": "PR404-DV-0001", "message": {"lang": "en", "value": "Not found."}}'
            return _answer(404, not_found)(request)
        return start(request)

    return _make


@pytest.mark.parametrize(
    ("job", "body", "content_type"),
    [
        ("export", "", None),  # exactly what 501 documents and personium-core sends
        ("export", "", "text/plain"),  # an empty body: its label says nothing
        ("export", '{"status": "ready"}', "application/json"),  # a JSON body is harmless
        ("import", "", None),
    ],
)
def test_personium_start_accepts_the_documented_answer(job: str, body: str, content_type: str | None) -> None:
    hook = PersoniumHook("p", job=job)
    answer = _answer(202, body, content_type, Location=f"{CELL}__{job}")
    seen, name = _finish(hook.start_op({"Name": NAME}), _personium_answer(answer))
    assert name == NAME
    assert [(r.method, r.url) for r in seen][-1] == ("POST", f"__{job}")


@pytest.mark.parametrize(
    ("status", "body", "content_type", "location", "shown"),
    [
        # The issue: a maintenance page answered 200 was taken for a started export.
        (200, MAINTENANCE, "text/html", None, ["an HTML page (text/html)", "Down for maintenance"]),
        (200, MAINTENANCE, "text/html", f"{CELL}__export", ["an HTML page (text/html)"]),
        (200, "", None, f"{CELL}__export", ["HTTP 202", "an empty body"]),
        (204, "", None, f"{CELL}__export", ["HTTP 202", "an empty body"]),
        (202, '{"status": ', "application/json", f"{CELL}__export", ["malformed JSON (application/json)"]),
        (202, MAINTENANCE, "text/html", f"{CELL}__export", ["an HTML page (text/html)"]),
        (202, "Accepted", "text/plain", f"{CELL}__export", ["a text body that is not JSON (text/plain)"]),
        (202, "", None, None, ["no Location header"]),
        (202, "", None, f"{CELL}__import", ["Location", "__import", "not the export status URL"]),
        (202, "", None, "https://maintenance.example/", ["Location", "not the export status URL"]),
    ],
)
def test_personium_start_refuses_answers_that_are_not_documented(
    status: int, body: str, content_type: str | None, location: str | None, shown: list[str]
) -> None:
    headers = {"Location": location} if location else {}
    answer = _answer(status, body, content_type, **headers)
    with pytest.raises(ExportResponseError) as err:
        _finish(PersoniumHook("p").start_op({"Name": NAME}), _personium_answer(answer))
    # Driven by hand, the request keeps its relative URL; on the wire it is the cell's path.
    call = f"start the export of snapshot '{NAME}' (POST __export)"
    _assert_names_everything(err.value, PERSONIUM, call, status, *shown)


def test_personium_import_start_needs_the_import_location() -> None:
    answer = _answer(202, "", None, Location=f"{CELL}__export")
    with pytest.raises(ExportResponseError, match="not the import status URL"):
        _finish(PersoniumHook("p", job="import").start_op({"Name": NAME}), _personium_answer(answer))


def test_personium_start_is_not_reported_as_accepted_when_refused(caplog: pytest.LogCaptureFixture) -> None:
    answer = _answer(200, MAINTENANCE, "text/html")
    with caplog.at_level("INFO"), pytest.raises(ExportResponseError):
        _finish(PersoniumHook("p").start_op({"Name": NAME}), _personium_answer(answer))
    assert not any("accepted" in r.getMessage() for r in caplog.records)


def test_messages_hold_no_body_beyond_the_snippet() -> None:
    long_page = MAINTENANCE + "<p>" + "x" * 5000 + "</p>"
    with pytest.raises(ExportResponseError) as err:
        _finish(OracleCommerceHook("occ").start_op(OCC_PAYLOAD), _answer(200, long_page, "text/html"))
    assert len(str(err.value)) < 600
    assert json.dumps(OCC_PAYLOAD) not in str(err.value)
