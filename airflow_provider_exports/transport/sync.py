"""The synchronous runner (workers, operators, ``poke``): executes the engine's commands with
``requests``. It decides nothing: credentials, redirects, retries and resume are the engine's."""

from __future__ import annotations

import functools
import http.client
import logging
import time
from typing import IO, Any, TypeVar

import requests
import urllib3
from requests.adapters import HTTPAdapter

from airflow_provider_exports.errors import TransientError
from airflow_provider_exports.progress import TransferProgress
from airflow_provider_exports.transport.bodies import MAX_BODY, too_large, wants_body
from airflow_provider_exports.transport.engine import (
    BodyCut,
    Close,
    Command,
    CopyTo,
    Engine,
    Head,
    Lock,
    Open,
    PeerCertificate,
    Program,
    ReadSome,
    Send,
    Sleep,
    Steps,
    Unlock,
)
from airflow_provider_exports.transport.model import Op, Request, Response
from airflow_provider_exports.transport.network import Trust, problem_in
from airflow_provider_exports.transport.tls import context_for, peer_certificate

log = logging.getLogger(__name__)
T = TypeVar("T")
# Bytes per read of a body. urllib3's public stream() allocates each chunk: 512 KiB matched the
# old private-buffer path in benchmarks/download_throughput.py (256 KiB was ~7% slower, 64 KiB
# ~20%). A read cut part way loses that chunk's bytes: a resume starts at a whole chunk.
CHUNK = 512 * 1024
# What reading a body raises when the connection is cut or times out.
_CUT = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


class _TrustAdapter(HTTPAdapter):
    """Pools whose TLS trust is one ``SSLContext`` (transport.tls), direct or through a proxy,
    as the async runner's: not requests' own choice of CA bundle. The context is made when the
    first TLS connection needs it (loading a CA store costs ~60 ms of CPU; a plain-http
    download never pays it)."""

    def __init__(self, trust: Trust) -> None:
        self._trust = trust
        super().__init__(pool_connections=4, pool_maxsize=16, max_retries=0)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[Any, Any]:  # requests' stubs name private TypedDicts here
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params.get("scheme") == "https":
            pool_kwargs["ssl_context"] = context_for(self._trust)
        return host_params, pool_kwargs

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # The vendor through the tunnel and an https:// proxy itself: one trust, as aiohttp has.
        proxy_kwargs.setdefault("proxy_ssl_context", context_for(self._trust))
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # The context decides what is trusted; requests would add certifi's bundle to it.
        conn.cert_reqs = "CERT_REQUIRED" if verify else "CERT_NONE"


def new_session(trust: Trust | None = None) -> requests.Session:
    """A pooled session trusting ``trust``; redirects are followed by the engine so credentials
    stay on origin, and proxies come from the engine's route (the environment is read there)."""
    trust = trust or Trust()
    if not trust.verify:
        # One warning per connection comes from the hook; not one per request from urllib3.
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    session = requests.Session()
    adapter = _TrustAdapter(trust)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = False
    return session


