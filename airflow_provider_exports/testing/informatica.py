"""Informatica IICS emulator: the v3 login host and a pod on another port (another origin),
session ids with an idle timeout, export jobs with scripted ``status.state`` and per-object
status, the package (zip) and log downloads, logout, and IICS's v3 error object.

Error codes ``IDS_085`` (bad credentials) and ``AUTH_01`` (invalid session) are the ones IICS
documents or sends; the other codes in this module are the emulator's own.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, ClassVar

from aiohttp import web

from airflow_provider_exports.testing.emulator import (
    Emulator,
    Export,
    Handler,
    Recorded,
    Step,
    Target,
    json_error,
    make_zip,
    serve_bytes,
)

SAAS_API = "/saas/public/core/v3"
SESSION_HEADER = "INFA-SESSION-ID"
LOGIN_HOST, POD = 0, 1

#: Assets of the export status example on the seed page: id, name, path, type, description.
_SEED_OBJECTS: tuple[tuple[str, str, str | None, str, str | None], ...] = (
    ("1MW0GDAE1sFgnvWkvom7mK", "Linear Taskflow", "/ICS Taskflow", "SAAS_LINEAR_TASKFLOW", None),
    ("1SuZ9Gf8LtphrJn9EdHCod", "SQL Server", "/DSS", "Folder", ""),
    ("1Uf9PTj6kTjbsVYMk55OC6", "Synchronization Task Multi Source", "/Default/SQL Server", "SAAS_DSS", ""),
    ("2UL9ZO9Z3OJeuxbL2cYbaX", "Synchronization Task Simple Filter", "/Default/SQL Server", "SAAS_DSS", ""),
    ("31SzqpeEEKacy7OaXXCfaD", "Synchronization Task Multi Source", "/DSS/SQL Server", "SAAS_DSS", ""),
    ("5FA0DnMzeuDbYZnn3hdto9", "Default", "/", "Project", "Auto-generated Default Project"),
    ("5V5VpaoJGTNkWCB2f2t4MG", "Synchronization Task Simple Filter", "/DSS/SQL Server", "SAAS_DSS", ""),
    ("7udJJF48H5Iizzry8gjUAb", "SQL Server", "/Default", "Folder", ""),
    ("fIQLvhNnsqBjXKNfjyZFaH", "ICS Taskflow", "/", "Project", ""),
    ("hGrgtrajWMUjNIsnLKQCAi", "SQL Server Linux", None, "SAAS_CONNECTION", None),
    ("iIVBNZSpUKFg4N6g2PKUox", "abc_map", "/Default", "MAPPING", ""),
    ("l7bgB85m5oGiXObDxwnvK9", "DSS", "/", "Project", ""),
    ("lOqsFQE4OSWeyg77AeWwK2", "Linux", None, "SAAS_RUNTIME_ENVIRONMENT", None),
)
CATALOG: dict[str, dict[str, Any]] = {
    row[0]: dict(zip(("id", "name", "path", "type", "description"), row, strict=True))
    for row in _SEED_OBJECTS
}

JOB_MESSAGES = {"IN_PROGRESS": "In Progress.", "SUCCESSFUL": "Export completed successfully."}


def _iso(epoch: float) -> str:
    stamp = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch * 1000) % 1000:03d}Z"


def _guid() -> str:
    """A 22-character id in the style of IICS ids."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(22))


def v3_error(status: int, code: str, message: str) -> web.Response:
    """The documented v3 error object."""
    return json_error(
        status, {"error": {"code": code, "message": message, "requestId": _guid(), "details": None}}
    )


