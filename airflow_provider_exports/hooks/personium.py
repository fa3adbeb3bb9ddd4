"""Personium cell export (snapshot) and import: token, ``__export`` / ``__import`` status, the
snapshot area, snapshot download.

Sources: the cell import status page (shared/seeds/001) and the Personium notes summarised in
docs/personium.md (token endpoint, export, snapshot area, error file, server code).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit
from xml.etree import ElementTree

from airflow.sdk import Connection

from airflow_provider_exports.available import AvailableExport
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

log = logging.getLogger(__name__)

VENDOR = "Personium"
JOBS = ("export", "import")
READY = "ready"
RUNNING = {"export": "exportation in progress", "import": "importation in progress"}
IMPORT_FAILED = "import failed"
# ``status`` of __import / __export. 'ready' is ambiguous (idle before *and* after a run): the
# hook resolves it (import: the run seen first; export: the snapshot area), so it is deliberately
# absent here. __export has no failure state at all: a failed export goes back to 'ready' and
# leaves {Name}.error (SnapshotFileExportProgressInfo has only READY/PROCESSING).
PERSONIUM_STATES: Mapping[str, ExportState] = {
    "importation in progress": ExportState.RUNNING,
    "import failed": ExportState.FAILED,
    "exportation in progress": ExportState.RUNNING,
}
#: ``Common.PATTERN_SNAPSHOT_NAME`` in personium-core.
SNAPSHOT_NAME = re.compile(r"[A-Za-z0-9_-]{1,192}")
#: The documented format of ``X-Personium-RequestKey``.
REQUEST_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")
REQUEST_KEY_HEADER = "X-Personium-RequestKey"
DAV = "{DAV:}"
PROPFIND_ALLPROP = (
    b'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'
)
#: Used when the token answer has no ``expires_in`` (Personium's default lifetime).
DEFAULT_TOKEN_SECONDS = 3600.0
HOOK_OPTIONS = ("job", "started_after", "request_key", "observed_imports")

#: What a person can do about the Personium errors a DAG meets most.
HINTS = {
    "PR409-DV-0002": "a snapshot with this name already exists and was left untouched: "
    "choose another Name or delete the old snapshot",
    "PR403-AU-0002": "the account needs the cell's root privilege",
    "PR409-MC-0001": "other requests keep the cell busy; try again later",
    "PR409-CM-0001": "the cell is in 'import failed' state: only a new import can repair it",
    "PR409-CM-0002": "an export or import is running on this cell",
    "PR400-EV-0002": "the request_key is not valid for Personium",
    "PR400-AN-0017": "wrong username or password (Personium then refuses logins for a second)",
    "PR400-AN-0010": "the refresh token expired or is invalid",
}


# ---- validation of names and options (pure) ----------------------------------------------------


def validate_snapshot_name(value: object) -> str:
    """A snapshot name as Personium accepts it (1-192 of ``A-Z a-z 0-9 - _``), or a clear error."""
    if not isinstance(value, str) or not SNAPSHOT_NAME.fullmatch(value):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise ExportConfigError(
            f"{VENDOR}: {shown} is not a snapshot name: use 1-192 characters of A-Z a-z 0-9 - _ "
            "(the name without '.zip')."
        )
    return value


def validate_request_key(value: object) -> str:
    """An ``X-Personium-RequestKey`` value (at most 128 of ``A-Z a-z 0-9 - _``), or a clear error."""
    if isinstance(value, str) and REQUEST_KEY.fullmatch(value):
        return value
    if not isinstance(value, str) or not value:
        problem = "it is empty" if value == "" else f"it is a {type(value).__name__}"
    elif len(value) > 128:
        problem = f"it has {len(value)} characters"
    else:
        bad = sorted({c for c in value if not re.fullmatch(r"[A-Za-z0-9_-]", c)})
        problem = f"it contains {''.join(bad)!r}"
    raise ExportConfigError(f"{VENDOR}: request_key must be 1-128 characters of A-Z a-z 0-9 - _ ({problem}).")


@dataclass(frozen=True)
class PersoniumOptions:
    """The non-secret ``hook_params`` of a Personium wait."""

    job: str = "export"
    started_after: datetime | None = None
    request_key: str | None = None
    observed_imports: frozenset[str] = frozenset()

    @property
    def endpoint(self) -> str:
        """The status resource this job is watched on."""
        return f"__{self.job}"


def parse_options(options: Mapping[str, Any]) -> PersoniumOptions:
    """Check ``hook_params``: ``job``, ``started_after``, ``request_key``, ``observed_imports``."""
    unknown = sorted(set(options) - set(HOOK_OPTIONS))
    if unknown:
        raise ExportConfigError(f"{VENDOR}: unknown hook_params {unknown}; use {list(HOOK_OPTIONS)}.")
    job = options.get("job") or "export"
    if job not in JOBS:
        raise ExportConfigError(f"{VENDOR}: hook_params job must be 'export' or 'import', not {job!r}.")
    started_after = None
    raw_after = options.get("started_after")
    if raw_after not in (None, ""):
        started_after = (
            (raw_after if raw_after.tzinfo else raw_after.replace(tzinfo=timezone.utc))
            if isinstance(raw_after, datetime)
            else parse_time(raw_after)
        )
        if started_after is None:
            raise ExportConfigError(
                f"{VENDOR}: hook_params started_after must be an ISO-8601 time, not {raw_after!r}."
            )
    key = options.get("request_key")
    observed = options.get("observed_imports") or []
    if not isinstance(observed, (list, tuple)) or not all(isinstance(n, str) for n in observed):
        raise ExportConfigError(f"{VENDOR}: hook_params observed_imports must be a list of names.")
    return PersoniumOptions(
        job=job,
        started_after=started_after,
        request_key=validate_request_key(key) if key not in (None, "") else None,
        observed_imports=frozenset(observed),
    )


# ---- answers (pure) ----------------------------------------------------------------------------


def error_details(value: object) -> tuple[str | None, str | None]:
    """``code`` and message text of Personium's message format.

    The same shape is an API error body, the import status ``message`` and an export's
    ``.error`` file: ``{"code": "...", "message": {"lang": "en", "value": "..."}}``.
    """
    if not isinstance(value, Mapping):
        return None, None
    code = value.get("code")
    message = value.get("message")
    if isinstance(message, Mapping):
        message = message.get("value")
    return (str(code) if code else None), (str(message) if message else None)


def check(resp: Response, what: str, *, token_endpoint: bool = False) -> Response:
    """Return a 2xx response; raise Personium's error (code, message, a hint) for any other."""
    if resp.ok:
        return resp
    code = message = None
    try:
        body = json.loads(resp.body)
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, Mapping) and "error" in body:
        # Token endpoint: {"error": "invalid_grant", "error_description": "[PR400-AN-0017] - ..."}
        description = str(body.get("error_description") or "")
        match = re.match(r"\[(PR\d{3}-[A-Z]{2}-\d{4})\]\s*-?\s*(.*)", description)
        code, message = (match.group(1), match.group(2)) if match else (str(body["error"]), description)
    elif isinstance(body, Mapping):
        code, message = error_details(body)
    if code is None and message is None:
        message = resp.snippet() or None
    if code in HINTS:
        message = f"{message} ({HINTS[code]})" if message else HINTS[code]
    cls = ExportAuthError if token_endpoint or resp.status in (401, 403) else ExportRequestError
    raise cls(VENDOR, what, status=resp.status, code=code, message=message)


