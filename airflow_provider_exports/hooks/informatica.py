"""Informatica Intelligent Cloud Services (IICS / IDMC): Platform REST API v3 export jobs.

Sources: the "Getting the export job status" page (shared/seeds/002) and the IICS notes behind
docs/informatica_iics.md (v3 login and logout, starting an export, package and log downloads,
the error object, session ids).

The login host (``https://dm-us.informaticacloud.com``) only logs in and out; every other call
goes to the pod's ``baseApiUrl`` that the login returns, with the session id in the
``INFA-SESSION-ID`` header.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from airflow.sdk import Connection

from airflow_provider_exports.errors import (
    ExportAuthError,
    ExportConfigError,
    ExportError,
    ExportRequestError,
    ExportResponseError,
)
from airflow_provider_exports.hooks.base import ExportHook, _truthy
from airflow_provider_exports.progress import TransferProgress
from airflow_provider_exports.status import (
    ExportState,
    ExportStatus,
    map_state,
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

log = logging.getLogger(__name__)

VENDOR = "Informatica IICS"
LOGIN_PATH = "/saas/public/core/v3/login"
LOGOUT_PATH = "/saas/public/core/v3/logout"
#: v3 resources, relative to the pod's baseApiUrl (which already ends in ``/saas``).
API = "/public/core/v3"
SESSION_HEADER = "INFA-SESSION-ID"
#: The error code IICS sends with an invalid or expired session id.
SESSION_INVALID_CODE = "AUTH_01"
#: Error codes that mean the credentials or the session were refused (IDS_085: bad password).
AUTH_ERROR_CODES = frozenset({SESSION_INVALID_CODE, "IDS_085"})
#: Sessions expire after 30 minutes without a call (Session IDs page).
SESSION_IDLE_SECONDS = 30 * 60

# v3 export status.state. Official examples show IN_PROGRESS and SUCCESSFUL; FAILED and QUEUED
# come from third-party client code, NOT_STARTED from the v3 import pages (docs/informatica_iics.md).
INFORMATICA_STATES: Mapping[str, ExportState] = {
    "QUEUED": ExportState.PENDING,
    "NOT_STARTED": ExportState.PENDING,
    "IN_PROGRESS": ExportState.RUNNING,
    "SUCCESSFUL": ExportState.SUCCEEDED,
    "FAILED": ExportState.FAILED,
}

#: Informatica recommends at most this many objects per export job.
RECOMMENDED_MAX_OBJECTS = 1000
#: Failed objects named in a status message; the rest are counted.
MAX_FAILED_OBJECTS_LISTED = 10
JSON_ACCEPT = {"Accept": "application/json"}


# ---- errors ------------------------------------------------------------------------------------


def error_fields(body: bytes) -> tuple[str | None, str | None]:
    """``(code, message)`` of an IICS error body: the v3 ``{"error": {...}}`` object or the
    v2 ``{"code", "description"}`` one; ``(None, None)`` for anything else.

    The v3 ``requestId`` is kept in the message: Informatica support asks for it.
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    error = data.get("error")
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        request_id = error.get("requestId")
        text = str(message) if message else None
        if text and request_id:
            text += f" (requestId {request_id})"
        return (str(code) if code else None), text
    if data.get("@type") == "error" or "description" in data:
        code, message = data.get("code"), data.get("description")
        return (str(code) if code else None), (str(message) if message else None)
    return None, None


def check(resp: Response, what: str) -> Response:
    """Return a 2xx response; raise the IICS error (code, message, requestId) for any other."""
    if resp.ok:
        return resp
    code, message = error_fields(resp.body)
    if message is None:
        message = resp.snippet() or None
    cls = ExportAuthError if resp.status == 401 or code in AUTH_ERROR_CODES else ExportRequestError
    raise cls(VENDOR, what, status=resp.status, code=code, message=message)


def is_session_rejected(resp: Response) -> bool:
    """Whether IICS refused the session id: HTTP 401, or 403 with error code ``AUTH_01``."""
    if resp.status == 401:
        return True
    if resp.status != 403:
        return False
    code, _ = error_fields(resp.body)
    return code == SESSION_INVALID_CODE


# ---- login -------------------------------------------------------------------------------------


