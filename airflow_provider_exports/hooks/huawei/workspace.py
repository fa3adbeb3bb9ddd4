"""Huawei Cloud Workspace: export tasks of the Export Center.

Sources: shared/seeds/004 (``GET /v2/{project_id}/export-tasks``) and shared/vendor-apis/huawei.md
section 3 (the export calls that return ``task_id``, the download endpoint). There is no
single-task status call: a task is found in the list, filtered by ``task_id`` and paged in case the
filter is not applied.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_exports.available import AvailableExport
from airflow_provider_exports.errors import ExportConfigError, ExportRequestError, ExportResponseError
from airflow_provider_exports.hooks.huawei.auth import json_answer
from airflow_provider_exports.hooks.huawei.base import HuaweiCloudHook, start_answer, start_id
from airflow_provider_exports.status import (
    ExportState,
    ExportStatus,
    map_state,
    parse_time,
)
from airflow_provider_exports.transport import Op, Request, Response, json_request, path_segment

VENDOR = "Huawei Cloud Workspace"
#: The list's largest page (documented range 1-100).
MAX_PAGE_SIZE = 100
#: Pages read at most when looking for one task (with the largest page: 10,000 tasks).
MAX_PAGES = 100
EXPIRED_MESSAGE = "the export file has expired and can no longer be downloaded; start a new export"

#: ``status`` of an export task (shared/seeds/004).
HUAWEI_WORKSPACE_STATES: Mapping[str, ExportState] = {
    "CREATING": ExportState.RUNNING,
    "SUCCESS": ExportState.SUCCEEDED,
    "FAIL": ExportState.FAILED,
    "EXPIRED": ExportState.EXPIRED,
}


@dataclass(frozen=True)
class ExportKind:
    """One Workspace call that starts an export task and answers ``{"task_id": ...}``."""

    method: str
    #: Path after ``/{version}/{project_id}``; ``{name}`` parts come from the params.
    path: str
    version: str = "v3"
    defaults: Mapping[str, Any] = field(default_factory=dict)
    #: Query parameters the API types as one String of comma-separated values: a list given for
    #: one is joined with commas. Every other list goes as repeated keys (see :func:`query_pairs`).
    comma_joined: frozenset[str] = frozenset()
    #: The Content-Type of a JSON body, as the call declares it (the SDK's generated request code).
    content_type: str = "application/json"


#: Export calls from huawei.md section 3; ``params`` go into the JSON body (POST) or the query (GET).
EXPORT_KINDS: Mapping[str, ExportKind] = {
    "users": ExportKind("POST", "/users/export"),
    # 'language' is required by the API; English unless the payload says otherwise.
    # pool_id: "Desktop pool ID. Use commas (,) to separate multiple desktop pool IDs" (a String).
    "desktops": ExportKind(
        "GET", "/desktops/export", defaults={"language": "en_US"}, comma_joined=frozenset({"pool_id"})
    ),
    "desktop_connections": ExportKind("GET", "/desktops/connections/export"),
    "group_users": ExportKind("GET", "/groups/{group_id}/users/export"),
    "app_user_access_metrics": ExportKind(
        "POST",
        "/statistics/metrics/app-user-access/export",
        version="v2",
        content_type="application/json;charset=UTF-8",
    ),
    "desktop_metrics": ExportKind("GET", "/statistics/metrics/desktops/export"),
    "user_metrics": ExportKind("GET", "/statistics/metrics/users/export"),
    "binding_desktops_template": ExportKind("GET", "/terminals/binding-desktops/template/export"),
}


def query_value(key: str, value: Any) -> str:
    """One query value as the API expects it: booleans ``true``/``false``, numbers and strings as
    text. Objects have no query form in these APIs (a tag is the string ``key=value``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (Mapping, list, tuple, set)):
        raise ExportConfigError(
            f"The Workspace query parameter {key!r} takes a string, number, boolean or a list of "
            f"them, not {type(value).__name__} {value!r}."
        )
    return str(value)


def query_pairs(params: Mapping[str, Any], comma_joined: Collection[str] = ()) -> tuple[tuple[str, str], ...]:
    """The query of a GET export call. A list (an "Array" parameter, e.g. ``user_names``) goes as
    repeated keys, ``user_names=a&user_names=b``, the form Huawei's SDKs send for every array query
    parameter; only the parameters in ``comma_joined`` (documented as one comma-separated String)
    are joined with commas. ``None`` values are left out."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            values = [query_value(key, v) for v in value if v is not None]
            if key in comma_joined:
                pairs.extend([(key, ",".join(values))] if values else [])
            else:
                pairs.extend((key, v) for v in values)
        else:
            pairs.append((key, query_value(key, value)))
    return tuple(pairs)


def parse_task_id(body: Mapping[str, Any]) -> str:
    """The ``task_id`` of an export call's answer."""
    task_id = body.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        raise ExportResponseError(
            VENDOR, "start an export task", message=f"the answer has no task_id: {json.dumps(body)[:200]}"
        )
    return task_id