def check_start(resp: Response, job: str) -> None:
    """Refuse a start answer that is not the documented one, naming what came back instead.

    ``POST {CellURL}__export`` (501) and ``__import`` (507) answer **202 Accepted** with an empty
    body and ``Location: {CellURL}__export`` (``__import``), as personium-core's
    ``CellExportResource`` / ``CellImportResource`` build it. Another status, an HTML page, a
    body that is neither empty nor JSON, or a missing or foreign ``Location`` is not a started
    job: waiting for it would only end at the sensor's timeout. (A JSON body is let through: it
    is not documented, but cannot be a gateway's page.)
    """
    expected = f"HTTP 202 with an empty body and a Location header ({{CellURL}}__{job})"
    problems = []
    location = resp.header("Location")
    if not location:
        problems.append("no Location header")
    elif not urlsplit(location).path.endswith(f"/__{job}"):
        problems.append(f"Location {location[:200]!r} is not the {job} status URL")
    body_ok = not resp.body.strip() or (not resp.is_html and _is_json(resp.body))
    if resp.status != 202 or not body_ok or problems:
        raise resp.unexpected(VENDOR, expected, detail="; ".join(problems) or None)


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def parse_token(body: Mapping[str, Any], what: str) -> Credential:
    """A token endpoint answer: ``access_token``, ``expires_in``, ``refresh_token``."""
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise ExportResponseError(VENDOR, what, message="the answer has no access_token")
    expires_in = body.get("expires_in")
    ttl = float(expires_in) if isinstance(expires_in, (int, float)) else DEFAULT_TOKEN_SECONDS
    refresh = body.get("refresh_token")
    return Credential(
        token=token,
        expires_at=time.time() + ttl,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
    )


