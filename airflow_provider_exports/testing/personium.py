"""Personium cell emulator: the ``__token`` endpoint (password and refresh-token grants, tokens
that expire), ``__export`` / ``__import`` with scripted status answers, and the snapshot area
(``PROPFIND`` / ``GET`` / ``DELETE``) where an export leaves ``{Name}.zip`` or ``{Name}.error``.

One server can hold several cells, path-based as on a Personium unit
(``http://127.0.0.1:port/<cell>/...``), each with its own tokens, snapshot area and jobs; the
first cell is the default one that the single-cell attributes (``emulator.snapshots``...) show.

It behaves like personium-core where the docs are silent: ``__export`` knows only ``ready`` and
``exportation in progress``; a failed import keeps the cell in ``import failed`` state (and
``GET __import`` answers with that failure) until an import succeeds.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from email.utils import formatdate
from typing import Any, ClassVar
from xml.sax.saxutils import escape

from aiohttp import web

from airflow_provider_exports.testing.emulator import (
    Emulator,
    Export,
    Step,
    Target,
    TokenBook,
    bearer,
    json_error,
    make_zip,
    serve_bytes,
)

NAME = re.compile(r"[A-Za-z0-9_-]{1,192}")
#: Cell names (personium-core's Cell Name pattern).
CELL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
REQUEST_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")
COMMON_HEADERS = {"Access-Control-Allow-Origin": "*", "X-Personium-Version": "1.7.21"}


def iso(epoch: float) -> str:
    """Personium's time format: ``2017-02-13T09:00:00.000Z``."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch * 1000) % 1000:03d}Z"


def message_doc(code: str, message: str) -> dict[str, Any]:
    """Personium's message format (API errors, ``.error`` files, import failures)."""
    return {"code": code, "message": {"lang": "en", "value": message}}


def error(status: int, code: str, message: str) -> web.Response:
    return json_error(status, message_doc(code, message))


def token_error(status: int, error_code: str, code: str, message: str) -> web.Response:
    """The token endpoint's OAuth error body."""
    return json_error(status, {"error": error_code, "error_description": f"[{code}] - {message}"})


def snapshot_zip(cell: str, name: str) -> bytes:
    """A small archive laid out like a Personium cell snapshot."""
    manifest = {"export_version": 2, "unit_url": "https://unit.example/", "create_date": 1486462510467}
    rows = "\n".join(json.dumps({"_type": "Account", "_id": f"{name}-{n}", "_source": {}}) for n in range(40))
    return make_zip(
        {
            "00_meta/00_manifest.json": json.dumps(manifest),
            "00_meta/01_cell.json": json.dumps({"_source": {"s": {"Name": cell}}}),
            "10_odata/Account.pjson": rows,
            "20_webdav/__/index.html": f"<html>{name}</html>",
        }
    )


#: The 505 page's sample times, for files whose time the emulator was not told.
SAMPLE_CREATED = "2017-02-15T01:52:34.635+0000"
SAMPLE_MODIFIED = "Wed, 15 Feb 2017 01:52:34 GMT"