def parse_login(body: Mapping[str, Any], *, now: float | None = None) -> Credential:
    """The session of a v3 login answer: ``userInfo.sessionId`` and the pod's ``baseApiUrl``."""
    what = "log in"
    user = body.get("userInfo")
    session_id = user.get("sessionId") if isinstance(user, dict) else None
    if not isinstance(session_id, str) or not session_id:
        raise ExportResponseError(VENDOR, what, message="the login answer has no userInfo.sessionId")
    base_url = next(
        (
            p["baseApiUrl"]
            for p in body.get("products") or []
            if isinstance(p, dict) and isinstance(p.get("baseApiUrl"), str) and p["baseApiUrl"]
        ),
        None,
    )
    if base_url is None:
        raise ExportResponseError(VENDOR, what, message="the login answer has no products[].baseApiUrl")
    if not base_url.startswith(("https://", "http://")):
        raise ExportResponseError(VENDOR, what, message=f"baseApiUrl is not an http(s) URL: {base_url!r}")
    started = time.time() if now is None else now
    return Credential(
        token=session_id, expires_at=started + SESSION_IDLE_SECONDS, base_url=base_url.rstrip("/")
    )


class InformaticaAuth(Authenticator):
    """v3 username/password login to a session id, sent as ``INFA-SESSION-ID`` to the pod."""

    vendor = VENDOR
    # Renew two minutes before the idle timeout; a session that idled out sooner (polls further
    # apart than 30 minutes) is caught by is_rejected and renewed once.
    refresh_margin = 120.0

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password

    def secrets(self) -> Iterable[str]:
        return (self._password,)

    def login(self, previous: Credential | None) -> Op[Credential]:
        # IICS has no refresh call: an expired session is replaced by a new login.
        resp = yield json_request(
            "POST",
            LOGIN_PATH,
            "log in",
            {"username": self._username, "password": self._password},
            authenticate=False,
        )
        check(resp, "log in")
        return parse_login(resp.json_object(VENDOR))

    def apply(self, request: Request, credential: Credential) -> Request:
        return request.with_headers({SESSION_HEADER: credential.token})

    def is_rejected(self, response: Response) -> bool:
        return is_session_rejected(response)


# ---- export status -----------------------------------------------------------------------------


def _object_label(obj: Mapping[str, Any]) -> str:
    name = obj.get("name") or obj.get("id") or "<unnamed object>"
    details = [str(v) for v in (obj.get("type"), obj.get("path")) if v]
    if obj.get("id"):
        details.append(f"id {obj['id']}")
    return f"{name} ({', '.join(details)})" if details else str(name)


def failed_objects(objects: object) -> list[Mapping[str, Any]]:
    """The entries of an ``?expand=objects`` list whose own state is a failure."""
    if not isinstance(objects, list):
        return []
    out = []
    for obj in objects:
        status = obj.get("status") if isinstance(obj, dict) else None
        state = status.get("state") if isinstance(status, dict) else None
        if isinstance(state, str) and INFORMATICA_STATES.get(state) is ExportState.FAILED:
            out.append(obj)
    return out


def describe_failures(objects: object, limit: int = MAX_FAILED_OBJECTS_LISTED) -> str | None:
    """``"Failed objects: abc_map (MAPPING, /Default, id ...): <message>; ..."``, or None."""
    failed = failed_objects(objects)
    if not failed:
        return None
    parts = []
    for obj in failed[:limit]:
        status = obj.get("status") or {}
        message = status.get("message") if isinstance(status, dict) else None
        parts.append(f"{_object_label(obj)}: {message or 'no message'}")
    if len(failed) > limit:
        parts.append(f"and {len(failed) - limit} more")
    return "Failed objects: " + "; ".join(parts)


def parse_status(body: Mapping[str, Any], export_id: str) -> ExportStatus:
    """Map an export job status answer (with or without ``?expand=objects``) to an ExportStatus.

    A failed job's message names the objects that failed and their messages, when the body
    lists them.
    """
    status = body.get("status")
    if not isinstance(status, dict) or not isinstance(status.get("state"), str) or not status["state"]:
        raise ExportResponseError(
            VENDOR,
            f"status of export {export_id!r}",
            message=f"no status.state in the answer: {json.dumps(body)[:200]}",
        )
    vendor_state: str = status["state"]
    state = map_state(VENDOR, vendor_state, INFORMATICA_STATES)
    job_message = status.get("message")
    parts = [str(job_message)] if job_message else []
    if state is ExportState.FAILED and (failures := describe_failures(body.get("objects"))):
        parts.append(failures)
    return ExportStatus(
        export_id=export_id,
        vendor_state=vendor_state,
        state=state,
        progress=100 if state is ExportState.SUCCEEDED else None,
        message=" ".join(parts) or None,
        started_at=parse_time(body.get("startTime")),
        ended_at=parse_time(body.get("endTime")),
        raw=body,
    )