@dataclass(frozen=True)
class JobReport:
    """One answer of ``GET __export`` or ``GET __import``."""

    vendor_state: str
    name: str | None = None
    started_at: datetime | None = None
    progress: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


def read_report(body: Mapping[str, Any], job: str) -> JobReport:
    """Read a status answer; ``exportation_name`` / ``importation_name`` become ``name``."""
    state = body.get("status")
    if not isinstance(state, str) or not state:
        raise ExportResponseError(
            VENDOR, f"GET __{job}", message=f"no 'status' in the answer: {json.dumps(body)[:200]}"
        )
    name = body.get(f"{job}ation_name")
    code, message = error_details(body.get("message"))
    return JobReport(
        vendor_state=state,
        name=name if isinstance(name, str) else None,
        started_at=parse_time(body.get("started_at")),
        progress=parse_progress(body.get("progress")),
        error_code=code,
        error_message=message,
        raw=dict(body),
    )


def _status(
    report: JobReport, name: str, state: ExportState | None, message: str | None, **kw: Any
) -> ExportStatus:
    fields: dict[str, Any] = {
        "export_id": name,
        "vendor_state": report.vendor_state,
        "state": state,
        "progress": report.progress,
        "message": message,
        "started_at": report.started_at,
        "raw": report.raw,
    }
    fields.update(kw)
    return ExportStatus(**fields)


def _unknown(report: JobReport, name: str, endpoint: str) -> ExportStatus:
    state = map_state(VENDOR, report.vendor_state, PERSONIUM_STATES)
    return _status(report, name, state, f"{endpoint}: state not documented; waiting")


def classify_import(
    report: JobReport,
    name: str,
    *,
    started_after: datetime | None = None,
    observed: bool = False,
) -> tuple[ExportStatus, bool]:
    """Where import ``name`` stands, and whether this answer shows it began.

    ``ready`` means "no import running", before an import starts as well as after it ended,
    so it is success only once the import was seen begun (``observed``): running under its
    name, or the cell held in ``import failed`` (only a successful import clears that state).
    An ``import failed`` whose run started before ``started_after`` is an older one, not ours.
    (Running imports are matched by name only, so clock skew cannot hide ours.)
    """
    state = report.vendor_state
    named = report.name == name
    fresh = started_after is None or (report.started_at is not None and report.started_at >= started_after)
    other = f"{report.name!r}" + (f" started {report.started_at.isoformat()}" if report.started_at else "")
    if state == RUNNING["import"]:
        if named:
            return _status(report, name, ExportState.RUNNING, f"__import: import {name!r} running"), True
        message = f"__import: another import ({other}) is running; import {name!r} has not started"
        return _status(report, name, ExportState.PENDING, message), False
    if state == IMPORT_FAILED:
        if named and fresh:
            status = _status(
                report,
                name,
                ExportState.FAILED,
                report.error_message or "import failed (no message)",
                error_code=report.error_code,
            )
            return status, True
        message = (
            f"__import: the cell still shows an earlier failed import ({other}); "
            f"waiting for import {name!r} to end"
        )
        return _status(report, name, ExportState.PENDING, message), True
    if state == READY:
        if observed:
            message = f"__import: ready again after import {name!r} was seen begun: it finished"
            return _status(report, name, ExportState.SUCCEEDED, message, progress=100), False
        message = (
            f"__import: ready (no import running) and import {name!r} not seen yet: waiting for it to start"
        )
        return _status(report, name, ExportState.PENDING, message), False
    return _unknown(report, name, "__import"), False


@dataclass(frozen=True)
class SnapshotFile:
    """A file in the cell's snapshot area, as PROPFIND describes it."""

    name: str
    size: int | None


