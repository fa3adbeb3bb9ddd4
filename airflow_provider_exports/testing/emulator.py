"""A framework for vendor emulators: real HTTP servers on loopback with scripted export state
machines and fault injection.

Each vendor emulator subclasses :class:`Emulator` and adds its routes. An emulator runs in a
background thread (``with OracleCommerceEmulator() as emu: ...``) or as its own process
(``python -m airflow_provider_exports.testing serve oracle_commerce``). Tests script exports and
faults either in Python or, across processes, through the ``/_emulator/`` admin endpoints.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
import secrets
import ssl
import threading
import time
import zipfile
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TRUNCATE_AFTER = web.RequestKey("truncate_after", int)


#: Vendor-neutral words a script may use instead of the vendor's states; each emulator maps
#: them to its vendor's (``Emulator.neutral_states``).
NEUTRAL_STATES = ("pending", "running", "succeeded", "failed", "cancelled", "expired")


@dataclass(frozen=True)
class Step:
    """One observable state of a scripted export.

    ``state`` is a vendor-neutral word (``pending``, ``running``, ``succeeded``, ``failed``, and
    where the vendor has them ``cancelled``, ``expired``) or the vendor's own state string.
    ``progress`` is a percentage; ``message`` and ``code`` are a failure's.
    """

    state: str
    progress: int | None = None
    message: str | None = None
    code: str | None = None


def steps(*items: str | Step | Mapping[str, Any]) -> list[Step]:
    """Build a script from strings (vendor states), Steps or dicts."""
    out = []
    for item in items:
        if isinstance(item, Step):
            out.append(item)
        elif isinstance(item, str):
            out.append(Step(item))
        else:
            out.append(Step(**dict(item)))
    return out


@dataclass
class Export:
    """An export the emulator started: its script, how often it was polled, its file and log."""

    export_id: str
    script: list[Step]
    payload: Any = None
    polls: int = 0
    created_at: float = field(default_factory=time.time)
    content: bytes = b""
    log: bytes = b""
    file_name: str = "export.zip"
    cancelled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def step(self) -> Step:
        """The current step (the last one sticks)."""
        return self.script[min(self.polls, len(self.script) - 1)]

    def advance(self) -> Step:
        """The step for this poll; the next poll sees the next step."""
        current = self.step
        self.polls += 1
        return current


#: What a fault's ``on=`` can aim at: the vendor's request of that meaning.
FAULT_TARGETS = ("login", "start", "status", "download", "log")
FAULT_KINDS = ("status", "drop", "hang", "body", "truncate", "pass", "expire_auth", "refuse")


@dataclass(frozen=True)
class Fault:
    """A misbehaviour applied to the next ``times`` matching requests (one by default).

    kind: ``status`` (answer ``status`` with ``body``/``headers``), ``drop`` (close the
    connection without an answer), ``hang`` (wait ``seconds`` first, then answer normally),
    ``body`` (answer 200 with ``body`` instead of the real answer), ``truncate`` (send only
    ``after_bytes`` of a download, then drop the connection), ``pass`` (answer normally: put it
    first to let a request through before the next faults), ``expire_auth`` (invalidate every
    issued credential, then answer normally), ``refuse`` (drop the connection and refuse new
    ones on the port it came in on for ``seconds``).

    ``on`` aims it by meaning: ``login``, ``start``, ``status``, ``download`` or ``log``, the
    request each emulator knows to be that one for its vendor (``Emulator.fault_targets``).
    For advanced use, a fault also matches only requests whose path starts with ``path_prefix``,
    whose path and query contain ``contains`` and whose method is ``method`` (empty: any).
    """

    kind: str
    status: int = 503
    body: str = ""
    content_type: str = "text/plain"
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    after_bytes: int = 0
    path_prefix: str = ""
    method: str = ""
    contains: str = ""
    on: str = ""
    times: int = 1

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; the kinds are {', '.join(FAULT_KINDS)}")
        if self.on and self.on not in FAULT_TARGETS:
            raise ValueError(
                f"unknown fault target on={self.on!r}; the targets are {', '.join(FAULT_TARGETS)} "
                "(or leave on= empty and match by path_prefix / method / contains)"
            )
        if not isinstance(self.times, int) or self.times < 1:
            raise ValueError(f"times must be a whole number of requests, at least 1, not {self.times!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        return cls(**dict(data))

    def matches(self, request: web.Request) -> bool:
        return (
            request.path.startswith(self.path_prefix)
            and (not self.method or self.method == request.method)
            and (not self.contains or self.contains in request.path_qs or self.contains in request.raw_path)
        )


@dataclass(frozen=True)
class Target:
    """The vendor's request of one meaning: its method and path (regular expressions the whole
    method and decoded path match), on one of the emulator's ports if it serves several origins, and, where
    one URL serves several meanings, a check of the emulator's state (``when``)."""

    method: str
    path: str
    port: int | None = None
    when: Callable[[Emulator, web.Request], bool] | None = None

    def matches(self, emulator: Emulator, request: web.Request) -> bool:
        if not re.fullmatch(self.method, request.method) or not re.fullmatch(self.path, request.path):
            return False
        if self.port is not None:
            sockname = request.transport.get_extra_info("sockname") if request.transport else None
            if not isinstance(sockname, tuple) or sockname[1] != emulator.ports[self.port]:
                return False
        return self.when is None or self.when(emulator, request)


