"""Huawei Cloud DataArts Studio (DataArts Architecture): asynchronous Excel export of design data.

Sources: shared/seeds/003 (``GET /v2/{project_id}/design/export-result``) and
shared/vendor-apis/huawei.md section 2 (``POST /v2/{project_id}/design/export-model``, headers, bodies).
The result endpoint answers JSON while the export runs and the file itself once it is done.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_provider_exports.errors import ExportConfigError, ExportRequestError, ExportResponseError
from airflow_provider_exports.hooks.huawei.auth import json_answer
from airflow_provider_exports.hooks.huawei.base import HuaweiCloudHook, start_answer, start_id
from airflow_provider_exports.status import (
    ExportState,
    ExportStatus,
    map_state,
    parse_progress,
)
from airflow_provider_exports.transport import Op, Request, Response, json_request
from airflow_provider_exports.transport.bodies import is_json_type
from airflow_provider_exports.transport.model import BodyMode

VENDOR = "Huawei Cloud DataArts Studio"
#: The state reported when the result endpoint sends the file instead of JSON.
FILE_READY_STATE = "success"
#: Characters of ``group.logs`` kept in a status message (the full text goes to the log task).
MESSAGE_CHARS = 500

#: ``data.status`` of export-result (shared/seeds/003).
HUAWEI_DATAARTS_STATES: Mapping[str, ExportState] = {
    "importing": ExportState.RUNNING,
    "success": ExportState.SUCCEEDED,
    "fail": ExportState.FAILED,
}


START_WHAT = "start an Excel export"


def _start_uuid(body: Mapping[str, Any]) -> Any:
    data = body.get("data")
    return data.get("uuid") if isinstance(data, dict) else None


def parse_start(body: Mapping[str, Any]) -> str:
    """The export's ``uuid`` from an export-model answer ``{"data": {"uuid": ...}}``."""
    uuid = _start_uuid(body)
    if not isinstance(uuid, str) or not uuid:
        raise ExportResponseError(
            VENDOR, START_WHAT, message=f"the answer has no data.uuid: {json.dumps(body)[:200]}"
        )
    return uuid


def parse_start_answer(resp: Response) -> str:
    """The export id from export-model's whole answer, checked against the documented one
    (HTTP 200, JSON ``{"data": {"uuid": "..."}}``); anything else fails at once, naming what came."""
    body = start_answer(resp, VENDOR, START_WHAT)
    return start_id(_start_uuid(body), "data.uuid", resp, VENDOR, START_WHAT)


def _group_text(group: Any) -> str | None:
    if not isinstance(group, dict):
        return None
    remark, logs = (str(group[k]) if group.get(k) else "" for k in ("remark", "logs"))
    if remark and remark in logs:
        return logs
    return "; ".join(p for p in (remark, logs) if p) or None


def parse_result_body(body: Mapping[str, Any], export_id: str) -> ExportStatus:
    """Map a JSON export-result answer (``data.status``, ``data.rate``, ``data.group``)."""
    data = body.get("data")
    vendor_state = data.get("status") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(vendor_state, str):
        raise ExportResponseError(
            VENDOR,
            f"status of export {export_id!r}",
            message=f"no data.status in the answer: {json.dumps(body)[:200]}",
        )
    state = map_state(VENDOR, vendor_state, HUAWEI_DATAARTS_STATES)
    progress = parse_progress(data.get("rate"))
    if progress is None and isinstance(data.get("group"), dict):
        progress = parse_progress(data["group"].get("rate"))
    if state is ExportState.SUCCEEDED:
        progress = 100
    message = None
    if state is not ExportState.SUCCEEDED:
        text = _group_text(data.get("group"))
        if text:
            message = text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS] + "..."
    return ExportStatus(
        export_id=export_id,
        vendor_state=vendor_state,
        state=state,
        progress=progress,
        message=message,
        raw=body,
    )


def is_file_answer(resp: Response) -> bool:
    """Whether a 2xx non-JSON answer is the export file (not an HTML or text page)."""
    disposition = (resp.header("Content-Disposition") or "").lower()
    if disposition.startswith("attachment"):
        return True
    media = resp.content_type
    return bool(media) and not media.startswith("text/") and media != "application/xhtml+xml"


