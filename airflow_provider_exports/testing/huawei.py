"""Huawei Cloud emulators: DataArts Studio (design Excel export) and Workspace (export tasks).

Both share an IAM endpoint on a second port (another origin than the service, as in the real
cloud), IAM tokens with expiry and early invalidation, and server-side AK/SK signature checks
(``verify_signature``) with the gateway's lock-out after five failures. Error bodies follow the
shapes of shared/vendor-apis/huawei.md: ``{"error_code", "error_msg", "request_id"}`` from the
gateway (``APIGW.0301``), ``DS.*`` with ``data`` from DataArts, ``WKS.*`` from Workspace, and a
Keystone-style ``{"error": {"code", "message", "title"}}`` from IAM. Codes other than
``APIGW.0301``/``APIGW.0101`` are illustrative.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar

from aiohttp import web

from airflow_provider_exports.hooks.huawei.signing import SIGNING_ALGORITHM
from airflow_provider_exports.testing.emulator import (
    TRUNCATE_AFTER,
    Emulator,
    Export,
    Handler,
    Step,
    Target,
    json_error,
    make_zip,
    serve_bytes,
    steps,
)
from airflow_provider_exports.testing.huawei_signing import verify_signature

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Failed signatures in a row that lock an AK, and for how long (API signing guide FAQ).
LOCKOUT_FAILURES = 5
LOCKOUT_SECONDS = 300.0
#: Workspace user names: letters, digits, '-' and '_', 1-64 characters (the user_name of a desktop
#: user, e.g. AttachInstancesUserInfo in the Workspace API and SDK).
USER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Users one desktop export can filter on (ExportDesktopListNew: "Up to 100 users").
MAX_USER_NAMES = 100


def iso_millis(epoch: float) -> str:
    """``yyyy-MM-dd'T'HH:mm:ss.SSSZ`` in UTC (Workspace's documented time format)."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_micros(epoch: float) -> str:
    """IAM's ``expires_at`` format, e.g. ``2026-01-01T00:00:00.000000Z``."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def xlsx_bytes(title: str, rows: list[list[str]], padding: int = 0) -> bytes:
    """A small Office Open XML workbook (a zip), with ``padding`` incompressible bytes added."""
    cells = "".join(
        "<row>" + "".join(f'<c t="inlineStr"><is><t>{value}</t></is></c>' for value in row) + "</row>"
        for row in rows
    )
    files: dict[str, bytes | str] = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types/>',
        "xl/workbook.xml": f'<workbook><sheets><sheet name="{title}"/></sheets></workbook>',
        "xl/worksheets/sheet1.xml": f"<worksheet><sheetData>{cells}</sheetData></worksheet>",
    }
    if padding:
        files["xl/media/padding.bin"] = os.urandom(padding)
    return make_zip(files)


def gateway_error(status: int, code: str, message: str) -> web.Response:
    """The API gateway's error body."""
    return json_error(status, {"error_msg": message, "error_code": code, "request_id": uuid.uuid4().hex})


def keystone_error(status: int, title: str, message: str) -> web.Response:
    """IAM's Keystone-style error body."""
    return json_error(status, {"error": {"code": status, "title": title, "message": message}})


@dataclass
class IssuedToken:
    """An IAM token the emulator handed out."""

    project_id: str
    expires_at: float
    uses: int = 0
    revoked: bool = False


class HuaweiCloudEmulator(Emulator):
    """What both Huawei services share: IAM on ``url_on(1)``, token and AK/SK checks, errors.

    ``auth_type`` chooses what :meth:`connection` gives ("aksk" or "iam"); the server accepts
    both. ``token_uses`` invalidates each token after that many service calls, as a password
    change does in the real cloud (the token still looks unexpired to the client).
    """

    conn_type: ClassVar[str]
    #: Prefix of the service's own error codes.
    code_prefix: ClassVar[str]

    def __init__(
        self,
        *,
        auth_type: str = "aksk",
        region: str = "cn-north-4",
        project_id: str = "0b5f4a6e3c2d4e1f8a9b7c6d5e4f3a2b",
        user_name: str = "export-robot",
        domain: str = "example-account",
        access_key: str = "QTWAOYTTINDUT2QVKYUC",
        token_ttl: float = 24 * 3600.0,
        token_uses: int | None = None,
        **kw: Any,
    ) -> None:
        self.auth_type = auth_type
        self.region = region
        self.project_id = project_id
        self.user_name = user_name
        self.domain = domain
        self.access_key = access_key
        # Fresh per instance, so a test can search every output for them.
        self.password = "Pw-" + secrets.token_urlsafe(18)
        self.secret_key = secrets.token_urlsafe(30)
        self.token_ttl = token_ttl
        self.token_uses = token_uses
        self.tokens: dict[str, IssuedToken] = {}
        self.token_requests = 0
        self.signed_requests = 0
        self.failed_signatures: dict[str, int] = {}
        self.locked_until: dict[str, float] = {}
        kw.setdefault("extra_ports", 1)
        super().__init__(**kw)

    # ---- connection and secrets ----------------------------------------------------------------

    @property
    def iam_url(self) -> str:
        """The IAM endpoint: another port, so another origin than the service."""
        return self.url_on(1)

    def connection_extra(self) -> dict[str, Any]:
        """Service-specific extras (DataArts adds ``workspace_id``)."""
        return {}

    def connection(self) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "auth_type": self.auth_type,
            "region": self.region,
            "project_id": self.project_id,
            **self.connection_extra(),
        }
        if self.auth_type == "iam":
            extra.update(domain=self.domain, iam_endpoint=self.iam_url)
            login, password = self.user_name, self.password
        else:
            login, password = self.access_key, self.secret_key
        return {
            "conn_type": self.conn_type,
            "host": self.url,
            "login": login,
            "password": password,
            "extra": extra,
        }

    def secrets(self) -> set[str]:
        """Every secret a client could leak: the IAM password, the SK and each token issued."""
        with self.lock:
            return {self.password, self.secret_key, *self.tokens}

    def revoke_tokens(self) -> None:
        """Invalidate every issued token now (a password change does this)."""
        with self.lock:
            for token in self.tokens.values():
                token.revoked = True

    def expire_credentials(self) -> None:
        # AK/SK has nothing issued to expire; IAM tokens are invalidated.
        self.revoke_tokens()

    # ---- routes --------------------------------------------------------------------------------

    def fault_target(self, on: str) -> Target:
        if on == "login" and self.auth_type != "iam":
            raise ValueError(
                f"the {self.vendor} emulator has no login request with auth_type={self.auth_type!r}: "
                "AK/SK signs each request; start it with auth_type='iam' to aim at the IAM token request"
            )
        return super().fault_target(on)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v3/auth/tokens", self._iam_tokens)
        self.add_service_routes(router)

    def add_service_routes(self, router: web.UrlDispatcher) -> None:
        """Register the service's endpoints."""

    def _on_port(self, request: web.Request, index: int) -> bool:
        sockname: Any = request.transport.get_extra_info("sockname") if request.transport else None
        return isinstance(sockname, tuple) and sockname[1] == self.ports[index]

    # ---- IAM -----------------------------------------------------------------------------------

    async def _iam_tokens(self, request: web.Request) -> web.Response:
        if not self._on_port(request, 1):
            return gateway_error(
                404, "APIGW.0101", "The API does not exist or has not been published in the environment"
            )
        try:
            body = await request.json()
            identity = body["auth"]["identity"]
            user = identity["password"]["user"]
            scope_project = body["auth"]["scope"]["project"]["id"]
        except (ValueError, KeyError, TypeError):
            return keystone_error(400, "Bad Request", "The request body is malformed.")
        if "password" not in identity.get("methods", []):
            return keystone_error(400, "Bad Request", "Unsupported authentication method.")
        if (user.get("name"), user.get("password"), (user.get("domain") or {}).get("name")) != (
            self.user_name,
            self.password,
            self.domain,
        ):
            return keystone_error(401, "Unauthorized", "The username or password is wrong.")
        if scope_project != self.project_id:
            return keystone_error(400, "Bad Request", "Invalid project ID in the scope.")
        self.token_requests += 1
        token = "MIIT" + secrets.token_urlsafe(96)
        issued = time.time()
        with self.lock:
            self.tokens[token] = IssuedToken(project_id=scope_project, expires_at=issued + self.token_ttl)
        info = {
            "token": {
                "methods": ["password"],
                "expires_at": iso_micros(issued + self.token_ttl),
                "issued_at": iso_micros(issued),
                "user": {"name": self.user_name, "domain": {"name": self.domain}},
                "project": {"id": self.project_id, "name": self.region},
            }
        }
        if not request.query.get("nocatalog"):
            info["token"]["catalog"] = []
        return web.json_response(info, status=201, headers={"X-Subject-Token": token})

    # ---- service-side authentication -----------------------------------------------------------

    async def authenticate(self, request: web.Request) -> web.Response | None:
        """None if the request may proceed; else the gateway's (or service's) error answer."""
        if not self._on_port(request, 0):
            return gateway_error(
                404, "APIGW.0101", "The API does not exist or has not been published in the environment"
            )
        project_id = request.match_info.get("project_id")
        token = request.headers.get("X-Auth-Token")
        if token is not None:
            denied = self._check_token(token)
        elif request.headers.get("Authorization", "").startswith(SIGNING_ALGORITHM):
            denied = await self._check_signature(request, project_id)
        else:
            denied = gateway_error(
                401, "APIGW.0301", "Incorrect IAM authentication information: no token or signature"
            )
        if denied is None and project_id != self.project_id:
            return self.service_error(403, "0403", f"Project {project_id} does not belong to this account.")
        return denied

    def _check_token(self, token: str) -> web.Response | None:
        with self.lock:
            issued = self.tokens.get(token)
            if issued is None:
                return gateway_error(
                    401, "APIGW.0301", "Incorrect IAM authentication information: decrypt token fail"
                )
            if issued.revoked or issued.expires_at <= time.time():
                return gateway_error(
                    401, "APIGW.0301", "Incorrect IAM authentication information: the token must be updated"
                )
            issued.uses += 1
            if self.token_uses is not None and issued.uses >= self.token_uses:
                issued.revoked = True
        return None

    async def _check_signature(self, request: web.Request, project_id: str | None) -> web.Response | None:
        access_key = request.headers.get("Authorization", "").partition("Access=")[2].partition(",")[0]
        if self.locked_until.get(access_key, 0.0) > time.time():
            return gateway_error(
                401,
                "APIGW.0301",
                "Incorrect IAM authentication information: AK access failed to reach the limit,forbidden.",
            )
        reason = verify_signature(
            request.method,
            request.rel_url.raw_path,
            request.rel_url.raw_query_string,
            request.headers,
            await request.read(),
            lambda ak: self.secret_key if ak == self.access_key else None,
        )
        if reason == "unknown access key":
            return gateway_error(
                401,
                "APIGW.0301",
                "Incorrect IAM authentication information: Get secretKey failed,ak:******,err:ak not exist",
            )
        if reason is not None:
            failures = self.failed_signatures.get(access_key, 0) + 1
            self.failed_signatures[access_key] = failures
            if failures >= LOCKOUT_FAILURES:
                self.locked_until[access_key] = time.time() + LOCKOUT_SECONDS
            return gateway_error(
                401,
                "APIGW.0301",
                f"Incorrect IAM authentication information: verify aksk signature fail, {reason}",
            )
        self.failed_signatures[access_key] = 0
        self.signed_requests += 1
        if request.headers.get("X-Project-Id") != project_id:
            return gateway_error(
                400,
                "APIGW.0201",
                "API request error: the X-Project-Id header must name the project for AK/SK requests "
                "in multi-project accounts",
            )
        return None

    # ---- service errors ------------------------------------------------------------------------

    def service_error(self, status: int, number: str, message: str) -> web.Response:
        """The service's own error body."""
        return json_error(status, {"error_code": f"{self.code_prefix}.{number}", "error_msg": message})