def parse_export_id(body: Mapping[str, Any]) -> str:
    """The job id of a start-export answer."""
    export_id = body.get("id")
    if not isinstance(export_id, str) or not export_id:
        raise ExportResponseError(VENDOR, "start an export", message="the answer has no export job id")
    return export_id


#: The start call's documented answer. The docs say only "if successful" (no status named), so
#: any 2xx is taken; the body must be the export job object with its id.
START_ANSWER = "a 2xx answer with the export job as a JSON object holding its 'id'"


def parse_start(resp: Response) -> str:
    """The job id of a start-export answer, or an error naming what came back instead
    (an HTML page, malformed JSON, a body without the job's ``id``)."""
    body = resp.documented_json(VENDOR, START_ANSWER)
    export_id = body.get("id")
    if not isinstance(export_id, str) or not export_id:
        raise resp.unexpected(VENDOR, START_ANSWER)
    return export_id


def package_error(exc: ExportRequestError) -> ExportRequestError:
    """A refused package download in the form of the other IICS errors (code and message).

    The package is streamed by the transport, which quotes the body of a refusal as it came;
    an IICS error object there becomes ``code X: message (requestId ...)`` as :func:`check`
    gives for every other call. Anything else is returned unchanged.
    """
    if exc.status is None or exc.code is not None or not exc.vendor_message:
        return exc
    code, message = error_fields(exc.vendor_message.encode())
    if code is None and message is None:
        return exc
    return type(exc)(exc.vendor, exc.what, status=exc.status, code=code, message=message)