class InformaticaEmulator(Emulator):
    """An IICS login host (main port) and pod (``url_on(1)``).

    ``session_idle_timeout`` seconds without a call expire a session (30 minutes in IICS);
    :meth:`expire_credentials` (or an ``expire_auth`` fault) expires them all now. An expired
    session is answered with ``expired_status`` and error code ``AUTH_01``.
    ``package_padding`` adds that many random bytes to each package (for large-download tests).
    """

    vendor = "informatica_iics"
    default_script: ClassVar[list[Step]] = [Step("IN_PROGRESS"), Step("IN_PROGRESS"), Step("SUCCESSFUL")]
    neutral_states: ClassVar[Mapping[str, str]] = {
        "pending": "QUEUED",
        "running": "IN_PROGRESS",
        "succeeded": "SUCCESSFUL",
        "failed": "FAILED",
    }
    fault_targets: ClassVar[Mapping[str, Target | str]] = {
        "login": Target("POST", f"{SAAS_API}/login", port=LOGIN_HOST),
        "start": Target("POST", f"{SAAS_API}/export", port=POD),
        "status": Target("GET", f"{SAAS_API}/export/[^/]+", port=POD),
        "download": Target("GET", f"{SAAS_API}/export/[^/]+/package", port=POD),
        "log": Target("GET", f"{SAAS_API}/export/[^/]+/log", port=POD),
    }

    def __init__(
        self,
        *,
        username: str = "airflow-exports@example.com",
        password: str = "iics-Secr3t-pa55word",
        session_idle_timeout: float = 30 * 60,
        expired_status: int = 403,
        package_padding: int = 0,
        **kw: Any,
    ) -> None:
        self.username = username
        self.password = password
        self.session_idle_timeout = session_idle_timeout
        self.expired_status = expired_status
        self.package_padding = package_padding
        #: Session id -> time of its last use; 0.0 once expired.
        self.sessions: dict[str, float] = {}
        self.issued_sessions: list[str] = []
        self.logins = 0
        self.logouts = 0
        #: Calls refused because their session id was missing, unknown or expired.
        self.rejections = 0
        self.object_failures: deque[dict[str, str]] = deque()
        kw.setdefault("extra_ports", 1)
        super().__init__(**kw)

    # ---- configuration and inspection ---------------------------------------------------------

    @property
    def pod_url(self) -> str:
        """The ``baseApiUrl`` the login returns: another origin than the login host."""
        return f"{self.url_on(POD)}/saas"

    def secrets(self) -> set[str]:
        """The password and every session id issued."""
        with self.lock:
            return {self.password, *self.issued_sessions}

    def connection(self) -> dict[str, Any]:
        return {
            "conn_type": "informatica_iics",
            "host": self.url,
            "login": self.username,
            "password": self.password,
        }

    def expire_credentials(self) -> None:
        """Expire every session now (as 30 idle minutes would)."""
        with self.lock:
            self.sessions = dict.fromkeys(self.sessions, 0.0)

    def fail_objects_next(self, failures: Mapping[str, str]) -> None:
        """Objects (id -> message) that fail in the next export started, if its script fails."""
        with self.lock:
            self.object_failures.append(dict(failures))

    def login_host_requests(self) -> list[Recorded]:
        """Requests that reached the login host."""
        return [r for r in self.requests if r.host.endswith(f":{self.ports[LOGIN_HOST]}")]

    def pod_requests(self) -> list[Recorded]:
        """Requests that reached the pod."""
        return [r for r in self.requests if r.host.endswith(f":{self.ports[POD]}")]

    # ---- routing -------------------------------------------------------------------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(f"{SAAS_API}/login", self._on(LOGIN_HOST, self._login))
        router.add_post(f"{SAAS_API}/logout", self._on(LOGIN_HOST, self._logout))
        router.add_get(f"{SAAS_API}/objects", self._on(POD, self._list_objects))
        router.add_post(f"{SAAS_API}/export", self._on(POD, self._start))
        router.add_get(f"{SAAS_API}/export/{{id}}", self._on(POD, self._status))
        router.add_get(f"{SAAS_API}/export/{{id}}/package", self._on(POD, self._package))
        router.add_get(f"{SAAS_API}/export/{{id}}/log", self._on(POD, self._log))

    def _on(self, host: int, handler: Handler) -> Handler:
        """Serve ``handler`` on one host only: the login host does not serve the pod's API."""

        async def _route(request: web.Request) -> web.StreamResponse:
            if self._host_index(request) != host:
                where = "the login host" if host == POD else "a pod"
                return v3_error(404, "EMU_404", f"{request.path} is not served by {where}")
            return await handler(request)

        return _route

    def _host_index(self, request: web.Request) -> int:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        port = sockname[1] if sockname else None
        return self.ports.index(port) if port in self.ports else -1

    # ---- sessions ------------------------------------------------------------------------------

    async def _login(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return v3_error(400, "EMU_400", "The request body is not valid JSON.")
        if (
            not isinstance(body, dict)
            or body.get("username") != self.username
            or body.get("password") != self.password
        ):
            return v3_error(401, "IDS_085", "User name or password is not valid.")
        session_id = _guid()
        with self.lock:
            self.sessions[session_id] = time.time()
            self.issued_sessions.append(session_id)
            self.logins += 1
        return web.json_response(
            {
                "products": [{"name": "Integration Cloud", "baseApiUrl": self.pod_url}],
                "userInfo": {
                    "sessionId": session_id,
                    "id": "9L1GFroXSDHe2IIg7QhBaT",
                    "name": self.username,
                    "parentOrgId": "52ZSTB0IDK6dXxaEQLUaQu",
                    "orgId": "0cuQSDTq5sikvN7x8r1xm1",
                    "orgName": "Emulated_Org",
                    "groups": {},
                    "status": "Active",
                },
            }
        )

    def _session(self, request: web.Request) -> str | web.Response:
        """The request's live session id (its idle timer restarted), or the IICS refusal."""
        session_id = request.headers.get(SESSION_HEADER)
        now = time.time()
        with self.lock:
            last_used = self.sessions.get(session_id or "")
            if last_used is not None and now - last_used <= self.session_idle_timeout:
                self.sessions[session_id or ""] = now
                return session_id or ""
            self.rejections += 1
        if last_used is None:
            return v3_error(401, "AUTH_01", "Invalid session ID. Log in again to get a valid session ID.")
        return v3_error(self.expired_status, "AUTH_01", "The session ID has expired. Log in again.")

    async def _logout(self, request: web.Request) -> web.Response:
        session = self._session(request)
        if isinstance(session, web.Response):
            return session
        with self.lock:
            self.sessions.pop(session, None)
            self.logouts += 1
        return web.Response(status=200)

    # ---- exports -------------------------------------------------------------------------------

    async def _list_objects(self, request: web.Request) -> web.Response:
        if isinstance(denied := self._session(request), web.Response):
            return denied
        limit = int(request.query.get("limit", "200"))
        objects = [{**o, "updateTime": _iso(time.time())} for o in CATALOG.values()]
        return web.json_response({"count": len(objects), "objects": objects[:limit]})

    async def _start(self, request: web.Request) -> web.Response:
        if isinstance(denied := self._session(request), web.Response):
            return denied
        try:
            body = await request.json()
        except ValueError:
            return v3_error(400, "EMU_400", "The request body is not valid JSON.")
        objects = body.get("objects") if isinstance(body, dict) else None
        if not isinstance(objects, list) or not objects:
            return v3_error(400, "EMU_400", "objects is required.")
        if not all(isinstance(o, dict) and isinstance(o.get("id"), str) and o["id"] for o in objects):
            return v3_error(400, "EMU_400", "Each object needs an id.")
        chosen = [CATALOG.get(o["id"]) or self._unlisted(o["id"]) for o in objects]
        name = body.get("name") or f"job-{int(time.time() * 1000)}"
        with self.lock:
            failures = self.object_failures.popleft() if self.object_failures else {}
        export = self.new_export(_guid(), payload=body, file_name=f"{name}.zip")
        export.extra.update(name=name, objects=chosen, failures=failures)
        export.content = self._package_zip(export)
        return web.json_response(self._job(export, Step("IN_PROGRESS"), expand=False))

    @staticmethod
    def _unlisted(object_id: str) -> dict[str, Any]:
        return {
            "id": object_id,
            "name": f"Asset {object_id}",
            "path": "/Default",
            "type": "MAPPING",
            "description": "",
        }

    def _export(self, request: web.Request) -> Export | web.Response:
        export = self.exports.get(request.match_info["id"])
        if export is None:
            return v3_error(404, "EMU_404", f"Export job {request.match_info['id']} was not found.")
        return export

    @staticmethod
    def _served(export: Export) -> Step:
        """The state the last status poll reported (the first one before any poll)."""
        return export.script[min(max(export.polls - 1, 0), len(export.script) - 1)]

    async def _status(self, request: web.Request) -> web.Response:
        if isinstance(denied := self._session(request), web.Response):
            return denied
        export = self._export(request)
        if isinstance(export, web.Response):
            return export
        step = export.advance()
        return web.json_response(self._job(export, step, expand=request.query.get("expand") == "objects"))

    @staticmethod
    def _name(export: Export) -> str:
        return str(export.extra.get("name") or export.export_id)

    @staticmethod
    def _exported(export: Export) -> list[dict[str, Any]]:
        """The exported objects (``add_export`` exports: the seed's mapping)."""
        objects: list[dict[str, Any]] = export.extra.get("objects") or [CATALOG["iIVBNZSpUKFg4N6g2PKUox"]]
        return objects

    def _object_states(self, export: Export, step: Step) -> list[tuple[dict[str, Any], str, str | None]]:
        objects = self._exported(export)
        if step.state == "SUCCESSFUL":
            return [(o, "SUCCESSFUL", None) for o in objects]
        if step.state != "FAILED":
            return [(o, "IN_PROGRESS", None) for o in objects]
        failures: dict[str, str] = export.extra.get("failures") or {
            objects[0]["id"]: step.message or "Export failed."
        }
        return [
            (o, "FAILED", failures[o["id"]]) if o["id"] in failures else (o, "SUCCESSFUL", None)
            for o in objects
        ]

    def _job(self, export: Export, step: Step, *, expand: bool) -> dict[str, Any]:
        done = step.state in ("SUCCESSFUL", "FAILED")
        message = (
            step.message
            or JOB_MESSAGES.get(step.state)
            or ("Export failed." if step.state == "FAILED" else None)
        )
        objects = None
        if expand:
            objects = [
                {**obj, "status": {"state": state, "message": msg}}
                for obj, state, msg in self._object_states(export, step)
            ]
        return {
            "id": export.export_id,
            "createTime": _iso(export.created_at),
            "updateTime": _iso(time.time()),
            "name": self._name(export),
            "startTime": _iso(export.created_at),
            "endTime": _iso(time.time()) if done else None,
            "status": {"state": step.state, "message": message},
            "objects": objects,
        }

    def _package_zip(self, export: Export) -> bytes:
        objects = self._exported(export)
        metadata = {
            "jobName": self._name(export),
            "exportedObjects": [
                {"objectGuid": o["id"], "objectName": o["name"], "objectType": o["type"]} for o in objects
            ],
        }
        files: dict[str, bytes | str] = {"exportMetadata.v2.json": json.dumps(metadata, indent=2)}
        for obj in objects:
            folder = (obj.get("path") or "/SYS").strip("/") or "Explore"
            files[f"Explore/{folder}/{obj['name']}.{obj['type']}.zip"] = make_zip(
                {f"{obj['id']}.json": json.dumps({**obj, "export": export.export_id})}
            )
        if self.package_padding:
            files["Explore/padding.bin"] = secrets.token_bytes(self.package_padding)
        return make_zip(files)

    async def _package(self, request: web.Request) -> web.StreamResponse:
        if isinstance(denied := self._session(request), web.Response):
            return denied
        export = self._export(request)
        if isinstance(export, web.Response):
            return export
        if self._served(export).state != "SUCCESSFUL" or not export.polls:
            return v3_error(
                400, "EMU_400", f"Export job {export.export_id} has no package: it did not succeed."
            )
        return await serve_bytes(request, export.content, file_name=export.file_name)

    async def _log(self, request: web.Request) -> web.Response:
        if isinstance(denied := self._session(request), web.Response):
            return denied
        export = self._export(request)
        if isinstance(export, web.Response):
            return export
        return web.Response(text=self._log_text(export, self._served(export)), content_type="text/plain")

    def _log_text(self, export: Export, step: Step) -> str:
        """A log in the format of the seed page's example."""
        start = _iso(export.created_at)
        lines = [
            f"OIE_002 INFO {start} Starting export operation. Execution Client: API Job Name: "
            f"{self._name(export)} Organization: Emulated_Org RequestId: {export.export_id} "
            f"User: {self.username}"
        ]
        if step.state not in ("SUCCESSFUL", "FAILED"):
            return "\n".join(lines) + "\n"
        for obj, state, message in self._object_states(export, step):
            path = f"{(obj.get('path') or '/SYS').rstrip('/')}/{obj['name']}"
            target = f"[{path}] of type [{obj['type']}] id [{obj['id']}]"
            if state == "FAILED":
                lines.append(f"OIE_005 ERROR {_iso(time.time())} Failed to export object {target}: {message}")
            else:
                lines.append(f"OIE_004 INFO {_iso(time.time())} Successfully exported object {target}")
        lines.append(
            f"OIE_003 INFO {_iso(time.time())} Finished export operation. Job Name: {self._name(export)} "
            f"Start Time: {start} End Time: {_iso(time.time())} Started by: {self.username} "
            f"Start Method: API Source Organization: Emulated_Org Status: {step.state}"
        )
        return "\n".join(lines) + "\n"
