"""Oracle Commerce Cloud (OCC) admin API: export processes.

Sources: the getExportProcess page (shared/seeds/000) and the OCC notes in docs/oracle_commerce.md
(login with an application key, executeExport answering 202 or 200, abort, file/meta links).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from airflow.sdk import Connection

from airflow_provider_exports.errors import (
    ExportAuthError,
    ExportConfigError,
    ExportRequestError,
    ExportResponseError,
)
from airflow_provider_exports.hooks.base import ExportHook
from airflow_provider_exports.status import (
    ExportState,
    ExportStatus,
    map_state,
    parse_progress,
    parse_time,
)
from airflow_provider_exports.transport import (
    Authenticator,
    Credential,
    Op,
    Request,
    Response,
    json_request,
    path_segment,
)

VENDOR = "Oracle Commerce Cloud"
API = "/ccadmin/v1"
#: Log text kept from the meta archive; exports with many failed records can be large.
MAX_LOG_CHARS = 200_000

#: ``progress`` of getExportProcess (shared/seeds/000).
ORACLE_COMMERCE_STATES: Mapping[str, ExportState] = {
    "pending": ExportState.PENDING,
    "processing": ExportState.RUNNING,
    "paused": ExportState.PAUSED,
    # 'blocked' has no documented meaning; it is not finished, so it waits like 'paused'.
    "blocked": ExportState.PAUSED,
    "succeeded": ExportState.SUCCEEDED,
    "failed": ExportState.FAILED,
    "aborted": ExportState.CANCELLED,
}


def check(resp: Response, what: str) -> Response:
    """Raise OCC's errorModel (``errorCode``, ``message``, ``status``) as a clear exception."""
    if resp.ok:
        return resp
    code = message = None
    try:
        body = json.loads(resp.body)
        if isinstance(body, dict):
            code = body.get("errorCode")
            message = body.get("message") or body.get("devMessage")
    except ValueError:
        message = resp.snippet() or None
    cls = ExportAuthError if resp.status in (401, 403) else ExportRequestError
    raise cls(VENDOR, what, status=resp.status, code=code and str(code), message=message)


def parse_token(body: Mapping[str, Any], what: str) -> Credential:
    """A login/refresh answer: ``access_token`` and ``expires_in`` seconds."""
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise ExportResponseError(VENDOR, what, message="the answer has no access_token")
    expires_in = body.get("expires_in")
    ttl = float(expires_in) if isinstance(expires_in, (int, float)) else 300.0
    return Credential(token=token, expires_at=time.time() + ttl)


