"""Oracle Commerce Cloud admin API emulator: application-key login, bearer tokens with expiry,
refresh, export processes with scripted ``progress``, file and meta links, abort, and OCC's
``errorModel`` error bodies."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, ClassVar

from aiohttp import web

from airflow_provider_exports.testing.emulator import (
    Emulator,
    Export,
    Step,
    Target,
    TokenBook,
    bearer,
    dumps,
    json_error,
    make_zip,
    new_id,
    serve_bytes,
)

API = "/ccadmin/v1"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{int(epoch * 1000) % 1000:03d}Z"
    )


def error_model(status: int, code: str, message: str) -> web.Response:
    """OCC's documented errorModel body."""
    return json_error(
        status,
        {
            "errorCode": code,
            "message": message,
            "status": str(status),
            "type": "https://httpstatuses.io/" + str(status),
        },
    )


class OracleCommerceEmulator(Emulator):
    """An OCC admin server. ``app_key`` is what a connection's password must hold."""

    vendor = "oracle_commerce"
    default_script: ClassVar[list[Step]] = [
        Step("pending"),
        Step("processing", 30),
        Step("processing", 70),
        Step("succeeded", 100),
    ]
    neutral_states: ClassVar[Mapping[str, str]] = {
        "pending": "pending",
        "running": "processing",
        "succeeded": "succeeded",
        "failed": "failed",
        "cancelled": "aborted",
    }
    fault_targets: ClassVar[Mapping[str, Target | str]] = {
        # The token requests: the application-key login and the refresh of a token.
        "login": Target("POST", f"{API}/(login|refresh)"),
        "start": Target("POST", f"{API}/exportProcess"),
        "status": Target("GET", f"{API}/exportProcess/[^/]+"),
        "download": Target("GET", "/file/export/[^/]+/(?!exportStatus\\.zip$)[^/]+"),
        # OCC's record of an export is its status file (the "meta" link).
        "log": Target("GET", "/file/export/[^/]+/exportStatus\\.zip"),
    }

    def __init__(
        self,
        *,
        app_key: str = "occ-app-key-0123456789abcdef",
        token_ttl: float = 300.0,
        start_status: int = 202,
        files_on_other_origin: bool = False,
        **kw: Any,
    ) -> None:
        self.app_key = app_key
        self.tokens = TokenBook(token_ttl)
        self.start_status = start_status
        self.files_on_other_origin = files_on_other_origin
        kw.setdefault("extra_ports", 1)
        super().__init__(**kw)

    def expire_credentials(self) -> None:
        self.tokens.expire_all()

    def connection(self) -> dict[str, Any]:
        return {"conn_type": "oracle_commerce", "host": self.url, "password": self.app_key}

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(f"{API}/login", self._login)
        router.add_post(f"{API}/refresh", self._refresh)
        router.add_get(f"{API}/exportOperations", self._operations)
        router.add_post(f"{API}/exportProcess", self._start)
        router.add_get(f"{API}/exportProcess/{{token}}", self._status)
        router.add_post(f"{API}/exportProcess/{{token}}/abort", self._abort)
        router.add_get("/file/export/{token}/{name}", self._file)

    # ---- auth ----------------------------------------------------------------------------------

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        if bearer(request) != self.app_key:
            return error_model(401, "000001", "Invalid application key")
        if form.get("grant_type") != "client_credentials":
            return error_model(400, "000002", "grant_type must be client_credentials")
        token, ttl = self.tokens.issue()
        return web.json_response({"access_token": token, "token_type": "bearer", "expires_in": ttl})

    async def _refresh(self, request: web.Request) -> web.Response:
        if not self.tokens.valid(bearer(request)):
            return error_model(401, "000003", "Token expired or invalid")
        token, ttl = self.tokens.issue()
        return web.json_response({"access_token": token, "token_type": "bearer", "expires_in": ttl})

    def _denied(self, request: web.Request) -> web.Response | None:
        if self.tokens.valid(bearer(request)):
            return None
        return error_model(401, "000003", "Unauthorized: the access token is missing, invalid or expired")

    # ---- exports -------------------------------------------------------------------------------

    async def _operations(self, request: web.Request) -> web.Response:
        if denied := self._denied(request):
            return denied
        items = [
            {
                "id": name,
                "typeId": name,
                "typeName": name,
                "formats": ["json", "csv"],
                "formatNames": ["JSON Format", "CSV Format"],
            }
            for name in ("Profiles", "Orders", "Products", "Accounts")
        ]
        return web.json_response({"items": items})

    async def _start(self, request: web.Request) -> web.Response:
        if denied := self._denied(request):
            return denied
        try:
            body = await request.json()
        except ValueError:
            return error_model(400, "100001", "Request body is not valid JSON")
        if not isinstance(body, dict) or not (body.get("fileName") or body.get("mode") == "standalone"):
            return error_model(400, "100002", "fileName is required")
        if body.get("mode") != "standalone" and not body.get("items"):
            return error_model(400, "100003", "items is required in bundle mode")
        token = new_id() + "_10000"
        file_name = body.get("fileName") or f"{body.get('id', 'export')}.{body.get('format', 'json')}"
        export = self.new_export(token, payload=body, file_name=file_name)
        export.content = self._content(export)
        return web.json_response(
            {
                "processId": token,
                "links": [{"rel": "self", "href": f"{self.url}{API}/exportProcess"}],
                "status": "submitted",
            },
            status=self.start_status,
        )

    def _content(self, export: Export) -> bytes:
        body = export.payload or {}
        items = body.get("items") or [
            {"id": body.get("id", "Products"), "format": body.get("format", "json")}
        ]
        files: dict[str, bytes | str] = {
            "content.json": json.dumps(
                [
                    {
                        "fileName": f"{i['id']}.{i.get('format', 'json')}",
                        "format": i.get("format", "json"),
                        "id": i["id"],
                    }
                    for i in items
                ]
            )
        }
        for item in items:
            rows = [{"id": f"{item['id'].lower()}-{n}", "export": export.export_id} for n in range(50)]
            files[f"{item['id']}.{item.get('format', 'json')}"] = json.dumps(rows)
        return make_zip(files)

    def _export(self, request: web.Request) -> Export | web.Response:
        token = request.match_info["token"]
        export = self.exports.get(token)
        if export is None:
            return error_model(404, "200001", f"No export process found for token {token}")
        return export

    async def _status(self, request: web.Request) -> web.Response:
        if denied := self._denied(request):
            return denied
        export = self._export(request)
        if isinstance(export, web.Response):
            return export
        step = Step("aborted") if export.cancelled else export.advance()
        done = step.state in ("succeeded", "failed", "aborted")
        body: dict[str, Any] = {
            "progress": step.state,
            "completed": done,
            "requestStatus": 200,
            "startTime": _iso(export.created_at),
            "links": [{"rel": "self", "href": f"{self.url}/ccadminui/v1/exportProcess/{export.export_id}"}],
        }
        if step.progress is not None:
            body["completedPercentage"] = step.progress
        if done:
            body["endTime"] = _iso(time.time())
        if step.state == "succeeded":
            files_base = self.url_on(1) if self.files_on_other_origin else self.url
            base = f"{files_base}/file/export/{export.export_id}"
            body["links"] = [
                {"rel": "meta", "href": f"{base}/exportStatus.zip"},
                {"rel": "file", "href": f"{base}/{export.file_name}"},
                *body["links"],
            ]
        if step.state == "failed":
            body["requestStatus"] = 500
            body["error"] = {
                "type": "https://docs.oracle.com/export-failed",
                "title": step.code or "Export failed",
                "detail": step.message or "The export process failed",
            }
        return web.json_response(body)

    async def _abort(self, request: web.Request) -> web.Response:
        if denied := self._denied(request):
            return denied
        export = self._export(request)
        if isinstance(export, web.Response):
            return export
        export.cancelled = True
        return web.json_response({"success": True})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        export = self._export(request)
        if isinstance(export, web.Response):
            return export
        if export.step.state != "succeeded" and not export.polls:
            return error_model(404, "200002", "Export file not available")
        name = request.match_info["name"]
        if name == "exportStatus.zip":
            meta = {
                "startTime": int(export.created_at * 1000),
                "endTime": int(time.time() * 1000),
                "successCount": 50,
                "failureCount": 0,
                "failureExceptions": [],
            }
            return await serve_bytes(request, make_zip({"exportStatus.json": dumps(meta)}))
        if name != export.file_name:
            return error_model(404, "200002", f"No file {name} for this export")
        return await serve_bytes(request, export.content, file_name=name)
