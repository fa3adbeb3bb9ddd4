"""What the fault matrix needs to know about each vendor's emulator."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from airflow_provider_exports.testing.emulator import Emulator, Export, Step, make_zip, steps
from airflow_provider_exports.testing.huawei import HuaweiCloudEmulator
from airflow_provider_exports.testing.personium import PersoniumEmulator

#: Odd export ids, by row name: each must reach the vendor intact, as one URL path segment or one
#: query value, whatever it holds: a separator and a dot segment, an escape, a space, non-ASCII,
#: a lone dot segment, the characters that start or split a query or a fragment, and '+' (a
#: space to form decoders).
ODD_IDS: dict[str, str] = {
    "odd_id_slash_dotdot": "a/../b",
    "odd_id_escaped_slash": "%2F",
    "odd_id_space": "with space",
    "odd_id_unicode": "ünïcode",
    "odd_id_dotdot": "..",
    "odd_id_query_chars": "a?b=1&uuid=c&task_id=d#e",
    "odd_id_plus": "x+y",
}

#: The rows that expire the credential: they need a credential that can expire.
TOKEN_ROWS = ("token_expires_mid_wait", "repeated_401")

#: The start-call rows: the start call answers a maintenance page with 200, malformed JSON, or
#: its documented status with a body (or, for Personium, headers) lacking what names the export.
START_ROWS = ("start_html_page_200", "start_malformed_json", "start_2xx_without_id")

Register = Callable[[Emulator, str, list[str | Step], bytes], Export]
RowConnection = Callable[[Emulator, str, str], dict[str, Any] | None]


@dataclass(frozen=True)
class Profile:
    """A vendor as the matrix drives it.

    ``register`` makes an export that goes through ``steps`` (one per status poll) and, when
    finished, serves ``content``; ``status_marker``/``file_marker`` are substrings of that
    export's status and download requests, so faults hit only that export.
    """

    conn_type: str
    running: tuple[str | Step, ...]
    succeeded: str | Step
    failed: Step
    register: Register
    status_marker: Callable[[str], str]
    file_marker: Callable[[str], str] | None
    #: The start call, as the start rows drive it: the payload for an export id (Personium: the
    #: snapshot Name), a substring of the start request's path (the faults' aim) and its method.
    start_payload: Callable[[str], dict[str, Any]]
    start_marker: Callable[[str], str]
    #: The start call's documented success status, a body with that status that lacks the id
    #: (empty for Personium, whose 202 has no body: its row's answer lacks the Location header
    #: instead), and the name of what is missing, as the refusal must say it.
    start_status: int
    start_without_id: str
    start_id: str
    start_method: str = "POST"
    #: Readies what a start row needs before it runs (Personium: the row's own cell).
    start_prepare: Callable[[Emulator, str], None] | None = None
    hook_params: dict[str, Any] = field(default_factory=dict)
    #: Arguments for the emulator.
    emulator_kwargs: dict[str, Any] = field(default_factory=dict)
    #: The path-safety rows (names of ODD_IDS) this vendor runs.
    odd_ids: tuple[str, ...] = tuple(ODD_IDS)
    #: Where the export id travels: as one URL path segment, and/or as this query parameter.
    id_in_path: bool = True
    id_query: str | None = None
    #: "wait" (status calls only) or "download" (status, then the file: ids in query *and* path).
    odd_id_kind: str = "wait"
    #: For vendors that refuse such ids before any request: what the refusal says.
    refuses_odd_ids: str | None = None
    #: Requests matching ``file_marker`` that come before the download itself (DataArts reads
    #: the status on the very URL that then serves the file).
    download_preflight: int = 0
    #: A row's own connection (JSON form), or None for the shared one:
    #: ``(emulator, row name, export id)``.
    row_connection: RowConnection | None = None
    #: Rows whose phrases differ for this vendor (replacing the common ones), with ``notes`` saying why.
    must_say: Mapping[str, list[str]] = field(default_factory=dict)
    #: Shown in the results table next to a row's outcome.
    notes: Mapping[str, str] = field(default_factory=dict)


def _plain_register(file_name: str) -> Register:
    def _register(emulator: Emulator, export_id: str, items: list[str | Step], content: bytes) -> Export:
        return emulator.add_export(export_id, *items, content=content, file_name=file_name)

    return _register


# ---- Personium: one cell per row ----------------------------------------------------------------

PERSONIUM_RUNNING = "exportation in progress"


def personium_cell(export_id: str) -> str:
    """The cell a matrix row's export runs in (``__export`` reports one export per cell)."""
    return f"c-{export_id}"