# ---- DataArts Studio ------------------------------------------------------------------------------


def _file_served(emulator: Emulator, request: web.Request) -> bool:
    """Whether export-result already answered this export with its file (its last step served)."""
    export = emulator.exports.get(request.query.get("uuid", ""))
    return (
        export is not None
        and export.polls > 0
        and export.script[min(export.polls, len(export.script)) - 1].state == "success"
    )


class DataArtsEmulator(HuaweiCloudEmulator):
    """DataArts Architecture: ``export-model`` starts an export; ``export-result`` answers
    ``{"data": {"status", "rate", "group"}}`` while it runs and the .xlsx file once it succeeded.

    Steps use the vendor states ``importing``, ``success``, ``fail`` (message and code go into
    ``data.group``). ``file_padding`` makes the file that many bytes larger.
    """

    vendor = "huawei_dataarts"
    conn_type = "huawei_dataarts"
    code_prefix = "DS"
    default_script = steps(
        Step("importing", 0), Step("importing", 40), Step("importing", 80), Step("success", 100)
    )
    neutral_states: ClassVar[Mapping[str, str]] = {
        "pending": "importing",
        "running": "importing",
        "succeeded": "success",
        "failed": "fail",
    }
    fault_targets: ClassVar[Mapping[str, Target | str]] = {
        "login": Target("POST", "/v3/auth/tokens", port=1),
        "start": Target("POST", "/v2/[^/]+/design/export-model", port=0),
        # One URL answers the state while the export runs and the file once it succeeded: the
        # first file answer tells the waiting task it succeeded, the later ones are downloads.
        "status": Target(
            "GET", "/v2/[^/]+/design/export-result", port=0, when=lambda e, r: not _file_served(e, r)
        ),
        "download": Target(
            "GET", "/v2/[^/]+/design/export-result", port=0, when=lambda e, r: _file_served(e, r)
        ),
        "log": "DataArts keeps no export log; the log task reads the export's result (on='status')",
    }

    def __init__(
        self,
        *,
        workspace_id: str = "f2b6c8a1d3e54b7f9c0a1b2c3d4e5f60",
        file_padding: int = 256 * 1024,
        **kw: Any,
    ) -> None:
        self.workspace_id = workspace_id
        self.file_padding = file_padding
        super().__init__(**kw)

    def connection_extra(self) -> dict[str, Any]:
        return {"workspace_id": self.workspace_id}

    def service_error(self, status: int, number: str, message: str) -> web.Response:
        return json_error(status, {"error_code": f"DS.{number}", "error_msg": message, "data": None})

    def add_service_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v2/{project_id}/design/export-model", self._start)
        router.add_get("/v2/{project_id}/design/export-result", self._result)
        router.add_get("/v2/{project_id}/design/directorys", self._directories)

    async def _denied(self, request: web.Request) -> web.Response | None:
        if denied := await self.authenticate(request):
            return denied
        if request.headers.get("workspace") != self.workspace_id:
            return self.service_error(
                400, "4001", "The workspace header is missing or names an unknown workspace."
            )
        return None

    async def _start(self, request: web.Request) -> web.Response:
        if denied := await self._denied(request):
            return denied
        try:
            body = await request.json()
        except ValueError:
            return self.service_error(400, "4002", "The request body is not valid JSON.")
        if not isinstance(body, dict) or not body.get("type"):
            return self.service_error(400, "4003", "The parameter type is required.")
        if body.get("asyn") is not True:
            return self.service_error(
                400, "4004", "This emulator only runs asynchronous exports (asyn=true)."
            )
        export_id = str(uuid.uuid4())
        export = self.new_export(export_id, payload=body, file_name="dataarts_export.xlsx")
        rows = [["id", "type"], *[[str(i), str(body["type"])] for i in body.get("ids") or ["all"]]]
        export.content = xlsx_bytes("export", rows, self.file_padding)
        return web.json_response({"data": {"uuid": export_id}})

    async def _result(self, request: web.Request) -> web.StreamResponse:
        if denied := await self._denied(request):
            return denied
        export_id = request.query.get("uuid")
        if not export_id:
            return self.service_error(400, "4005", "The parameter uuid is required.")
        export = self.exports.get(export_id)
        if export is None:
            return self.service_error(400, "4006", "The export task does not exist or has expired.")
        step = export.advance()
        if step.state == "success":
            return await serve_bytes(request, export.content, content_type=XLSX, file_name=export.file_name)
        group = None
        if step.state == "fail":
            logs = f"[{step.code}] {step.message}" if step.code else step.message
            group = {
                "id": export_id,
                "tenant_id": self.project_id,
                "operation_status": "FAILED",
                "operation_type": "EXPORT",
                "remark": step.message,
                "logs": logs,
                "total": 1,
                "success": 0,
                "failed": 1,
                "rate": str(step.progress or 0),
            }
        return web.json_response(
            {"data": {"status": step.state, "group": group, "rate": str(step.progress or 0)}}
        )

    async def _directories(self, request: web.Request) -> web.Response:
        if denied := await self._denied(request):
            return denied
        directory = {
            "id": "1160236484595425280",
            "name": "Code tables",
            "type": request.query.get("type", "CODE"),
        }
        return web.json_response({"data": {"value": [directory], "total": 1}})