def parse_start_answer(resp: Response, what: str) -> str:
    """The ``task_id`` from an export call's whole answer, checked against the documented one
    (HTTP 200, JSON ``{"task_id": "..."}``); anything else fails at once, naming what came."""
    body = start_answer(resp, VENDOR, what)
    return start_id(body.get("task_id"), "task_id", resp, VENDOR, what)


@dataclass(frozen=True)
class TaskPage:
    """One page of ``GET /v2/{project_id}/export-tasks``."""

    items: list[Mapping[str, Any]]
    count: int | None

    def find(self, task_id: str) -> Mapping[str, Any] | None:
        """The item of ``task_id`` on this page, if any."""
        return next((item for item in self.items if item.get("task_id") == task_id), None)


def parse_task_page(body: Mapping[str, Any]) -> TaskPage:
    """Read ``export_tasks`` and ``count``."""
    items = body.get("export_tasks")
    if not isinstance(items, list):
        raise ExportResponseError(
            VENDOR,
            "list export tasks",
            message=f"the answer has no export_tasks list: {json.dumps(body)[:200]}",
        )
    count = body.get("count")
    return TaskPage(
        items=[item for item in items if isinstance(item, dict)],
        count=count if isinstance(count, int) and not isinstance(count, bool) else None,
    )


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def parse_task(item: Mapping[str, Any], task_id: str) -> ExportStatus:
    """Map an ExportTaskItem: ``status`` with ``fail_reason``/``error_code`` for failures."""
    vendor_state = item.get("status")
    if not isinstance(vendor_state, str):
        raise ExportResponseError(
            VENDOR,
            f"status of export task {task_id!r}",
            message=f"the task has no status: {json.dumps(item)[:200]}",
        )
    state = map_state(VENDOR, vendor_state, HUAWEI_WORKSPACE_STATES)
    message = code = None
    if state not in (ExportState.SUCCEEDED, ExportState.RUNNING):
        message, code = _text(item.get("fail_reason")), _text(item.get("error_code"))
    if state is ExportState.EXPIRED:
        message = f"{message}; {EXPIRED_MESSAGE}" if message else EXPIRED_MESSAGE
    file_name = _text(item.get("file_name"))
    return ExportStatus(
        export_id=task_id,
        vendor_state=vendor_state,
        state=state,
        progress=100 if state is ExportState.SUCCEEDED else None,
        message=message,
        error_code=code,
        started_at=parse_time(item.get("create_time")),
        ended_at=parse_time(item.get("end_time")),
        artifacts={"file_name": file_name} if file_name else {},
        raw=item,
    )


def parse_available(item: Mapping[str, Any]) -> AvailableExport | None:
    """A listed task that is finished and not downloaded yet, as an :class:`AvailableExport`;
    ``None`` for any other item (a server that ignores the list filters sends those too)."""
    task_id = item.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        return None
    if item.get("status") != "SUCCESS" or item.get("is_download") is not False:
        return None
    ended = parse_time(item.get("end_time"))
    return AvailableExport(
        export_id=task_id,
        name=_text(item.get("file_name")) or task_id,
        size=None,  # ExportTaskItem has no size (shared/seeds/004)
        finished_at=ended,
        version="",  # a task id is never reused
    )