def _personium_register(
    emulator: Emulator, export_id: str, items: list[str | Step], content: bytes
) -> Export:
    unit = cast(PersoniumEmulator, emulator)
    cell = unit.add_cell(personium_cell(export_id)).name
    script = steps(*items)
    export = unit.begin_export(export_id, *script, cell=cell, content=content or None)
    if not any(step.state == PERSONIUM_RUNNING for step in script):
        # No run to watch: the export finished before the wait began, its snapshot is there.
        unit.add_snapshot(export_id, export.content, cell=cell)
    return export


def _personium_start_cell(emulator: Emulator, export_id: str) -> None:
    cast(PersoniumEmulator, emulator).add_cell(personium_cell(export_id))


def _personium_connection(emulator: Emulator, row: str, export_id: str) -> dict[str, Any] | None:
    unit = cast(PersoniumEmulator, emulator)
    cell = personium_cell(export_id)
    return unit.connection(cell=cell) if cell in unit.cells else None


# ---- Huawei: AK/SK, and IAM tokens for the rows that expire a credential -------------------------


def huawei_iam_connection(emulator: Emulator) -> dict[str, Any]:
    """The emulator's account as an IAM-token connection (the server accepts AK/SK and IAM)."""
    cloud = cast(HuaweiCloudEmulator, emulator)
    conn = cloud.connection()
    extra = {**conn["extra"], "auth_type": "iam", "domain": cloud.domain, "iam_endpoint": cloud.iam_url}
    return {**conn, "login": cloud.user_name, "password": cloud.password, "extra": extra}


def _huawei_connection(emulator: Emulator, row: str, export_id: str) -> dict[str, Any] | None:
    return huawei_iam_connection(emulator) if row in TOKEN_ROWS else None


HUAWEI_TOKEN_NOTE = (
    "IAM-token connection: AK/SK signs every request and has no credential to expire "
    "(a 401 on AK/SK fails at once: signing again cannot help, and repeated failures lock the AK)"
)