def parse_result(resp: Response, export_id: str) -> ExportStatus:
    """Map a 2xx export-result answer: JSON is a status, a file means the export succeeded."""
    what = f"status of export {export_id!r}"
    if is_json_type(resp.headers) and not resp.body_skipped:
        return parse_result_body(json_answer(resp, VENDOR, what), export_id)
    if not is_file_answer(resp):
        raise ExportResponseError(
            VENDOR,
            what,
            status=resp.status,
            message=f"expected JSON or the export file, got a {resp.content_type or 'untyped'} answer",
        )
    return ExportStatus(
        export_id=export_id,
        vendor_state=FILE_READY_STATE,
        state=ExportState.SUCCEEDED,
        progress=100,
        artifacts={"content_type": resp.content_type},
    )


class HuaweiDataArtsHook(HuaweiCloudHook):
    """DataArts Studio design-data Excel exports (``/v2/{project_id}/design/export-*``).

    Payload: the ExportParam body of export-model (``type``, ``ids``, ``model_id``, ...);
    ``asyn`` is set to true. Export id: the ``uuid`` DataArts returns.
    """

    conn_type = "huawei_dataarts"
    hook_name = "Huawei Cloud DataArts Studio"
    vendor = VENDOR
    default_conn_name = "huawei_dataarts_default"
    service_host = "dayu"
    needs_workspace = True

    def _headers(self) -> dict[str, str]:
        settings = self.settings
        assert settings.workspace_id is not None  # read_settings requires it
        return {"workspace": settings.workspace_id, "X-Project-Id": settings.project_id}

    def _result_request(self, export_id: str, what: str, read_body: BodyMode) -> Request:
        if not export_id:
            raise ExportConfigError("an empty export id cannot be looked up")
        # No Accept header: once done, the same URL answers with the file, whose type is undocumented.
        return Request(
            "GET",
            f"/v2/{self.project_path}/design/export-result",
            what,
            headers=self._headers(),
            params=(("uuid", export_id),),
            read_body=read_body,
        )

    def start_op(self, payload: Mapping[str, Any]) -> Op[str]:
        if not payload:
            raise ExportConfigError("A DataArts export needs the export-model body (at least 'type').")
        if payload.get("asyn") is False:
            raise ExportConfigError(
                "DataArts exports are waited for asynchronously: leave 'asyn' out or true."
            )
        resp = yield json_request(
            "POST",
            f"/v2/{self.project_path}/design/export-model",
            START_WHAT,
            {**payload, "asyn": True},
            # The type export-model declares (SDK _export_design_models_http_info).
            headers={**self._headers(), "Content-Type": "application/json;charset=UTF-8"},
            idempotent=False,
        )
        self.check(resp, START_WHAT)
        return parse_start_answer(resp)

    def status_op(self, export_id: str) -> Op[ExportStatus]:
        what = f"status of export {export_id!r}"
        # Once done, this endpoint answers with the file: never read it just to learn the state.
        resp = yield self._result_request(export_id, what, "json-only")
        self.check(resp, what)
        return parse_result(resp, export_id)

    def download_op(self, export_id: str) -> Op[Request]:
        status = yield from self.status_op(export_id)
        if not status.is_success:
            raise ExportRequestError(
                VENDOR,
                f"download export {export_id!r}",
                message=f"the file is not ready ({status.describe()})",
            )
        return self._result_request(export_id, f"download export {export_id!r}", "all")

    def log_op(self, export_id: str) -> Op[str]:
        status = yield from self.status_op(export_id)
        summary = status.describe() + "\n"
        if not status.raw:
            return summary + "The export finished; the result endpoint now answers with the Excel file."
        data = status.raw.get("data")
        logs = _group_text(data.get("group")) if isinstance(data, dict) else None
        return summary + (logs + "\n" if logs else "") + json.dumps(dict(status.raw), indent=2)

    def check_op(self) -> Op[str]:
        what = "list design directories"
        resp = yield Request(
            "GET",
            f"/v2/{self.project_path}/design/directorys",
            what,
            headers={**self._headers(), "Accept": "application/json"},
            params=(("type", "CODE"),),
        )
        self.check(resp, what)
        return (
            f"Connected to {VENDOR}: project {self.settings.project_id}, "
            f"workspace {self.settings.workspace_id} ({self.settings.auth_type} authentication)."
        )