@dataclass(frozen=True)
class Recorded:
    """A request as the emulator received it (raw path included, for path-safety checks)."""

    method: str
    raw_path: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    host: str
    #: The fault this request got, if any.
    fault: Fault | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["body"] = self.body.decode("utf-8", "replace")
        data["headers"] = dict(self.headers)
        data["fault"] = (
            None if self.fault is None else {**asdict(self.fault), "headers": dict(self.fault.headers)}
        )
        return data


def make_zip(files: Mapping[str, bytes | str]) -> bytes:
    """A zip archive in memory."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buf.getvalue()


def new_id(prefix: str = "") -> str:
    """A random id in the vendor's style."""
    return prefix + secrets.token_urlsafe(16).replace("-", "x").replace("_", "y")


class Emulator:
    """Base of all vendor emulators: server lifecycle, admin API, faults, request log.

    ``default_script`` is used for exports started without a queued script.
    """

    vendor = "emulator"
    default_script: ClassVar[list[Step]] = []
    #: Neutral word (``NEUTRAL_STATES``) -> the vendor's state.
    neutral_states: ClassVar[Mapping[str, str]] = {}
    #: Fault target (``FAULT_TARGETS``) -> the vendor's request, or why the vendor has none.
    fault_targets: ClassVar[Mapping[str, Target | str]] = {}

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        extra_ports: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self._port = port
        self._extra_ports = extra_ports
        self._ssl = ssl_context
        self.exports: dict[str, Export] = {}
        self.requests: list[Recorded] = []
        self.faults: deque[Fault] = deque()
        self.scripts: deque[list[Step]] = deque()
        self.lock = threading.Lock()
        self.ports: list[int] = []
        self._sites: list[web.TCPSite] = []
        self._background: set[asyncio.Future[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024**2)
        self.app.router.add_post("/_emulator/script", self._admin_script)
        self.app.router.add_post("/_emulator/faults", self._admin_faults)
        self.app.router.add_get("/_emulator/requests", self._admin_requests)
        self.app.router.add_get("/_emulator/exports", self._admin_exports)
        self.app.router.add_post("/_emulator/reset", self._admin_reset)
        self.add_routes(self.app.router)

    # ---- to be provided by vendor emulators ----------------------------------------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register the vendor's endpoints."""

    def expire_credentials(self) -> None:
        """Invalidate every credential issued so far (as a server-side expiry would)."""
        raise NotImplementedError

    def connection(self) -> dict[str, Any]:
        """An Airflow connection (JSON form) that points at this emulator with good credentials."""
        raise NotImplementedError

    def secrets(self) -> set[str]:
        """Every credential this emulator knows: the connection's secrets and all it issued.

        Tests scan logs, XCom and the metadata DB for these.
        """
        conn = self.connection()
        found = {str(conn["password"])} if conn.get("password") else set()
        for key, value in (conn.get("extra") or {}).items():
            if value and any(word in key for word in ("token", "secret", "key")) and isinstance(value, str):
                found.add(value)
        for value in vars(self).values():
            if isinstance(value, TokenBook):
                found.update(value.issued_tokens())
        return found

    def connection_env(self, conn_id: str) -> tuple[str, str]:
        """``(AIRFLOW_CONN_<ID>, json)``: the environment variable that defines the connection."""
        return f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(self.connection())

    # ---- scripting -----------------------------------------------------------------------------

    def vendor_steps(self, script: Iterable[Step], job: str = "export") -> list[Step]:
        """A script in the vendor's states: neutral words mapped, vendor states kept."""
        out = []
        for step in script:
            if step.state in NEUTRAL_STATES:
                state = self.neutral_states.get(step.state)
                if state is None:
                    known = ", ".join(w for w in NEUTRAL_STATES if w in self.neutral_states)
                    raise ValueError(
                        f"the {self.vendor} emulator has no {step.state!r} state; its neutral words are "
                        f"{known} (or use the vendor's own states)"
                    )
                step = replace(step, state=state)
            out.append(step)
        return out

    def script_next(self, *items: str | Step | Mapping[str, Any]) -> None:
        """Queue the state script for the next export started (neutral words or vendor states,
        one step per status poll; the last one sticks)."""
        script = steps(*items)
        self.vendor_steps(script)  # an unknown word is an error here, not in the server
        with self.lock:
            self.scripts.append(script)

    def fault_target(self, on: str) -> Target:
        """The vendor's request a fault ``on=`` aims at; a clear ValueError if there is none."""
        target = self.fault_targets.get(on)
        if isinstance(target, Target):
            return target
        if target is None:
            known = ", ".join(t for t in FAULT_TARGETS if isinstance(self.fault_targets.get(t), Target))
            raise ValueError(f"the {self.vendor} emulator has no fault target {on!r}; its targets: {known}")
        raise ValueError(f"the {self.vendor} emulator has no {on!r} request: {target}")

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each applies to the next ``times`` requests it matches."""
        for fault in faults:
            if fault.on:
                self.fault_target(fault.on)
        with self.lock:
            for fault in faults:
                self.faults.extend([fault] * fault.times)

    def _fault_matches(self, fault: Fault, request: web.Request) -> bool:
        if not fault.matches(request):
            return False
        return not fault.on or self.fault_target(fault.on).matches(self, request)

    def new_export(self, export_id: str, payload: Any = None, **kw: Any) -> Export:
        """Register a started export, taking the next queued script (or the default)."""
        with self.lock:
            script = self.scripts.popleft() if self.scripts else list(self.default_script)
            export = Export(export_id=export_id, script=self.vendor_steps(script), payload=payload, **kw)
            self.exports[export_id] = export
        return export

    def add_export(self, export_id: str, *items: str | Step | Mapping[str, Any], **kw: Any) -> Export:
        """Register an export directly (as if started elsewhere) with the given script."""
        export = Export(export_id=export_id, script=self.vendor_steps(steps(*items)), **kw)
        with self.lock:
            self.exports[export_id] = export
        return export

    def requests_to(self, prefix: str) -> list[Recorded]:
        """Recorded requests whose decoded path starts with ``prefix``."""
        return [r for r in self.requests if r.path.startswith(prefix)]

    def faulted(self, on: str | None = None) -> list[Recorded]:
        """Recorded requests that got a fault (aimed ``on=`` that target, if given)."""
        with self.lock:
            return [r for r in self.requests if r.fault is not None and (on is None or r.fault.on == on)]

    # ---- lifecycle -----------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return "https" if self._ssl else "http"

    @property
    def url(self) -> str:
        """Base URL of the main port."""
        return f"{self.scheme}://{self.host}:{self.ports[0]}"

    def url_on(self, index: int) -> str:
        """Base URL of an extra port: another origin, as a CDN for downloads would be."""
        return f"{self.scheme}://{self.host}:{self.ports[index]}"

    def start(self) -> Emulator:
        ready = threading.Event()
        error: list[BaseException] = []

        def _serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_sites())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                error.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=_serve, name=f"{self.vendor}-emulator", daemon=True)
        self._thread.start()
        ready.wait(30)
        if error:
            raise error[0]
        return self

    async def _start_sites(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        for index in range(1 + self._extra_ports):
            site = web.TCPSite(
                self._runner,
                self.host,
                self._port if index == 0 else 0,
                ssl_context=self._ssl,
                backlog=4096,
            )
            await site.start()
            self._sites.append(site)
            server = site._server
            assert server is not None
            self.ports.append(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    async def _refuse_for(self, seconds: float, index: int = 0) -> None:
        """Stop listening on port ``index`` (the main one by default) for ``seconds`` (connects
        are refused), then resume."""
        assert self._runner is not None
        await self._sites[index].stop()

        async def _resume() -> None:
            await asyncio.sleep(seconds)
            assert self._runner is not None
            site = web.TCPSite(
                self._runner, self.host, self.ports[index], ssl_context=self._ssl, backlog=4096
            )
            await site.start()
            self._sites[index] = site

        self._background.add(asyncio.ensure_future(_resume()))

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- middleware: recording and faults ------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_emulator/"):
            return await handler(request)
        body = await request.read()
        with self.lock:
            fault = next((f for f in self.faults if self._fault_matches(f, request)), None)
            if fault is not None:
                self.faults.remove(fault)
            self.requests.append(
                Recorded(
                    method=request.method,
                    raw_path=request.raw_path,
                    path=request.path,
                    headers=dict(request.headers),
                    body=body,
                    host=request.host,
                    fault=fault,
                )
            )
        if fault is None:
            return await handler(request)
        if fault.kind == "pass":
            return await handler(request)
        if fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
            return await handler(request)
        if fault.kind == "drop":
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("emulator dropped the connection")
        if fault.kind == "truncate":
            request[TRUNCATE_AFTER] = fault.after_bytes
            return await handler(request)
        if fault.kind == "expire_auth":
            self.expire_credentials()
            return await handler(request)
        if fault.kind == "refuse":
            # The port the request came in on: an emulator with several origins (the IICS pod)
            # refuses where the client is talking to.
            sockname = request.transport.get_extra_info("sockname") if request.transport else None
            port = sockname[1] if isinstance(sockname, tuple) else None
            await self._refuse_for(fault.seconds, self.ports.index(port) if port in self.ports else 0)
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("emulator refuses connections for a while")
        status = 200 if fault.kind == "body" else fault.status
        return web.Response(
            status=status,
            body=fault.body.encode(),
            headers={"Content-Type": fault.content_type, **fault.headers},
        )

    # ---- admin endpoints (for tests that run the emulator in another process) -----------------

    async def _admin_script(self, request: web.Request) -> web.Response:
        data = await request.json()
        try:
            self.script_next(*data["steps"])
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"queued": len(self.scripts)})

    async def _admin_faults(self, request: web.Request) -> web.Response:
        data = await request.json()
        try:
            self.inject(*(Fault.from_dict(f) for f in data["faults"]))
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"queued": len(self.faults)})

    async def _admin_requests(self, request: web.Request) -> web.Response:
        with self.lock:
            return web.json_response([r.to_json() for r in self.requests])

    async def _admin_exports(self, request: web.Request) -> web.Response:
        with self.lock:
            data = {
                k: {
                    "polls": v.polls,
                    "state": v.step.state,
                    "sha256": hashlib.sha256(v.content).hexdigest(),
                    "size": len(v.content),
                    "cancelled": v.cancelled,
                }
                for k, v in self.exports.items()
            }
        return web.json_response(data)

    async def _admin_reset(self, request: web.Request) -> web.Response:
        with self.lock:
            self.exports.clear()
            self.requests.clear()
            self.faults.clear()
            self.scripts.clear()
        return web.json_response({"reset": True})


async def serve_bytes(
    request: web.Request,
    data: bytes,
    *,
    content_type: str = "application/zip",
    file_name: str | None = None,
) -> web.StreamResponse:
    """Serve a file like a real file server: Content-Length, ETag, Accept-Ranges, Range requests,
    and the ``truncate`` fault (cut the connection part way)."""
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    start = 0
    status = 200
    range_header = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if range_header and range_header.startswith("bytes=") and (not if_range or if_range == etag):
        try:
            start = int(range_header[6:].split("-", 1)[0])
        except ValueError:
            start = 0
        if start >= len(data):
            return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
        status = 206
    body = data[start:]
    headers = {
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
        "Accept-Ranges": "bytes",
        "ETag": etag,
    }
    if file_name:
        headers["Content-Disposition"] = f'attachment; filename="{file_name}"'
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
    response = web.StreamResponse(status=status, headers=headers)
    await response.prepare(request)
    cut = request.get(TRUNCATE_AFTER)
    view = memoryview(body)
    limit = len(body) if cut is None else min(cut, len(body))
    chunk = 256 * 1024
    for offset in range(0, limit, chunk):
        await response.write(view[offset : min(offset + chunk, limit)])
    if cut is not None:
        # close(), not abort(): what was written still reaches the client, then the cut.
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response


def json_error(status: int, payload: Mapping[str, Any]) -> web.Response:
    """A JSON error response."""
    return web.json_response(dict(payload), status=status)


def bearer(request: web.Request) -> str | None:
    """The bearer token of a request, if any."""
    value = request.headers.get("Authorization", "")
    return value[7:] if value.lower().startswith("bearer ") else None


class TokenBook:
    """Issued access tokens with expiry, for emulators that hand out bearer tokens."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._tokens: dict[str, float] = {}
        self.issued = 0

    def issue(self) -> tuple[str, int]:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = time.time() + self.ttl
        self.issued += 1
        return token, int(self.ttl)

    def valid(self, token: str | None) -> bool:
        return token is not None and self._tokens.get(token, 0) > time.time()

    def expire_all(self) -> None:
        """Make every issued token invalid now (as a server-side session expiry would)."""
        self._tokens = {t: 0.0 for t in self._tokens}

    def issued_tokens(self) -> Iterable[str]:
        return list(self._tokens)


def dumps(data: Any) -> bytes:
    return json.dumps(data, indent=2).encode()