def creation_date(epoch: float) -> str:
    """``creationdate`` as the 505 page writes it: ``2017-02-15T01:52:34.635+0000``."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch * 1000) % 1000:03d}+0000"


def http_date(epoch: float) -> str:
    """``getlastmodified`` as the 505 page writes it: ``Wed, 15 Feb 2017 01:52:34 GMT``."""
    return formatdate(epoch, usegmt=True)


def multistatus(
    entries: list[tuple[str, bytes, str]],
    times: dict[str, tuple[str, str]] | None = None,
    collection: str | None = None,
) -> str:
    """A PROPFIND answer like the one on the 505 page: ``times`` gives an href's creation and
    modification time (else the page's sample times); ``collection`` (the ``__snapshot`` URL)
    comes first, as the collection itself, when it is asked for (Depth 0 or 1)."""
    parts = []
    if collection is not None:
        parts.append(
            f"<response><href>{escape(collection)}</href><propstat><prop>"
            f"<creationdate>{SAMPLE_CREATED}</creationdate>"
            f"<getlastmodified>{SAMPLE_MODIFIED}</getlastmodified>"
            '<resourcetype><collection/></resourcetype><acl xmlns:p="urn:x-personium:xmlns"/>'
            "</prop><status>HTTP/1.1 200 OK</status></propstat></response>"
        )
    for href, data, content_type in entries:
        created, modified = (times or {}).get(href, (SAMPLE_CREATED, SAMPLE_MODIFIED))
        parts.append(
            f"<response><href>{escape(href)}</href><propstat><prop>"
            f"<creationdate>{created}</creationdate>"
            f"<getcontentlength>{len(data)}</getcontentlength>"
            f"<getcontenttype>{content_type}</getcontenttype>"
            f"<getlastmodified>{modified}</getlastmodified>"
            '<resourcetype/><acl xmlns:p="urn:x-personium:xmlns"/>'
            "</prop><status>HTTP/1.1 200 OK</status></propstat></response>"
        )
    return '<multistatus xmlns="DAV:">' + "".join(parts) + "</multistatus>"


class Cell:
    """One cell's state: its tokens, snapshot area, and export and import jobs.

    Tokens are per cell, as in Personium: a token one cell issued is refused by another.
    """

    def __init__(self, name: str, *, token_ttl: float, refresh_ttl: float) -> None:
        if not CELL_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a Personium cell name")
        self.name = name
        self.tokens = TokenBook(token_ttl)
        self.refresh_tokens = TokenBook(refresh_ttl)
        #: (grant_type, status polls served before it), in order.
        self.grants: list[tuple[str, int]] = []
        self.status_polls = 0
        #: File name -> bytes: the cell's snapshot area.
        self.snapshots: dict[str, bytes] = {}
        #: {Name}.zip directories created by a POST __export (they exist before the file does).
        self.reserved: set[str] = set()
        self.imports: dict[str, Export] = {}
        self.current_export: Export | None = None
        self.current_import: Export | None = None
        #: The import failure the cell is stuck in (``GET __import`` answers it), if any.
        self.import_error: dict[str, Any] | None = None


class _OfDefaultCell:
    """An attribute of the default cell, so single-cell code keeps writing ``emulator.snapshots``."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, emulator: PersoniumEmulator | None, owner: type | None = None) -> Any:
        if emulator is None:
            return self
        return getattr(emulator.default_cell, self.name)

    def __set__(self, emulator: PersoniumEmulator, value: Any) -> None:
        setattr(emulator.default_cell, self.name, value)


class PersoniumEmulator(Emulator):
    """Personium cells at ``{url}/{cell}/``, each with an account that holds the root privilege.

    ``cell`` is the default cell; ``cells`` names more cells to create at once, and
    :meth:`add_cell` adds one while the server runs. Every cell has the same account
    (``username``/``password``) but its own tokens, snapshot area and jobs. The single-cell
    attributes (``tokens``, ``snapshots``, ``grants``, ``current_export``...) and methods without
    a ``cell`` argument are those of the default cell.

    Export scripts: ``exportation in progress`` steps, then ``ready``; a ``ready`` step with a
    ``code`` ends the export in failure (``{Name}.error``), without one in success
    (``{Name}.zip``). ``ready`` steps before the first running step are the moment between the
    202 and the export's start. Import scripts use ``importation in progress``, ``ready`` and
    ``import failed`` (with ``code``/``message``).

    ``expire_tokens_on_poll=n`` makes a cell's access tokens expire when the n-th status request
    (``GET __export`` or ``GET __import``) to that cell arrives, as a server-side expiry mid-wait
    would.
    """

    vendor = "personium"
    default_script: ClassVar[list[Step]] = [
        Step("ready"),
        Step("exportation in progress", 0),
        Step("exportation in progress", 45),
        Step("exportation in progress", 100),
        Step("ready"),
    ]
    default_import_script: ClassVar[list[Step]] = [
        Step("ready"),
        Step("importation in progress", 0),
        Step("importation in progress", 81),
        Step("ready"),
    ]

    neutral_states: ClassVar[Mapping[str, str]] = {
        "pending": "ready",
        "running": "exportation in progress",
        "succeeded": "ready",
        "failed": "ready",
    }
    neutral_import_states: ClassVar[Mapping[str, str]] = {
        "pending": "ready",
        "running": "importation in progress",
        "succeeded": "ready",
        "failed": "import failed",
    }
    #: The code a neutral ``failed`` step without one gets (a failed snapshot file creation).
    failure_code = "PR500-SV-0001"
    fault_targets: ClassVar[Mapping[str, Target | str]] = {
        "login": Target("POST", "/[^/]+/__token"),
        "start": Target("POST", "/[^/]+/__(export|import)"),
        "status": Target("GET", "/[^/]+/__(export|import)"),
        "download": Target("GET", "/[^/]+/__snapshot/[^/]+\\.zip"),
        "log": "Personium keeps no export log; the log task reads the export's status (on='status')",
    }

    def vendor_steps(self, script: Iterable[Step], job: str = "export") -> list[Step]:
        """Neutral words in Personium's states: a ``failed`` export is a ``ready`` with a code, and
        an export only finishes after it ran, so a script that ends before any ``running`` step
        gets one."""
        words = list(script)
        table = self.neutral_import_states if job == "import" else self.neutral_states
        out: list[Step] = []
        ran = False
        for step in words:
            word = step.state
            if word in ("succeeded", "failed") and not ran:
                out.append(Step(table["running"], 0))
            if word == "failed" and job == "export":
                step = replace(step, code=step.code or self.failure_code)
            if word in table:
                step = replace(step, state=table[word])
            ran = ran or step.state in (self.neutral_states["running"], self.neutral_import_states["running"])
            out.append(step)
        return super().vendor_steps(out, job)

    tokens = _OfDefaultCell()
    refresh_tokens = _OfDefaultCell()
    grants = _OfDefaultCell()
    status_polls = _OfDefaultCell()
    snapshots = _OfDefaultCell()
    reserved = _OfDefaultCell()
    imports = _OfDefaultCell()
    current_export = _OfDefaultCell()
    current_import = _OfDefaultCell()
    import_error = _OfDefaultCell()

    def __init__(
        self,
        *,
        cell: str = "cell1",
        cells: Iterable[str] = (),
        username: str = "airflow-root",
        password: str = "pw-Personium-0123456789",
        token_ttl: float = 3600.0,
        refresh_ttl: float = 86400.0,
        expire_tokens_on_poll: int | None = None,
        **kw: Any,
    ) -> None:
        self.cell = cell
        self.username = username
        self.password = password
        self.token_ttl = token_ttl
        self.refresh_ttl = refresh_ttl
        self.expire_tokens_on_poll = expire_tokens_on_poll
        self.cells: dict[str, Cell] = {}
        #: (cell, file name) -> (creationdate, getlastmodified), for files given a time.
        self.snapshot_times: dict[tuple[str, str], tuple[str, str]] = {}
        for name in (cell, *cells):
            self.cells.setdefault(name, Cell(name, token_ttl=token_ttl, refresh_ttl=refresh_ttl))
        super().__init__(**kw)

    # ---- cells ---------------------------------------------------------------------------------

    @property
    def default_cell(self) -> Cell:
        return self.cells[self.cell]

    def add_cell(self, name: str) -> Cell:
        """Create cell ``name`` (or return it if it exists); it is served at once."""
        with self.lock:
            found = self.cells.get(name)
            if found is None:
                found = self.cells[name] = Cell(name, token_ttl=self.token_ttl, refresh_ttl=self.refresh_ttl)
            return found

    def _pick(self, cell: str | None) -> Cell:
        return self.default_cell if cell is None else self.cells[cell]

    def cell_url_of(self, cell: str) -> str:
        """The URL of a cell (with the trailing ``/`` a cell URL has)."""
        return f"{self.url}/{cell}/"

    @property
    def cell_url(self) -> str:
        return self.cell_url_of(self.cell)

    def connection(self, cell: str | None = None) -> dict[str, Any]:
        return {
            "conn_type": "personium",
            "host": self.cell_url_of(self._pick(cell).name),
            "login": self.username,
            "password": self.password,
        }

    def token_connection(self, cell: str | None = None) -> dict[str, Any]:
        """A connection holding an issued access and refresh token (no password)."""
        target = self._pick(cell)
        access, _ = target.tokens.issue()
        refresh, _ = target.refresh_tokens.issue()
        return {
            "conn_type": "personium",
            "host": self.cell_url_of(target.name),
            "extra": {"access_token": access, "refresh_token": refresh},
        }

    def secrets(self) -> set[str]:
        """The password and every token any cell issued."""
        with self.lock:
            cells = list(self.cells.values())
        found = {self.password}
        for each in cells:
            found.update(each.tokens.issued_tokens())
            found.update(each.refresh_tokens.issued_tokens())
        return found

    def expire_credentials(self) -> None:
        """Access tokens of every cell expire; refresh tokens stay valid (24 hours by default)."""
        with self.lock:
            cells = list(self.cells.values())
        for each in cells:
            each.tokens.expire_all()

    # ---- scripting helpers ---------------------------------------------------------------------

    def add_snapshot(self, name: str, content: bytes | None = None, *, cell: str | None = None) -> bytes:
        """Put ``{name}.zip`` in a cell's snapshot area (as an earlier export or an upload would)."""
        target = self._pick(cell)
        data = content if content is not None else snapshot_zip(target.name, name)
        target.snapshots[f"{name}.zip"] = data
        return data

    def appear_snapshot(self, name: str, content: bytes | None = None, *, cell: str | None = None) -> bytes:
        """A finished ``{name}.zip`` appears in a cell's snapshot area now, as when another
        process's export ends: listed (PROPFIND Depth 1) with this moment as its creation and
        modification time. Returns its bytes."""
        target = self._pick(cell)
        if not NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a snapshot name")
        data = content if content is not None else snapshot_zip(target.name, name)
        now = time.time()
        with self.lock:
            target.snapshots[f"{name}.zip"] = data
            self.snapshot_times[(target.name, f"{name}.zip")] = (creation_date(now), http_date(now))
        return data

    def _times(self, cell: Cell) -> dict[str, tuple[str, str]]:
        """href -> (creationdate, getlastmodified) of the files whose time is known."""
        base = f"{self.cell_url_of(cell.name)}__snapshot/"
        with self.lock:
            return {base + f: t for (c, f), t in self.snapshot_times.items() if c == cell.name}

    def begin_export(
        self, name: str, *items: str | Step, cell: str | None = None, content: bytes | None = None
    ) -> Export:
        """Make ``name`` the cell's current export, as if its ``POST __export`` had been accepted,
        with the given script (``default_script`` without one). It leaves ``content`` (a
        snapshot archive by default) in the snapshot area when its script ends in success."""
        target = self._pick(cell)
        if not NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a snapshot name")
        export = self.add_export(name, *(items or self.default_script), file_name=f"{name}.zip")
        export.content = content if content is not None else snapshot_zip(target.name, name)
        export.extra["ran"] = False
        target.reserved.add(f"{name}.zip")
        target.current_export = export
        return export

    def fail_imports_as(
        self, name: str, started_at: float, code: str, message: str, *, cell: str | None = None
    ) -> None:
        """Leave a cell in ``import failed`` state from an earlier import of ``name``."""
        self._pick(cell).import_error = {
            "status": "import failed",
            "started_at": iso(started_at),
            "progress": "40%",
            "importation_name": name,
            "message": message_doc(code, message),
        }

    # ---- routes --------------------------------------------------------------------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        base = "/{cell}"
        router.add_post(f"{base}/__token", self._token)
        router.add_get(f"{base}/__export", self._export_status)
        router.add_post(f"{base}/__export", self._export_start)
        router.add_get(f"{base}/__import", self._import_status)
        router.add_post(f"{base}/__import", self._import_start)
        router.add_route("PROPFIND", f"{base}/__snapshot", self._propfind_area)
        router.add_route("PROPFIND", f"{base}/__snapshot/{{file}}", self._propfind_file)
        router.add_get(f"{base}/__snapshot/{{file}}", self._get_file)
        router.add_delete(f"{base}/__snapshot/{{file}}", self._delete_file)

    def _cell_of(self, request: web.Request) -> Cell | web.Response:
        name = request.match_info["cell"]
        with self.lock:
            found = self.cells.get(name)
        if found is None:
            # The emulator's wording; a unit answers 404 for a cell it does not have.
            return error(404, "PR404-EMU-0001", f"Cell not found. [{name}].")
        return found

    def _checked(self, request: web.Request, cell: Cell) -> web.Response | None:
        """Personium's checks before any resource: request key format, then the token."""
        key = request.headers.get("X-Personium-RequestKey")
        if key is not None and not REQUEST_KEY.fullmatch(key):
            return error(400, "PR400-EV-0002", "Request header is invalid [X-Personium-RequestKey].")
        token = bearer(request)
        if token is None:
            return error(401, "PR401-AU-0001", "Authorization required.")
        if not cell.tokens.valid(token):
            return error(401, "PR401-AU-0002", "Access token expired.")
        return None

    def _cell_checked(self, request: web.Request) -> Cell | web.Response:
        """The request's cell, or the answer refusing the request."""
        cell = self._cell_of(request)
        if isinstance(cell, web.Response):
            return cell
        return self._checked(request, cell) or cell

    # ---- token endpoint ------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        cell = self._cell_of(request)
        if isinstance(cell, web.Response):
            return cell
        key = request.headers.get("X-Personium-RequestKey")
        if key is not None and not REQUEST_KEY.fullmatch(key):
            return error(400, "PR400-EV-0002", "Request header is invalid [X-Personium-RequestKey].")
        form = await request.post()
        grant = str(form.get("grant_type", ""))
        cell.grants.append((grant, cell.status_polls))
        extra: dict[str, Any] = {}
        if grant == "password":
            if form.get("username") != self.username or form.get("password") != self.password:
                return token_error(400, "invalid_grant", "PR400-AN-0017", "Authentication failed.")
            extra = {"last_authenticated": int(time.time() * 1000), "failed_count": 0}
        elif grant == "refresh_token":
            if not cell.refresh_tokens.valid(str(form.get("refresh_token", ""))):
                return token_error(400, "invalid_grant", "PR400-AN-0010", "Token expired or invalid.")
        else:
            return token_error(400, "unsupported_grant_type", "PR400-AN-0001", "Unsupported grant type.")
        access, ttl = cell.tokens.issue()
        refresh, refresh_ttl = cell.refresh_tokens.issue()
        body = {
            "access_token": access,
            "refresh_token_expires_in": refresh_ttl,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "scope": "root",
            "expires_in": ttl,
            **extra,
        }
        return web.json_response(body, headers=COMMON_HEADERS)

    # ---- export --------------------------------------------------------------------------------

    async def _export_start(self, request: web.Request) -> web.Response:
        cell = self._cell_checked(request)
        if isinstance(cell, web.Response):
            return cell
        raw = await request.read()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return error(400, "PR400-OD-0001", "JSON parse error.")
        name = body.get("Name") if isinstance(body, dict) else None
        if name is None:
            name = cell.name + datetime.now(timezone.utc).strftime("_%Y%m%d_%H%M%S")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            return error(400, "PR400-OD-0006", "request body format error. field [Name]")
        if f"{name}.zip" in cell.snapshots or f"{name}.zip" in cell.reserved:
            return error(409, "PR409-DV-0002", f"File [{name}.zip] already exists.")
        cell.reserved.add(f"{name}.zip")
        export = self.new_export(name, payload=body, file_name=f"{name}.zip")
        export.content = snapshot_zip(cell.name, name)
        export.extra["ran"] = False
        cell.current_export = export
        location = self.cell_url_of(cell.name) + "__export"
        return web.Response(status=202, headers={**COMMON_HEADERS, "Location": location})

    def _poll(self, cell: Cell) -> None:
        cell.status_polls += 1
        if self.expire_tokens_on_poll is not None and cell.status_polls == self.expire_tokens_on_poll:
            cell.tokens.expire_all()

    async def _export_status(self, request: web.Request) -> web.Response:
        cell = self._cell_of(request)
        if isinstance(cell, web.Response):
            return cell
        self._poll(cell)
        if denied := self._checked(request, cell):
            return denied
        export = cell.current_export
        if export is None:
            return web.json_response({"status": "ready"}, headers=COMMON_HEADERS)
        step = export.advance()
        if step.state == "exportation in progress":
            export.extra["ran"] = True
            body: dict[str, Any] = {
                "status": step.state,
                "started_at": iso(export.created_at),
                "progress": f"{step.progress or 0}%",
                "exportation_name": export.export_id,
            }
        else:
            if step.state == "ready" and export.extra.get("ran"):
                self._finish_export(cell, export, step)
            body = {"status": step.state}
        return web.json_response(body, headers=COMMON_HEADERS)

    @staticmethod
    def _finish_export(cell: Cell, export: Export, step: Step) -> None:
        """Like SnapshotFileExportRunner: a .zip on success; on failure the .zip directory is
        removed and a .error file written."""
        if export.extra.get("finished"):
            return
        export.extra["finished"] = True
        name = export.export_id
        cell.reserved.discard(f"{name}.zip")
        if step.code:
            doc = message_doc(step.code, step.message or "")
            cell.snapshots[f"{name}.error"] = json.dumps(doc).encode()
        else:
            cell.snapshots[f"{name}.zip"] = export.content

    # ---- import --------------------------------------------------------------------------------

    async def _import_start(self, request: web.Request) -> web.Response:
        cell = self._cell_checked(request)
        if isinstance(cell, web.Response):
            return cell
        try:
            body = await request.json()
        except ValueError:
            return error(400, "PR400-OD-0001", "JSON parse error.")
        name = body.get("Name") if isinstance(body, dict) else None
        if name is None:
            return error(400, "PR400-OD-0009", "[Name] is required.")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            return error(400, "PR400-OD-0006", "request body format error. field [Name]")
        if f"{name}.zip" not in cell.snapshots:
            return error(404, "PR404-DV-0001", f"Resource not found. [{name}.zip].")
        with self.lock:
            script = self.scripts.popleft() if self.scripts else list(self.default_import_script)
        script = self.vendor_steps(script, job="import")
        job = Export(export_id=name, script=script, payload=body, file_name=f"{name}.zip")
        cell.imports[name] = job
        cell.current_import = job
        location = self.cell_url_of(cell.name) + "__import"
        return web.Response(status=202, headers={**COMMON_HEADERS, "Location": location})

    async def _import_status(self, request: web.Request) -> web.Response:
        cell = self._cell_of(request)
        if isinstance(cell, web.Response):
            return cell
        self._poll(cell)
        if denied := self._checked(request, cell):
            return denied
        job = cell.current_import
        body: dict[str, Any] = {"status": "ready"}
        if job is not None:
            step = job.advance()
            running = {
                "started_at": iso(job.created_at),
                "progress": f"{step.progress or 0}%",
                "importation_name": job.export_id,
            }
            if step.state == "import failed" and not job.extra.get("finished"):
                job.extra["finished"] = True
                doc = message_doc(step.code or "PR500-SV-0000", step.message or "")
                cell.import_error = {"status": step.state, **running, "message": doc}
            elif step.state == "ready" and job.extra.get("ran") and not job.extra.get("finished"):
                # Only a successful import returns the cell to normal.
                job.extra["finished"] = True
                cell.import_error = None
            elif step.state == "importation in progress":
                job.extra["ran"] = True
                body = {"status": step.state, **running}
            elif step.state not in ("ready", "import failed"):
                body = {"status": step.state}
        if cell.import_error is not None:
            # A cell in 'import failed' state answers with the error file, whatever runs now.
            body = cell.import_error
        return web.json_response(body, headers=COMMON_HEADERS)

    # ---- snapshot area -------------------------------------------------------------------------

    def _depth(self, request: web.Request) -> str | web.Response:
        depth = request.headers.get("Depth")
        if depth is None:
            return error(400, "PR400-DV-0010", "Header Depth is required.")
        if depth not in ("0", "1"):
            return error(400, "PR400-DV-0003", f"Invalid depth header value:[{depth}].")
        return depth

    def _entry(self, cell: Cell, file_name: str) -> tuple[str, bytes, str]:
        kind = "application/json" if file_name.endswith(".error") else "application/zip"
        return f"{self.cell_url_of(cell.name)}__snapshot/{file_name}", cell.snapshots[file_name], kind

    async def _propfind_area(self, request: web.Request) -> web.Response:
        cell = self._cell_checked(request)
        if isinstance(cell, web.Response):
            return cell
        depth = self._depth(request)
        if isinstance(depth, web.Response):
            return depth
        files = sorted(cell.snapshots) if depth == "1" else []
        area = f"{self.cell_url_of(cell.name)}__snapshot"
        xml = multistatus([self._entry(cell, f) for f in files], self._times(cell), collection=area)
        return web.Response(status=207, text=xml, content_type="application/xml", headers=COMMON_HEADERS)

    def _missing(self, cell: Cell, file_name: str) -> web.Response:
        url = f"{self.cell_url_of(cell.name)}__snapshot/{file_name}"
        return error(404, "PR404-DV-0001", f"Resource not found. [{url}].")

    async def _propfind_file(self, request: web.Request) -> web.Response:
        cell = self._cell_checked(request)
        if isinstance(cell, web.Response):
            return cell
        depth = self._depth(request)
        if isinstance(depth, web.Response):
            return depth
        file_name = request.match_info["file"]
        if file_name not in cell.snapshots:
            return self._missing(cell, file_name)
        xml = multistatus([self._entry(cell, file_name)], self._times(cell))
        return web.Response(status=207, text=xml, content_type="application/xml", headers=COMMON_HEADERS)

    async def _get_file(self, request: web.Request) -> web.StreamResponse:
        cell = self._cell_checked(request)
        if isinstance(cell, web.Response):
            return cell
        file_name = request.match_info["file"]
        if file_name not in cell.snapshots:
            return self._missing(cell, file_name)
        _, data, kind = self._entry(cell, file_name)
        return await serve_bytes(request, data, content_type=kind)

    async def _delete_file(self, request: web.Request) -> web.Response:
        cell = self._cell_checked(request)
        if isinstance(cell, web.Response):
            return cell
        file_name = request.match_info["file"]
        if cell.snapshots.pop(file_name, None) is None:
            return self._missing(cell, file_name)
        return web.Response(status=204, headers=COMMON_HEADERS)