def classify_export(
    report: JobReport,
    name: str,
    *,
    snapshot: SnapshotFile | None = None,
    error_file: Mapping[str, Any] | None = None,
) -> ExportStatus:
    """Where export ``name`` stands.

    ``__export`` only says ``ready`` or ``exportation in progress``: ``ready`` follows a
    success and a failure alike, and comes before a queued export starts. With ``ready`` the
    snapshot area decides: ``{name}.zip`` (not empty) is success, ``{name}.error`` failure
    (its code and message), neither means the export has not started.
    """
    state = report.vendor_state
    if state == RUNNING["export"]:
        if report.name == name:
            return _status(report, name, ExportState.RUNNING, f"__export: export {name!r} running")
        message = f"__export: another export ({report.name!r}) is running; export {name!r} has not started"
        return _status(report, name, ExportState.PENDING, message)
    if state != READY:
        return _unknown(report, name, "__export")
    if snapshot is not None and snapshot.size != 0:
        size = f" ({snapshot.size} bytes)" if snapshot.size is not None else ""
        return _status(
            report,
            name,
            ExportState.SUCCEEDED,
            f"snapshot {snapshot.name} is ready{size}",
            progress=100,
            artifacts={"file": f"__snapshot/{snapshot.name}"},
        )
    if error_file is not None:
        code, text = error_details(error_file)
        return _status(
            report,
            name,
            ExportState.FAILED,
            text or f"the export failed ({name}.error has no message)",
            error_code=code,
            raw={**report.raw, "error_file": dict(error_file)},
        )
    message = (
        f"__export: ready, and neither {name}.zip nor {name}.error is in the snapshot area yet: "
        "waiting for the export to start"
    )
    return _status(report, name, ExportState.PENDING, message)


def propfind_size(body: bytes) -> int | None:
    """``getcontentlength`` of the first resource in a PROPFIND multistatus answer."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise ExportResponseError(VENDOR, "PROPFIND __snapshot", message=f"unreadable XML: {exc}") from None
    length = root.find(f".//{DAV}getcontentlength")
    if length is None or not (length.text or "").strip().isdigit():
        return None
    return int((length.text or "").strip())


def _http_date(value: str | None) -> datetime | None:
    """An HTTP date (``Wed, 15 Feb 2017 01:52:34 GMT``, as ``getlastmodified`` is written)."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def parse_snapshot_listing(body: bytes, running: str | None = None) -> list[AvailableExport]:
    """The finished snapshots of a ``PROPFIND {CellURL}__snapshot`` (Depth 1) answer.

    The 505 page: one ``response`` per resource (the collection itself, then its files), each
    with ``href``, ``creationdate``, ``getcontentlength``, ``getlastmodified`` and
    ``resourcetype``. A snapshot is a ``{Name}.zip`` file with a length above 0 that is not the
    export running now (``running``: its ``{Name}.zip`` exists, and grows, while it runs; the
    501 notes in docs/personium.md). ``.error`` files and collections are left out. Its version
    is its modification and creation time and length: Personium sends no ETag in PROPFIND.
    """
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise ExportResponseError(VENDOR, "PROPFIND __snapshot", message=f"unreadable XML: {exc}") from None
    found: list[AvailableExport] = []
    for response in root.iter(f"{DAV}response"):
        href = (response.findtext(f"{DAV}href") or "").strip()
        file_name = unquote(urlsplit(href).path.rstrip("/").rsplit("/", 1)[-1])
        if not file_name.endswith(".zip") or response.find(f".//{DAV}collection") is not None:
            continue
        name = file_name.removesuffix(".zip")
        if not SNAPSHOT_NAME.fullmatch(name) or name == running:
            continue
        length = (response.findtext(f".//{DAV}getcontentlength") or "").strip()
        size = int(length) if length.isdigit() else None
        if not size:
            continue
        modified = (response.findtext(f".//{DAV}getlastmodified") or "").strip()
        created = (response.findtext(f".//{DAV}creationdate") or "").strip()
        found.append(
            AvailableExport(
                export_id=name,
                name=file_name,
                size=size,
                finished_at=_http_date(modified) or parse_time(created),
                version=f"{modified}|{created}|{size}",
            )
        )
    return found