class SyncTransport(Engine):
    """Runs the engine's programs with a ``requests.Session``."""

    _session: requests.Session | None = None

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = new_session(self.endpoint.network.trust())
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # ---- what the hooks call ---------------------------------------------------------------------

    def run(self, op: Op[T]) -> T:
        """A vendor operation's result."""
        return self.drive(self.operation(op))

    def call(self, request: Request) -> Response:
        """One request's final answer (credentials, redirects, retries, re-login)."""
        return self.drive(self.exchange(request))

    def download(self, request: Request, sink: IO[bytes], progress: TransferProgress | None = None) -> int:
        """Stream a file into ``sink`` (see :meth:`Engine.fetch`); the byte count."""
        return self.drive(self.fetch(request, sink, progress))

    # ---- the loop --------------------------------------------------------------------------------

    def drive(self, program: Program[T]) -> T:
        """Execute a program's commands until it returns."""
        steps = Steps(program)
        for command in steps:
            steps.settle(functools.partial(self.execute, command))
        return steps.value

    def execute(self, command: Command) -> Any:
        """One command, with requests."""
        if isinstance(command, Send):
            return self._send(command.request)
        if isinstance(command, Open):
            request = command.request
            raw = self._open(request)
            return Head(Response(raw.status_code, dict(raw.headers), b"", request.url, request), raw)
        if isinstance(command, CopyTo):
            return _copy(command.handle, command.sink)
        if isinstance(command, ReadSome):
            return _response(command.handle).raw.read(command.limit, decode_content=True) or b""
        if isinstance(command, Close):
            _response(command.handle).close()
        elif isinstance(command, PeerCertificate):
            return peer_certificate(command.host, command.port, command.route, self.policy.connect_timeout)
        elif isinstance(command, Sleep):
            time.sleep(command.seconds)
        elif isinstance(command, Lock):
            self.cache.sync_lock(command.key).acquire()
        elif isinstance(command, Unlock):
            self.cache.sync_lock(command.key).release()
        return None

    # ---- HTTP --------------------------------------------------------------------------------------

    def _open(self, request: Request) -> requests.Response:
        route = self.endpoint.network.route(request.url)
        proxy = None if route.proxy is None else route.proxy.with_credentials()
        proxies = {} if proxy is None else {"http": proxy, "https": proxy}
        try:
            prepared = self.session.prepare_request(
                requests.Request(
                    request.method, request.url, headers=dict(request.headers), data=request.body
                )
            )
            # requests re-quotes URLs and decodes '%2E' to '.': send the path exactly as built.
            prepared.url = request.url
            return self.session.send(
                prepared,
                timeout=(self.policy.connect_timeout, self.policy.read_timeout),
                allow_redirects=False,
                stream=True,
                verify=self.endpoint.network.verify,
                proxies=proxies,
            )
        except requests.exceptions.ConnectTimeout:
            raise TransientError(request.what, "connect timed out", sent=False) from None
        except requests.exceptions.ReadTimeout:
            raise TransientError(request.what, "read timed out") from None
        except requests.exceptions.ConnectionError as exc:
            problem = problem_in(exc, request.url, route)
            if problem is not None:
                raise problem from None
            refused = "NewConnectionError" in repr(exc) or "Failed to establish" in repr(exc)
            reason = "connection refused" if refused else "connection dropped"
            raise TransientError(request.what, reason, sent=not refused) from None

    def _send(self, request: Request) -> Response:
        with self._open(request) as raw:
            headers = dict(raw.headers)
            read = wants_body(request, headers)
            body = self._read(raw, request) if read else b""
            return Response(raw.status_code, headers, body, request.url, request, body_skipped=not read)

    def _read(self, raw: requests.Response, request: Request) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in raw.iter_content(CHUNK):
                size += len(chunk)
                if size > MAX_BODY:
                    raise too_large(self.vendor, request)
                chunks.append(chunk)
        except (requests.exceptions.RequestException, OSError) as exc:
            raise TransientError(
                request.what, f"connection dropped while reading ({type(exc).__name__})"
            ) from None
        return b"".join(chunks)


def _response(handle: object) -> requests.Response:
    assert isinstance(handle, requests.Response)
    return handle


def _copy(handle: object, sink: IO[bytes]) -> int:
    """Copy the rest of a body into ``sink`` (urllib3 decodes a Content-Encoding if any)."""
    written = 0
    try:
        for chunk in _response(handle).raw.stream(CHUNK, decode_content=True):
            sink.write(chunk)
            written += len(chunk)
    except _CUT as exc:
        raise BodyCut(written, _cause(exc)) from None
    return written


def _cause(exc: BaseException) -> str:
    """The innermost error's name: urllib3 wraps http.client's IncompleteRead in ProtocolError."""
    inner = next((arg for arg in exc.args if isinstance(arg, BaseException)), None)
    return _cause(inner) if inner is not None else type(exc).__name__