class HuaweiWorkspaceHook(HuaweiCloudHook):
    """Workspace export tasks (users, desktops, ... lists as files).

    Payload: ``{"export": "<kind>", "params": {...}}`` with a kind of :data:`EXPORT_KINDS`.
    Export id: the ``task_id``. Option (``hook_params``): ``list_page_size`` (1-100, default 100).
    """

    conn_type = "huawei_workspace"
    hook_name = "Huawei Cloud Workspace"
    vendor = VENDOR
    default_conn_name = "huawei_workspace_default"
    service_host = "workspace"

    @property
    def page_size(self) -> int:
        """Tasks per list page (``list_page_size`` option)."""
        value = self.options.get("list_page_size", MAX_PAGE_SIZE)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
            raise ExportConfigError(
                f"list_page_size must be an integer from 1 to {MAX_PAGE_SIZE}, not {value!r}"
            )
        return value

    def start_request(self, payload: Mapping[str, Any]) -> Request:
        """The call that creates the export task the payload asks for."""
        name = payload.get("export")
        kind = EXPORT_KINDS.get(name) if isinstance(name, str) else None
        if kind is None:
            raise ExportConfigError(
                f"A Workspace export payload needs 'export', one of {', '.join(EXPORT_KINDS)}; got {name!r}."
            )
        params = payload.get("params") or {}
        if not isinstance(params, Mapping):
            raise ExportConfigError("A Workspace export payload's 'params' must be an object.")
        params = {**kind.defaults, **params}
        path = kind.path
        while "{" in path:
            key = path[path.index("{") + 1 : path.index("}")]
            value = params.pop(key, None)
            if value in (None, ""):
                raise ExportConfigError(f"The Workspace export {name!r} needs params.{key}.")
            path = path.replace("{" + key + "}", path_segment(str(value)))
        url = f"/{kind.version}/{self.project_path}{path}"
        what = f"start a {name} export task"
        if kind.method == "POST":
            return json_request(
                "POST", url, what, params, headers={"Content-Type": kind.content_type}, idempotent=False
            )
        return Request(
            "GET",
            url,
            what,
            headers={"Accept": "application/json"},
            params=query_pairs(params, kind.comma_joined),
            idempotent=False,
        )

    def start_op(self, payload: Mapping[str, Any]) -> Op[str]:
        request = self.start_request(payload)
        resp = yield request
        self.check(resp, request.what)
        return parse_start_answer(resp, request.what)

    def find_task_op(self, task_id: str) -> Op[Mapping[str, Any]]:
        """The task's list item: filtered by ``task_id``, paged in case the filter is ignored."""
        if not task_id:
            raise ExportConfigError("an empty export task id cannot be looked up")
        what = f"status of export task {task_id!r}"
        offset = 0
        for _ in range(MAX_PAGES):
            resp = yield Request(
                "GET",
                f"/v2/{self.project_path}/export-tasks",
                what,
                headers={"Accept": "application/json"},
                params=(
                    ("task_id", task_id),
                    # Newest first: a just-started task is on the first page even unfiltered.
                    ("sort_field", "create_time"),
                    ("sort_type", "DESC"),
                    ("offset", str(offset)),
                    ("limit", str(self.page_size)),
                ),
            )
            self.check(resp, what)
            page = parse_task_page(json_answer(resp, VENDOR, what))
            item = page.find(task_id)
            if item is not None:
                return item
            offset += len(page.items)
            if not page.items:
                break
            if (offset >= page.count) if page.count is not None else (len(page.items) < self.page_size):
                break
        raise ExportRequestError(
            VENDOR,
            what,
            status=404,
            message=f"the task is not in the export task list ({offset} tasks checked): "
            "the id is wrong or the task was deleted",
        )

    def status_op(self, export_id: str) -> Op[ExportStatus]:
        item = yield from self.find_task_op(export_id)
        return parse_task(item, export_id)

    def download_op(self, export_id: str) -> Op[Request]:
        status = yield from self.status_op(export_id)
        if not status.is_success:
            raise ExportRequestError(
                VENDOR,
                f"download export task {export_id!r}",
                message=f"no file to download ({status.describe()})",
            )
        return Request(
            "GET",
            f"/v2/{self.project_path}/export-tasks/{path_segment(export_id)}/download",
            f"download export task {export_id!r}",
        )

    def log_op(self, export_id: str) -> Op[str]:
        status = yield from self.status_op(export_id)
        # Workspace keeps no log for export tasks: the task record is the closest thing.
        return status.describe() + "\n" + json.dumps(dict(status.raw), indent=2)

    def available_op(self, file_name: str | None = None) -> Op[list[AvailableExport]]:
        """Finished export tasks whose file has not been downloaded yet, oldest first.

        ``GET /v2/{project_id}/export-tasks?status=SUCCESS&is_download=false`` (shared/seeds/004),
        with the optional ``file_name`` filter, paged with the largest page; the items are
        checked again here in case the server ignores a filter.
        """
        what = "list finished export tasks"
        found: list[AvailableExport] = []
        offset = 0
        for _ in range(MAX_PAGES):
            params: list[tuple[str, str]] = [("status", "SUCCESS"), ("is_download", "false")]
            if file_name:
                params.append(("file_name", file_name))
            params += [
                ("sort_field", "create_time"),
                ("sort_type", "ASC"),
                ("offset", str(offset)),
                ("limit", str(MAX_PAGE_SIZE)),
            ]
            resp = yield Request(
                "GET",
                f"/v2/{self.project_path}/export-tasks",
                what,
                headers={"Accept": "application/json"},
                params=tuple(params),
            )
            self.check(resp, what)
            page = parse_task_page(json_answer(resp, VENDOR, what))
            for item in page.items:
                export = parse_available(item)
                if export is not None and (not file_name or export.name == file_name):
                    found.append(export)
            offset += len(page.items)
            if not page.items:
                break
            if (offset >= page.count) if page.count is not None else (len(page.items) < MAX_PAGE_SIZE):
                break
        return found

    def check_op(self) -> Op[str]:
        what = "list export tasks"
        resp = yield Request(
            "GET",
            f"/v2/{self.project_path}/export-tasks",
            what,
            headers={"Accept": "application/json"},
            params=(("limit", "1"),),
        )
        self.check(resp, what)
        page = parse_task_page(json_answer(resp, VENDOR, what))
        count = page.count if page.count is not None else len(page.items)
        return (
            f"Connected to {VENDOR}: project {self.settings.project_id}, {count} export tasks "
            f"({self.settings.auth_type} authentication)."
        )