def default_snapshot_name(now: datetime | None = None) -> str:
    """A new snapshot name: ``airflow_<UTC time>_<random>`` (Personium refuses existing names)."""
    moment = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S")
    return f"airflow_{moment}_{secrets.token_hex(3)}"


# ---- authentication ----------------------------------------------------------------------------


class PersoniumAuth(Authenticator):
    """Bearer tokens from the cell's ``__token`` endpoint (password and refresh-token grants),
    or a token from the connection, renewed with its refresh token. The request key, if any, goes
    on every call to the cell: the token calls and every call it authenticates."""

    vendor = VENDOR
    refresh_margin = 60.0

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        access_token: str | None = None,
        refresh_token: str | None = None,
        request_key: str | None = None,
    ) -> None:
        self._username = username
        self._password = password
        self._access_token = access_token
        self._refresh_token = refresh_token
        self._headers = {REQUEST_KEY_HEADER: request_key} if request_key else {}
        # The runner forgets a credential the server rejected before it asks for a new one;
        # remembering the last one sent keeps its refresh token usable for that renewal.
        self._last_sent: Credential | None = None

    def secrets(self) -> Iterable[str]:
        return tuple(s for s in (self._password, self._access_token, self._refresh_token) if s)

    def apply(self, request: Request, credential: Credential) -> Request:
        self._last_sent = credential
        return request.with_headers({"Authorization": f"Bearer {credential.token}", **self._headers})

    def login(self, previous: Credential | None) -> Op[Credential]:
        known = previous or self._last_sent
        if known is None and self._access_token:
            # A token from the connection is used as is until the cell rejects it.
            return Credential(token=self._access_token, refresh_token=self._refresh_token)
        refused: ExportAuthError | None = None
        # The newest refresh token first, then the connection's own (if it is another one).
        candidates = [known.refresh_token if known else None, self._refresh_token]
        for refresh in dict.fromkeys(t for t in candidates if t):
            what = "renew the access token with the refresh token"
            resp = yield self._token_request({"grant_type": "refresh_token", "refresh_token": refresh}, what)
            try:
                check(resp, what, token_endpoint=True)
            except ExportAuthError as exc:
                if resp.status >= 500:
                    raise
                refused = exc
                continue
            log.info("%s: access token renewed with the refresh token.", VENDOR)
            return self._adopt(parse_token(resp.json_object(VENDOR), what))
        if self._username and self._password:
            what = "log in with username and password"
            form = {"grant_type": "password", "username": self._username, "password": self._password}
            resp = yield self._token_request(form, what)
            check(resp, what, token_endpoint=True)
            return self._adopt(parse_token(resp.json_object(VENDOR), what))
        self._no_way_to_renew(refused)

    def _adopt(self, credential: Credential) -> Credential:
        # Cells may issue tokens shorter-lived than the usual margin (expires_in is 1-3600 s):
        # renew those at three quarters of their life instead of before every call.
        if credential.expires_at is not None:
            lifetime = max(0.0, credential.expires_at - time.time())
            self.refresh_margin = min(PersoniumAuth.refresh_margin, lifetime / 4)
        return credential

    @staticmethod
    def _no_way_to_renew(refused: ExportAuthError | None) -> NoReturn:
        reason = f" ({refused})" if refused else ""
        raise ExportAuthError(
            VENDOR,
            "renew the access token",
            message="the access token was rejected and could not be renewed"
            f"{reason}; put a new access_token/refresh_token, or a username and password, "
            "in the connection",
        )

    def _token_request(self, form: Mapping[str, str], what: str) -> Request:
        return Request(
            "POST",
            "__token",
            what,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                **self._headers,
            },
            body=urlencode(form).encode(),
            authenticate=False,
        )


@dataclass(frozen=True)
class PersoniumSettings:
    """What a Personium connection (and the wait's ``request_key``) says; secrets never printed."""

    #: The cell URL.
    base_url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    #: ``X-Personium-RequestKey``: the ``request_key`` hook param, else the connection's extra.
    request_key: str | None = None

    def authenticator(self, vendor: str) -> Authenticator:
        """Tokens from the cell (its messages name Personium already)."""
        return PersoniumAuth(
            username=self.username,
            password=self.password,
            access_token=self.access_token,
            refresh_token=self.refresh_token,
            request_key=self.request_key,
        )