PROFILES: dict[str, Profile] = {
    "oracle_commerce": Profile(
        conn_type="oracle_commerce",
        running=("pending", Step("processing", 40)),
        succeeded=Step("succeeded", 100),
        failed=Step("failed", message="Profile repository unavailable", code="EXPORT_IO"),
        register=_plain_register("export.zip"),
        status_marker=lambda export_id: f"/ccadmin/v1/exportProcess/{export_id}",
        file_marker=lambda export_id: f"/file/export/{export_id}/",
        start_payload=lambda export_id: {
            "mode": "bundle",
            "fileName": f"{export_id}.zip",
            "items": [{"id": "Profiles", "format": "csv"}],
        },
        start_marker=lambda export_id: "/ccadmin/v1/exportProcess",
        # executeExport: 202 on current releases (200 on older ones), {"processId", "links", "status"}.
        start_status=202,
        start_without_id='{"links": [{"rel": "self", "href": '
        '"http://example.com:9080/ccadminui/v1/exportProcess"}], "status": "submitted"}',
        start_id="processId",
    ),
    "informatica_iics": Profile(
        conn_type="informatica_iics",
        running=("QUEUED", "IN_PROGRESS"),
        succeeded="SUCCESSFUL",
        failed=Step("FAILED", message="Export failed."),
        register=_plain_register("export.zip"),
        # The pod's v3 API (the login host only logs in and out).
        status_marker=lambda export_id: f"/public/core/v3/export/{export_id}",
        file_marker=lambda export_id: f"/public/core/v3/export/{export_id}/package",
        start_payload=lambda export_id: {
            "name": export_id,
            "objects": [{"id": "l7bgB85m5oGiXObDxwnvK9", "includeDependencies": True}],
        },
        start_marker=lambda export_id: "/public/core/v3/export",
        # The export job object of the docs' example, without its id.
        start_status=200,
        start_without_id='{"createTime": "2017-10-26T08:15:48.502Z", "name": "testJob1", '
        '"status": {"state": "IN_PROGRESS", "message": "In Progress."}, "objects": null}',
        start_id="'id'",
    ),
    "huawei_dataarts": Profile(
        conn_type="huawei_dataarts",
        running=(Step("importing", 0), Step("importing", 40)),
        succeeded=Step("success", 100),
        failed=Step("fail", message="Model export failed", code="DS.6001"),
        register=_plain_register("dataarts_export.xlsx"),
        # The export's uuid travels in the query, and the same URL serves the file once done.
        status_marker=lambda export_id: f"uuid={export_id}",
        file_marker=lambda export_id: f"uuid={export_id}",
        download_preflight=1,
        start_payload=lambda export_id: {"type": "TABLE_MODEL", "ids": [export_id]},
        start_marker=lambda export_id: "/design/export-model",
        # export-model: 200 {"data": {"uuid": ...}}.
        start_status=200,
        start_without_id='{"data": {}}',
        start_id="uuid",
        id_in_path=False,
        id_query="uuid",
        row_connection=_huawei_connection,
        must_say={"html_error_page_200": ["expected JSON or the export file, got a text/html answer"]},
        notes={
            "html_error_page_200": "the status URL answers with the file once done, so a non-JSON "
            "body is not read: the message names the content type instead of quoting the page",
            **dict.fromkeys(TOKEN_ROWS, HUAWEI_TOKEN_NOTE),
        },
    ),
    "huawei_workspace": Profile(
        conn_type="huawei_workspace",
        running=("CREATING", "CREATING"),
        succeeded="SUCCESS",
        failed=Step("FAIL", message="Export failed", code="WKS.0001"),
        register=_plain_register("export.xlsx"),
        # A task's status is found in the task list, filtered by task_id; the file by path.
        status_marker=lambda export_id: f"task_id={export_id}",
        file_marker=lambda export_id: f"/export-tasks/{export_id}/download",
        start_payload=lambda export_id: {"export": "users", "params": {"language": "en_US"}},
        start_marker=lambda export_id: "/users/export",
        # The v3 export calls: 200 {"task_id": ...}.
        start_status=200,
        start_without_id="{}",
        start_id="task_id",
        id_in_path=True,
        id_query="task_id",
        odd_id_kind="download",
        row_connection=_huawei_connection,
        notes=dict.fromkeys(TOKEN_ROWS, HUAWEI_TOKEN_NOTE),
    ),
    "personium": Profile(
        conn_type="personium",
        running=(Step(PERSONIUM_RUNNING, 10), Step(PERSONIUM_RUNNING, 60)),
        succeeded=Step("ready"),
        failed=Step("ready", code="PR500-SV-0001", message="Snapshot file creation failed"),
        register=_personium_register,
        # __export is the cell's one export status: each row has its own cell.
        status_marker=lambda export_id: f"/{personium_cell(export_id)}/__export",
        file_marker=lambda export_id: f"/{personium_cell(export_id)}/__snapshot/{export_id}.zip",
        # POST {CellURL}__export {"Name"}: 202, empty body, Location {CellURL}__export.
        start_payload=lambda export_id: {"Name": export_id},
        start_marker=lambda export_id: f"/{personium_cell(export_id)}/__export",
        start_status=202,
        start_without_id="",
        start_id="Location",
        start_prepare=_personium_start_cell,
        row_connection=_personium_connection,
        refuses_odd_ids="is not a snapshot name",
        notes={
            **dict.fromkeys(
                ODD_IDS,
                "refused before any request: Personium ids are snapshot names (1-192 of A-Z a-z 0-9 - _)",
            ),
            "start_2xx_without_id": "the 202 carries no id (the snapshot name is ours): the row's 202 "
            "lacks the documented Location header",
        },
    ),
}


def sample_zip(tag: str) -> bytes:
    """A valid export archive, distinct per row."""
    return make_zip({"content.json": f'{{"row": "{tag}"}}', "data.csv": f"id,row\n1,{tag}\n" * 2000})
