"""The asynchronous runner (the triggerer): executes the engine's commands with ``aiohttp``, one
connection pool per event loop. It decides nothing: credentials, redirects and retries are the
engine's."""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiohttp
from yarl import URL

from airflow_provider_exports.errors import TransientError
from airflow_provider_exports.transport.bodies import MAX_BODY, too_large, wants_body
from airflow_provider_exports.transport.engine import (
    Command,
    Engine,
    Lock,
    PeerCertificate,
    Program,
    Send,
    Sleep,
    Steps,
    Unlock,
)
from airflow_provider_exports.transport.model import Op, Request, Response
from airflow_provider_exports.transport.network import Proxy, problem_in
from airflow_provider_exports.transport.tls import context_for, peer_certificate

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Connections kept open across all waits of one event loop (the triggerer has one loop).
POOL_SIZE = 100
KEEPALIVE_SECONDS = 75.0


class _Pool:
    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.users = 0


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def pooled_session() -> AsyncIterator[aiohttp.ClientSession]:
    """The event loop's shared session; closed when its last user leaves.

    A trigger holds it for its whole wait, so polls reuse kept-alive connections instead of
    opening a new TCP/TLS connection each time.
    """
    loop = asyncio.get_running_loop()
    pool = _POOLS.setdefault(loop, _Pool())
    if pool.session is None or pool.session.closed:
        connector = aiohttp.TCPConnector(limit=POOL_SIZE, keepalive_timeout=KEEPALIVE_SECONDS)
        # trust_env=False: with True, aiohttp reads ~/.netrc and the proxy variables in worker
        # threads on every request (two thread hops per poll, ~40% of a poll's CPU; see
        # docs/benchmarks.md). The engine's route honours the proxy variables instead (as the
        # sync runner does); credentials come from the Airflow connection only.
        pool.session = aiohttp.ClientSession(connector=connector, trust_env=False)
    session = pool.session
    pool.users += 1
    try:
        yield session
    finally:
        pool.users -= 1
        if pool.users == 0 and pool.session is session:
            pool.session = None
            await session.close()


class AsyncTransport(Engine):
    """Runs the engine's programs with the event loop's pooled ``aiohttp`` session."""

    async def run(self, op: Op[T]) -> T:
        """A vendor operation's result."""
        async with pooled_session() as session:
            return await self.drive(self.operation(op), session)

    async def drive(self, program: Program[T], session: aiohttp.ClientSession) -> T:
        """Execute a program's commands until it returns (cancellation is thrown into it too,
        so its ``finally`` blocks run)."""
        steps = Steps(program)
        for command in steps:
            await steps.asettle(self.execute(command, session))
        return steps.value

    async def execute(self, command: Command, session: aiohttp.ClientSession) -> Any:
        """One command, with aiohttp (the triggerer never downloads)."""
        if isinstance(command, Send):
            return await self._send(session, command.request)
        if isinstance(command, Sleep):
            await asyncio.sleep(command.seconds)
        elif isinstance(command, Lock):
            await self.cache.async_lock(command.key).acquire()
        elif isinstance(command, Unlock):
            self.cache.async_lock(command.key).release()
        elif isinstance(command, PeerCertificate):
            return await asyncio.to_thread(
                peer_certificate, command.host, command.port, command.route, self.policy.connect_timeout
            )
        else:
            raise NotImplementedError(f"the async runner does not execute {type(command).__name__}")
        return None

    @functools.cached_property
    def _timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=None, sock_connect=self.policy.connect_timeout, sock_read=self.policy.read_timeout
        )

    async def _send(self, session: aiohttp.ClientSession, request: Request) -> Response:
        # encoded=True: send the path exactly as built; yarl would otherwise decode
        # '%2E%2E' and resolve it as '..', escaping the intended path.
        url = URL(request.url, encoded=True)
        route = self.endpoint.network.route(request.url)
        proxy = route.proxy
        # The context is made when TLS first needs it (see sync._TrustAdapter).
        tls = request.url.startswith("https:") or (proxy is not None and proxy.url.startswith("https:"))
        try:
            async with session.request(
                request.method,
                url,
                ssl=self._ssl if tls else True,
                proxy=None if proxy is None else proxy.url,
                proxy_auth=None if proxy is None else _basic_auth(proxy),
                data=request.body,
                headers=dict(request.headers),
                timeout=self._timeout,
                allow_redirects=False,
            ) as raw:
                headers = dict(raw.headers.items())
                read = wants_body(request, headers)
                body = await self._read(raw, request) if read else b""
                return Response(raw.status, headers, body, request.url, request, body_skipped=not read)
        except aiohttp.ClientError as exc:
            problem = problem_in(exc, request.url, route)
            if problem is not None:
                raise problem from None
            raise _transient(exc, request) from None
        except (asyncio.TimeoutError, ConnectionError) as exc:
            raise _transient(exc, request) from None

    @functools.cached_property
    def _ssl(self) -> ssl.SSLContext | bool:
        trust = self.endpoint.network.trust()
        return context_for(trust) if trust.verify else False

    async def _read(self, raw: aiohttp.ClientResponse, request: Request) -> bytes:
        if raw.content_length is not None and raw.content_length <= MAX_BODY:
            return await raw.read()  # the usual small status answer: one call
        chunks: list[bytes] = []
        size = 0
        async for chunk in raw.content.iter_chunked(256 * 1024):
            size += len(chunk)
            if size > MAX_BODY:
                raise too_large(self.vendor, request)
            chunks.append(chunk)
        return b"".join(chunks)


def _basic_auth(proxy: Proxy) -> aiohttp.BasicAuth | None:
    if proxy.username is None:
        return None
    return aiohttp.BasicAuth(proxy.username, proxy.password or "")


def _transient(exc: BaseException, request: Request) -> TransientError:
    """A retryable failure, named as the sync runner names it."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return TransientError(request.what, "connection refused", sent=False)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return TransientError(request.what, "connect timed out", sent=False)
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return TransientError(request.what, "read timed out")
    return TransientError(request.what, f"connection dropped ({type(exc).__name__})")