# ---- the hook ----------------------------------------------------------------------------------


class PersoniumHook(ExportHook):
    """A Personium cell's export (snapshot) and import jobs.

    Connection: host = cell URL; login + password, or extras ``access_token`` (and
    ``refresh_token``); optional extra ``request_key``. ``hook_params``: ``job`` (``"export"``,
    default, or ``"import"``), ``started_after`` (ISO time: import runs that started earlier are
    not ours), ``request_key`` (overrides the extra). The export id is the snapshot name
    (without ``.zip``).
    """

    conn_type = "personium"
    hook_name = "Personium"
    vendor = VENDOR
    default_conn_name = "personium_default"
    secret_extras = ("access_token", "refresh_token")

    def __init__(self, conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id, **kwargs)
        #: The wait's own options (``hook_params``), checked here, before any call.
        self.job_options = parse_options(self.options)
        self._observed = set(self.job_options.observed_imports)
        self._announced = False

    # ---- connection ----------------------------------------------------------------------------

    def read_settings(self, conn: Connection) -> PersoniumSettings:
        access = self.extra(conn, "access_token")
        refresh = self.extra(conn, "refresh_token")
        if conn.password and not conn.login:
            raise ExportConfigError(
                f"Connection {self.conn_id!r} (Personium) has a password but no username."
            )
        if not (conn.login and conn.password) and not access and not refresh:
            raise ExportConfigError(
                f"Connection {self.conn_id!r} (Personium) needs a username and password, or an "
                "access_token (and refresh_token) in the extras."
            )
        request_key = self.job_options.request_key
        if request_key is None and self.extra(conn, "request_key"):
            request_key = validate_request_key(self.extra(conn, "request_key"))
        host = self.require(conn.host, "cell URL (host field)")
        if not host.startswith(("http://", "https://")):
            host = "https://" + host
        parts = urlsplit(host)
        if conn.port and parts.port is None:
            parts = parts._replace(netloc=f"{parts.netloc}:{conn.port}")
        return PersoniumSettings(
            base_url=urlunsplit(parts),
            username=conn.login or None,
            password=conn.password or None,
            access_token=access,
            refresh_token=refresh,
            request_key=request_key,
        )

    def trigger_hook_params(self) -> dict[str, Any]:
        params = super().trigger_hook_params()
        if self._observed:
            # The triggerer's hook must know the import was already seen begun.
            params["observed_imports"] = sorted(self._observed)
        return params

    # ---- requests ------------------------------------------------------------------------------

    # The request key is not set here: the authenticator puts it on every call to the cell.

    def _get(self, path: str, what: str, accept: str = "application/json") -> Request:
        return Request("GET", path, what, headers={"Accept": accept})

    def _propfind(self, path: str, what: str) -> Request:
        headers = {"Accept": "application/xml", "Depth": "0", "Content-Type": "application/xml"}
        return Request("PROPFIND", path, what, headers=headers, body=PROPFIND_ALLPROP)

    def _announce(self, name: str) -> None:
        if not self._announced:
            self._announced = True
            job = self.job_options.job
            log.info(
                "%s: waiting on %s for the %s of snapshot %r.", VENDOR, self.job_options.endpoint, job, name
            )

    # ---- operations ----------------------------------------------------------------------------

    def start_op(self, payload: Mapping[str, Any]) -> Op[str]:
        unknown = sorted(set(payload) - {"Name"})
        if unknown:
            raise ExportConfigError(f"{VENDOR}: the payload takes only 'Name', not {unknown}.")
        job = self.job_options.job
        if job == "import" and not payload.get("Name"):
            raise ExportConfigError(
                f"{VENDOR}: an import needs the payload's 'Name' (the snapshot to import)."
            )
        name = validate_snapshot_name(payload.get("Name") or default_snapshot_name())
        if job == "export" and payload.get("Name"):
            # A failed export leaves {Name}.error behind; a new export of that name would
            # look failed at once, so refuse instead of guessing.
            stale = yield from self._error_file(name)
            if stale is not None:
                raise ExportConfigError(
                    f"{VENDOR}: __snapshot/{name}.error from an earlier failed export exists "
                    f"({error_details(stale)[1] or 'no message'}); delete it or choose another Name."
                )
        what = f"start the {job} of snapshot {name!r}"
        resp = yield json_request("POST", f"__{job}", what, {"Name": name}, idempotent=False)
        check(resp, what)
        check_start(resp, job)
        log.info("%s accepted the %s of snapshot %r (HTTP %s).", VENDOR, job, name, resp.status)
        return name

    def status_op(self, export_id: str) -> Op[ExportStatus]:
        name = validate_snapshot_name(export_id)
        self._announce(name)
        if self.job_options.job == "import":
            return (yield from self._import_status(name))
        return (yield from self._export_status(name))

    def _report(self, job: str, what: str) -> Op[JobReport]:
        resp = yield self._get(f"__{job}", what)
        check(resp, what)
        return read_report(resp.json_object(VENDOR), job)

    def _import_status(self, name: str) -> Op[ExportStatus]:
        report = yield from self._report("import", f"status of import {name!r}")
        status, begun = classify_import(
            report, name, started_after=self.job_options.started_after, observed=name in self._observed
        )
        if begun:
            self._observed.add(name)
        return status

    def _export_status(self, name: str) -> Op[ExportStatus]:
        report = yield from self._report("export", f"status of export {name!r}")
        snapshot = error = None
        if report.vendor_state == READY:
            snapshot = yield from self._snapshot(f"{name}.zip")
            if snapshot is None or snapshot.size == 0:
                error = yield from self._error_file(name)
        return classify_export(report, name, snapshot=snapshot, error_file=error)

    def _snapshot(self, file_name: str) -> Op[SnapshotFile | None]:
        what = f"look for {file_name} in the snapshot area"
        resp = yield self._propfind(f"__snapshot/{path_segment(file_name)}", what)
        if resp.status == 404:
            return None
        check(resp, what)
        return SnapshotFile(file_name, propfind_size(resp.body))

    def _error_file(self, name: str) -> Op[Mapping[str, Any] | None]:
        what = f"read {name}.error in the snapshot area"
        resp = yield self._get(f"__snapshot/{path_segment(name + '.error')}", what)
        if resp.status == 404:
            return None
        check(resp, what)
        try:
            return resp.json_object(VENDOR)
        except ExportResponseError:
            return {"message": {"value": resp.snippet(500)}}

    def download_op(self, export_id: str) -> Op[Request]:
        name = validate_snapshot_name(export_id)
        status = yield from self._export_status(name)
        if (
            not status.is_success
            and status.vendor_state == RUNNING["export"]
            and status.state is ExportState.PENDING
        ):
            # Another export runs now; a cell runs one at a time, so a {name}.zip with content
            # is an earlier, finished one (what a watcher delivers while the next export runs).
            earlier = yield from self._snapshot(f"{name}.zip")
            if earlier is not None and earlier.size:
                return self._get(
                    f"__snapshot/{path_segment(name + '.zip')}", f"download snapshot {name}.zip", "*/*"
                )
        if not status.is_success:
            raise ExportRequestError(
                VENDOR, f"download snapshot {name}.zip", message=f"not available ({status.describe()})"
            )
        return self._get(f"__snapshot/{path_segment(name + '.zip')}", f"download snapshot {name}.zip", "*/*")

    def log_op(self, export_id: str) -> Op[str]:
        status = yield from self.status_op(export_id)
        # Personium keeps no job log: the status answer (with the .error file) is the record.
        return f"{status.describe()}\n{json.dumps(dict(status.raw), indent=2)}"

    def available_op(self) -> Op[list[AvailableExport]]:
        """The finished snapshots in the cell's snapshot area (``PROPFIND {CellURL}__snapshot``,
        Depth 1), without the one an export running now is writing (``GET __export`` first)."""
        report = yield from self._report("export", "read the cell's export status")
        running = report.name if report.vendor_state == RUNNING["export"] else None
        what = "list the snapshot area"
        headers = {"Accept": "application/xml", "Depth": "1", "Content-Type": "application/xml"}
        resp = yield Request("PROPFIND", "__snapshot", what, headers=headers, body=PROPFIND_ALLPROP)
        check(resp, what)
        return parse_snapshot_listing(resp.body, running)

    def check_op(self) -> Op[str]:
        report = yield from self._report("export", "read the cell's export status")
        return f"Connected to the {VENDOR} cell: __export says {report.vendor_state!r}."