class OracleCommerceAuth(Authenticator):
    """Application-key login to a bearer token, refreshed before it expires."""

    vendor = VENDOR
    # App-key tokens live 5 minutes on some releases: renew with a minute to spare.
    refresh_margin = 60.0

    def __init__(self, app_key: str) -> None:
        self._app_key = app_key

    def secrets(self) -> Iterable[str]:
        return (self._app_key,)

    def login(self, previous: Credential | None) -> Op[Credential]:
        if previous is not None and previous.fresh(5.0):
            resp = yield Request(
                "POST",
                f"{API}/refresh",
                "refresh the access token",
                headers={"Authorization": f"Bearer {previous.token}", "Accept": "application/json"},
                authenticate=False,
            )
            if resp.ok:
                return parse_token(resp.json_object(VENDOR), "refresh the access token")
        resp = yield Request(
            "POST",
            f"{API}/login",
            "log in with the application key",
            headers={
                "Authorization": f"Bearer {self._app_key}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            body=urlencode({"grant_type": "client_credentials"}).encode(),
            authenticate=False,
        )
        check(resp, "log in with the application key")
        return parse_token(resp.json_object(VENDOR), "log in with the application key")

    def apply(self, request: Request, credential: Credential) -> Request:
        return request.with_headers({"Authorization": f"Bearer {credential.token}"})


@dataclass(frozen=True)
class OracleCommerceSettings:
    """What an OCC connection says: the admin server and the application key (never printed)."""

    base_url: str
    app_key: str = field(repr=False)

    def authenticator(self, vendor: str) -> Authenticator:
        """Application-key login (its messages name OCC already)."""
        return OracleCommerceAuth(self.app_key)


def links(body: Mapping[str, Any]) -> dict[str, str]:
    """``links[rel] -> href``, plus the older ``fileLink``/``metaLink`` keys."""
    out: dict[str, str] = {}
    for link in body.get("links") or []:
        if isinstance(link, dict) and isinstance(link.get("rel"), str) and isinstance(link.get("href"), str):
            out[link["rel"]] = link["href"]
    for key, rel in (("fileLink", "file"), ("metaLink", "meta")):
        if isinstance(body.get(key), str):
            out.setdefault(rel, body[key])
    return out


#: executeExport answers 202 on current releases and 200 on older ones (both documented).
START_STATUSES = (202, 200)
START_ANSWER = "HTTP 202 (200 on older releases) with a JSON object holding the export's 'processId'"


def parse_start(resp: Response) -> str:
    """The ``processId`` of an executeExport answer, or an error naming what came back instead.

    Documented: 202 (current docs) or 200 (older docs) with ``{"processId", "links", "status"}``.
    Anything else (an HTML page, malformed JSON, another 2xx, no ``processId``) is refused: the
    export it would name cannot be waited for.
    """
    body = resp.documented_json(VENDOR, START_ANSWER, statuses=START_STATUSES)
    process_id = body.get("processId")
    if not isinstance(process_id, str) or not process_id:
        raise resp.unexpected(VENDOR, START_ANSWER)
    return process_id


def parse_status(body: Mapping[str, Any], export_id: str) -> ExportStatus:
    """Map a getExportProcess answer to an :class:`ExportStatus`."""
    vendor_state = body.get("progress")
    if not isinstance(vendor_state, str):
        raise ExportResponseError(
            VENDOR,
            f"status of export {export_id!r}",
            message=f"no 'progress' in the answer: {json.dumps(body)[:200]}",
        )
    state = map_state(VENDOR, vendor_state, ORACLE_COMMERCE_STATES)
    progress = parse_progress(body.get("completedPercentage"))
    if progress is None and state is ExportState.SUCCEEDED:
        progress = 100
    raw_error = body.get("error")
    error: Mapping[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    message = ": ".join(str(error[k]) for k in ("title", "detail") if error.get(k)) or None
    request_status = body.get("requestStatus")
    code = str(request_status) if error and request_status is not None else None
    return ExportStatus(
        export_id=export_id,
        vendor_state=vendor_state,
        state=state,
        progress=progress,
        message=message,
        error_code=code,
        started_at=parse_time(body.get("startTime")),
        ended_at=parse_time(body.get("endTime")),
        artifacts=links(body),
        raw=body,
    )


def read_meta_archive(data: bytes, limit: int = MAX_LOG_CHARS) -> str:
    """The text of the files in exportStatus.zip (read only; nothing is extracted to disk)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return data[:limit].decode("utf-8", "replace")
    parts = []
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            with archive.open(info) as fh:
                text = fh.read(limit).decode("utf-8", "replace")
            parts.append(f"== {info.filename} ==\n{text}")
    text = "\n".join(parts)
    return text if len(text) <= limit else text[:limit] + "\n... (truncated)"


class OracleCommerceHook(ExportHook):
    """Oracle Commerce Cloud export processes (``/ccadmin/v1/exportProcess``).

    Connection: host = admin server URL, password = application key.
    """

    conn_type = "oracle_commerce"
    hook_name = "Oracle Commerce Cloud"
    vendor = VENDOR
    default_conn_name = "oracle_commerce_default"
    supports_cancel = True

    def read_settings(self, conn: Connection) -> OracleCommerceSettings:
        app_key = self.require(conn.password, "application key (password field)")
        host = self.require(conn.host, "admin server URL (host field)")
        if not host.startswith(("http://", "https://")):
            host = "https://" + host
        base_url = host if not conn.port else f"{host.rstrip('/')}:{conn.port}"
        return OracleCommerceSettings(base_url=base_url, app_key=app_key)

    def start_op(self, payload: Mapping[str, Any]) -> Op[str]:
        if not payload.get("fileName") and payload.get("mode") != "standalone":
            raise ExportConfigError("An OCC export needs 'fileName' (and 'items' in bundle mode).")
        resp = yield json_request(
            "POST", f"{API}/exportProcess", "start an export", dict(payload), idempotent=False
        )
        check(resp, "start an export")
        return parse_start(resp)

    def _status_request(self, export_id: str) -> Request:
        return Request(
            "GET",
            f"{API}/exportProcess/{path_segment(export_id)}",
            f"status of export {export_id!r}",
            headers={"Accept": "application/json"},
        )

    def status_op(self, export_id: str) -> Op[ExportStatus]:
        resp = yield self._status_request(export_id)
        check(resp, f"status of export {export_id!r}")
        return parse_status(resp.json_object(VENDOR), export_id)

    def _link(self, export_id: str, rel: str) -> Op[str]:
        status = yield from self.status_op(export_id)
        href = status.artifacts.get(rel)
        if not status.is_success or not href:
            raise ExportRequestError(
                VENDOR,
                f"{rel} link of export {export_id!r}",
                message=f"not available ({status.describe()})",
            )
        return href

    def download_op(self, export_id: str) -> Op[Request]:
        href = yield from self._link(export_id, "file")
        return Request("GET", href, f"download export {export_id!r}")

    def log_op(self, export_id: str) -> Op[str]:
        status = yield from self.status_op(export_id)
        href = status.artifacts.get("meta")
        summary = f"{status.describe()}\n"
        if not href:
            # Failed exports have no meta file: the status (with its error) is the log.
            return summary + json.dumps(dict(status.raw), indent=2)
        resp = yield Request("GET", href, f"status file of export {export_id!r}")
        check(resp, f"status file of export {export_id!r}")
        return summary + read_meta_archive(resp.body)

    def cancel_op(self, export_id: str) -> Op[bool]:
        resp = yield Request(
            "POST", f"{API}/exportProcess/{path_segment(export_id)}/abort", f"abort export {export_id!r}"
        )
        check(resp, f"abort export {export_id!r}")
        return bool(resp.json_object(VENDOR).get("success"))

    def check_op(self) -> Op[str]:
        resp = yield Request("GET", f"{API}/exportOperations", "list export operations")
        check(resp, "list export operations")
        items = resp.json_object(VENDOR).get("items") or []
        return f"Connected to {VENDOR}: {len(items)} export operations available."