# ---- Workspace ------------------------------------------------------------------------------------


class WorkspaceEmulator(HuaweiCloudEmulator):
    """Workspace export tasks: the eight export calls of the hook return ``task_id`` (and refuse
    with 400 what their API pages refuse: a missing mandatory parameter, more than 100
    ``user_names``, a ``user_names`` value that is no user name such as ``alice,bob``); the task
    list (``task_id`` filter, ``offset``/``limit`` paging) shows ``CREATING``, ``SUCCESS``, ``FAIL``
    (``fail_reason`` = step message, ``error_code`` = step code) or ``EXPIRED``; ``/download``
    serves the file of a succeeded task.

    ``ignore_filters`` answers every list call with all tasks, oldest first (a server that ignores
    the query); ``filler_tasks`` creates that many older, succeeded tasks.
    """

    vendor = "huawei_workspace"
    conn_type = "huawei_workspace"
    code_prefix = "WKS"
    default_script = steps("CREATING", "CREATING", "SUCCESS")
    neutral_states: ClassVar[Mapping[str, str]] = {
        "pending": "CREATING",
        "running": "CREATING",
        "succeeded": "SUCCESS",
        "failed": "FAIL",
        "expired": "EXPIRED",
    }
    fault_targets: ClassVar[Mapping[str, Target | str]] = {
        "login": Target("POST", "/v3/auth/tokens", port=1),
        # The export calls (users, desktops, metrics...) all end in /export.
        "start": Target("POST|GET", "/v[23]/[^/]+/.+/export", port=0),
        "status": Target("GET", "/v2/[^/]+/export-tasks", port=0),
        "download": Target("GET", "/v2/[^/]+/export-tasks/[^/]+/download", port=0),
        "log": "Workspace keeps no export task log; the log task reads the task list (on='status')",
    }

    def __init__(self, *, ignore_filters: bool = False, filler_tasks: int = 0, **kw: Any) -> None:
        self.ignore_filters = ignore_filters
        super().__init__(**kw)
        start = time.time() - 3600
        for n in range(filler_tasks):
            filler = self.add_export(
                f"filler-{n:04d}-{uuid.uuid4().hex[:8]}", "SUCCESS", file_name=f"old_export_{n}.xlsx"
            )
            filler.created_at = start + n

    def add_service_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v3/{project_id}/users/export", self._export_users)
        router.add_get("/v3/{project_id}/desktops/export", self._export_desktops)
        for path, kind in self.QUERY_EXPORTS.items():
            router.add_get(path, self._query_export(kind))
        router.add_post("/v2/{project_id}/statistics/metrics/app-user-access/export", self._export_app_access)
        router.add_get("/v2/{project_id}/export-tasks", self._list)
        router.add_get("/v2/{project_id}/export-tasks/{task_id}/download", self._download)

    def _new_task(self, kind: str, payload: Any) -> web.Response:
        task_id = str(uuid.uuid4())
        stamp = time.strftime("%Y%m%d%H%M%S")
        export = self.new_export(task_id, payload=payload, file_name=f"{kind}_{stamp}.xlsx")
        export.content = xlsx_bytes(kind, [["name"], *[[f"{kind}-{n}"] for n in range(200)]])
        return web.json_response({"task_id": task_id})

    async def _export_users(self, request: web.Request) -> web.Response:
        if denied := await self.authenticate(request):
            return denied
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self.service_error(400, "0001", "The request message input by the interface is empty.")
        if not isinstance(body, dict) or body.get("language", "en_US") not in ("zh_CN", "en_US"):
            return self.service_error(400, "0002", "Invalid parameter: language must be zh_CN or en_US.")
        names = body.get("user_names", [])
        if not isinstance(names, list) or not all(
            isinstance(n, str) and USER_NAME.fullmatch(n) for n in names
        ):
            return self.service_error(
                400, "0002", "Invalid parameter user_names: an array of user names is expected."
            )
        return self._new_task("users", body)

    async def _export_desktops(self, request: web.Request) -> web.Response:
        if denied := await self.authenticate(request):
            return denied
        if request.query.get("language") not in ("zh_CN", "en_US"):
            return self.service_error(
                400, "0002", "Invalid parameter: language is required (zh_CN or en_US)."
            )
        if refused := self._bad_user_names(request):
            return refused
        return self._new_task("desktops", self._query_payload(request))

    #: The other GET export calls: path -> (kind, mandatory query parameters of its API page).
    QUERY_EXPORTS: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {
        "/v3/{project_id}/desktops/connections/export": ("desktop_connections", ()),
        "/v3/{project_id}/groups/{group_id}/users/export": ("group_users", ()),
        "/v3/{project_id}/statistics/metrics/desktops/export": ("desktop_metrics", ("start_time",)),
        "/v3/{project_id}/statistics/metrics/users/export": ("user_metrics", ("start_time", "end_time")),
        "/v3/{project_id}/terminals/binding-desktops/template/export": (
            "binding_desktops_template",
            ("language",),
        ),
    }

    def _query_export(self, kind: tuple[str, tuple[str, ...]]) -> Handler:
        name, mandatory = kind

        async def _handle(request: web.Request) -> web.StreamResponse:
            if denied := await self.authenticate(request):
                return denied
            missing = [key for key in mandatory if not request.query.get(key)]
            if missing:
                return self.service_error(
                    400, "0002", f"Invalid parameter: {', '.join(missing)} is required."
                )
            if refused := self._bad_user_names(request):
                return refused
            return self._new_task(name, self._query_payload(request))

        return _handle

    async def _export_app_access(self, request: web.Request) -> web.Response:
        if denied := await self.authenticate(request):
            return denied
        try:
            body = await request.json()
        except ValueError:
            return self.service_error(400, "0001", "The request message input by the interface is empty.")
        missing = [
            key for key in ("start_time", "end_time") if not isinstance(body, dict) or not body.get(key)
        ]
        if missing:
            return self.service_error(400, "0002", f"Invalid parameter: {', '.join(missing)} is required.")
        return self._new_task("app_user_access_metrics", body)

    @staticmethod
    def _query_payload(request: web.Request) -> dict[str, Any]:
        """The query as the task's payload; a repeated key gives a list, as the service reads it."""
        payload: dict[str, Any] = {}
        for key in dict.fromkeys(request.query):
            values = request.query.getall(key)
            payload[key] = values if len(values) > 1 or key == "user_names" else values[0]
        return payload

    def _bad_user_names(self, request: web.Request) -> web.Response | None:
        """Check ``user_names`` (an Array of strings on the API pages, at most 100 users).

        Arrays arrive as repeated keys (``user_names=a&user_names=b``), the form Huawei's SDKs
        send; each value is then one user name, and a user name has only letters, digits, ``-``
        and ``_``. A comma-joined value is thus the name of no user: refused with 400.
        """
        names = request.query.getall("user_names", [])
        if len(names) > MAX_USER_NAMES:
            return self.service_error(
                400,
                "0002",
                f"Invalid parameter user_names: at most {MAX_USER_NAMES} users, got {len(names)}.",
            )
        bad = next((name for name in names if not USER_NAME.fullmatch(name)), None)
        if bad is not None:
            return self.service_error(
                400,
                "0002",
                f"Invalid parameter user_names: {bad!r} is not a user name (letters, digits, '-' and "
                "'_' only); give each user as its own user_names parameter.",
            )
        return None

    def _shown(self, export: Export) -> Step:
        ready_at = export.extra.get("ready_at")
        if isinstance(ready_at, float) and time.time() < ready_at:
            return Step("CREATING")  # a console export still being made
        step = export.extra.get("shown")
        return step if isinstance(step, Step) else export.step

    def console_export(
        self,
        kind: str = "users",
        *,
        content: bytes | None = None,
        file_name: str | None = None,
        ready_after: float = 0.0,
    ) -> Export:
        """An export task made outside the API under test (an admin in the console): listed as
        ``CREATING`` for ``ready_after`` seconds, then ``SUCCESS``, with ``is_download`` false
        until its file is downloaded. Returns it (``.export_id`` is the ``task_id``)."""
        task_id = str(uuid.uuid4())
        now = time.time()
        stamp = time.strftime("%Y%m%d%H%M%S")
        export = self.add_export(
            task_id, "SUCCESS", file_name=file_name or f"{kind}_{stamp}_{task_id[:8]}.xlsx"
        )
        export.content = (
            content
            if content is not None
            else xlsx_bytes(kind, [["name"], *[[f"{kind}-{task_id[:8]}-{n}"] for n in range(50)]])
        )
        export.extra["ready_at"] = now + ready_after
        export.extra["ended_at"] = now + ready_after
        return export

    def _item(self, export: Export) -> dict[str, Any]:
        step = self._shown(export)
        done = step.state in ("SUCCESS", "FAIL", "EXPIRED")
        failed = step.state == "FAIL"
        return {
            "task_id": export.export_id,
            "file_name": export.file_name,
            "status": step.state,
            "fail_reason": (step.message or "") if failed else "",
            "error_code": (step.code or "") if failed else "",
            "create_time": iso_millis(export.created_at),
            "end_time": iso_millis(export.extra.get("ended_at") or export.created_at + 1) if done else "",
            "is_download": bool(export.extra.get("downloaded")),
        }

    async def _list(self, request: web.Request) -> web.Response:
        if denied := await self.authenticate(request):
            return denied
        try:
            offset = int(request.query.get("offset", "0"))
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            return self.service_error(400, "0002", "Invalid parameter: offset and limit must be integers.")
        if offset < 0 or not 1 <= limit <= 100:
            return self.service_error(400, "0002", "Invalid parameter: limit must be 1-100 and offset >= 0.")
        task_id = request.query.get("task_id")
        with self.lock:
            polled = self.exports.get(task_id) if task_id else None
            if polled is not None and offset == 0:
                # One poll = one list walk, which starts at offset 0.
                polled.extra["shown"] = polled.advance()
            tasks = sorted(self.exports.values(), key=lambda e: e.created_at)
            if not self.ignore_filters:
                tasks = self._filtered(tasks, request)
            items = [self._item(e) for e in tasks]
        return web.json_response({"export_tasks": items[offset : offset + limit], "count": len(items)})

    def _filtered(self, tasks: list[Export], request: web.Request) -> list[Export]:
        query = request.query
        if query.get("task_id"):
            tasks = [e for e in tasks if e.export_id == query["task_id"]]
        if query.get("status"):
            tasks = [e for e in tasks if self._shown(e).state == query["status"]]
        if query.get("file_name"):
            tasks = [e for e in tasks if e.file_name == query["file_name"]]
        if query.get("is_download") in ("true", "false"):
            # "Whether the file has been downloaded" (shared/seeds/004); applied when sent.
            wanted = query["is_download"] == "true"
            tasks = [e for e in tasks if bool(e.extra.get("downloaded")) is wanted]
        if query.get("sort_field") == "create_time" and query.get("sort_type", "ASC").upper() == "DESC":
            tasks = list(reversed(tasks))
        return tasks

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if denied := await self.authenticate(request):
            return denied
        export = self.exports.get(request.match_info["task_id"])
        if export is None:
            return self.service_error(404, "0404", "The export task does not exist.")
        state = self._shown(export).state
        if state == "EXPIRED":
            return self.service_error(400, "0410", "The export file has expired.")
        if state != "SUCCESS":
            return self.service_error(
                400, "0409", f"The export task is {state}; there is no file to download."
            )
        if request.get(TRUNCATE_AFTER) is None:
            # is_download: "whether the file is downloaded" (shared/seeds/004): not when the
            # transfer is cut (a scripted truncate fault), so a failed download stays listed.
            export.extra["downloaded"] = True
        return await serve_bytes(request, export.content, content_type=XLSX, file_name=export.file_name)