def export_body(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The start-export request body: ``name`` (optional) and ``objects`` (ids of projects,
    folders or assets; plain id strings become ``{"id": ...}``). Other keys pass through."""
    objects = payload.get("objects")
    if not isinstance(objects, Sequence) or isinstance(objects, str) or not objects:
        raise ExportConfigError(
            "An IICS export needs 'objects': a non-empty list of {\"id\": ..., "
            '"includeDependencies": true|false} (or plain object ids).'
        )
    normalized: list[dict[str, Any]] = []
    for index, item in enumerate(objects):
        entry = {"id": item} if isinstance(item, str) else item
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str) or not entry["id"]:
            raise ExportConfigError(f"IICS export objects[{index}] has no 'id' (got {item!r}).")
        normalized.append(dict(entry))
    name = payload.get("name")
    if name is not None and not isinstance(name, str):
        raise ExportConfigError(f"IICS export 'name' must be a string, got {type(name).__name__}.")
    if len(normalized) > RECOMMENDED_MAX_OBJECTS:
        log.warning(
            "Exporting %d objects in one IICS job; Informatica recommends at most %d.",
            len(normalized),
            RECOMMENDED_MAX_OBJECTS,
        )
    return {**payload, "objects": normalized}


def login_url(host: str, port: int | None = None) -> str:
    """The login URL from the connection's host: scheme added, a trailing ``/saas`` dropped."""
    url = host.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        url = "https://" + url
    url = url.removesuffix("/saas")
    return f"{url}:{port}" if port else url


@dataclass(frozen=True)
class InformaticaSettings:
    """What an IICS connection says: the region's login URL, the user and the password (never
    printed)."""

    #: The login host (:func:`login_url`); the pod's URL comes with each login.
    base_url: str
    username: str
    password: str = field(repr=False)

    def authenticator(self, vendor: str) -> Authenticator:
        """Username/password login to a session (its messages name IICS already)."""
        return InformaticaAuth(self.username, self.password)


# ---- the hook ----------------------------------------------------------------------------------


class InformaticaHook(ExportHook):
    """IICS v3 export jobs (``/public/core/v3/export``).

    Connection: host = login URL of the org's region (``https://dm-us.informaticacloud.com``),
    login = username, password = password.

    Options (``hook_params``): ``include_tag_information`` (bool) also exports asset tags.
    """

    conn_type = "informatica_iics"
    hook_name = "Informatica Intelligent Cloud Services (IICS)"
    vendor = VENDOR
    default_conn_name = "informatica_iics_default"

    def read_settings(self, conn: Connection) -> InformaticaSettings:
        username = self.require(conn.login, "username (login field)")
        password = self.require(conn.password, "password")
        base_url = login_url(self.require(conn.host, "login URL (host field)"), conn.port)
        return InformaticaSettings(base_url=base_url, username=username, password=password)

    def start_op(self, payload: Mapping[str, Any]) -> Op[str]:
        body = export_body(payload)
        params = (
            (("includeTagInformation", "true"),)
            if _truthy(self.options.get("include_tag_information"))
            else ()
        )
        what = "start an export"
        resp = yield json_request("POST", f"{API}/export", what, body, params=params, idempotent=False)
        if resp.status == 403:
            code, message = error_fields(resp.body)
            raise ExportRequestError(
                VENDOR,
                what,
                status=403,
                code=code,
                message=f"{message or resp.snippet()} (the user needs the 'Asset - export' privilege)",
            )
        check(resp, what)
        return parse_start(resp)

    def _status_request(self, export_id: str, *, expand: bool = False) -> Request:
        return Request(
            "GET",
            f"{API}/export/{path_segment(export_id)}",
            f"status of export {export_id!r}",
            headers=JSON_ACCEPT,
            params=(("expand", "objects"),) if expand else (),
        )

    def status_op(self, export_id: str) -> Op[ExportStatus]:
        resp = yield self._status_request(export_id)
        check(resp, f"status of export {export_id!r}")
        status = parse_status(resp.json_object(VENDOR), export_id)
        if status.state is not ExportState.FAILED:
            return status
        # Polls stay small; only a failed job is read again with its per-object status.
        detailed = yield self._status_request(export_id, expand=True)
        if not detailed.ok:
            _, message = error_fields(detailed.body)
            log.warning(
                "Could not read the per-object status of failed export %r: HTTP %s %s",
                export_id,
                detailed.status,
                message or detailed.snippet(),
            )
            return status
        return parse_status(detailed.json_object(VENDOR), export_id)

    def download_op(self, export_id: str) -> Op[Request]:
        # Reading the status first renews an expired session and explains an unready package.
        status = yield from self.status_op(export_id)
        if not status.is_success:
            raise ExportRequestError(
                VENDOR, f"package of export {export_id!r}", message=f"not available ({status.describe()})"
            )
        return Request(
            "GET", f"{API}/export/{path_segment(export_id)}/package", f"download export {export_id!r}"
        )

    def download(self, export_id: str, sink: IO[bytes], progress: TransferProgress | None = None) -> int:
        """Stream the package; a refusal reads like the other IICS errors (code: message)."""
        try:
            return super().download(export_id, sink, progress)
        except ExportRequestError as exc:
            readable = package_error(exc)
            if readable is exc:
                raise
            raise readable from None

    def log_op(self, export_id: str) -> Op[str]:
        status = yield from self.status_op(export_id)
        what = f"log of export {export_id!r}"
        resp = yield Request("GET", f"{API}/export/{path_segment(export_id)}/log", what)
        check(resp, what)
        return f"{status.describe()}\n{resp.body.decode('utf-8', 'replace')}"

    def check_op(self) -> Op[str]:
        what = "list objects"
        resp = yield Request("GET", f"{API}/objects", what, headers=JSON_ACCEPT, params=(("limit", "1"),))
        check(resp, what)
        count = resp.json_object(VENDOR).get("count")
        seen = f"{count} objects visible" if isinstance(count, int) else "objects listed"
        return f"Connected to {VENDOR}: logged in, session works ({seen})."

    # ---- logout ----------------------------------------------------------------------------

    def logout_op(self) -> Op[bool]:
        """End the session on the login host; returns whether IICS accepted."""
        # authenticate=True: the transport adds the session id, checking the origin on each hop.
        resp = yield Request("POST", self.settings.base_url + LOGOUT_PATH, "log out", headers=JSON_ACCEPT)
        return resp.ok

    def logout(self) -> bool:
        """End this process's session for the connection (best effort), and forget it.

        Only for one-shot uses: every hook on the same connection in this process shares the
        session, so a logout would cut off waits still polling with it.
        """
        transport = self.sync_transport()
        if transport.cached_credential() is None:
            return False
        try:
            return transport.run(self.logout_op())
        except ExportError as exc:
            log.warning("Logging out of %s failed (the session expires on its own): %s", VENDOR, exc)
            return False
        finally:
            transport.invalidate(transport.stale_credential())

    def test_connection(self) -> tuple[bool, str]:
        """Log in, list one object, log out."""
        result = super().test_connection()
        self.logout()
        return result
