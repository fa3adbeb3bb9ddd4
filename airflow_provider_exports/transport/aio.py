"""The asynchronous runner (the triggerer): ``aiohttp`` with one connection pool per event loop."""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

import aiohttp
import tenacity
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from airflow_provider_exports.errors import ExportRequestError, TransientError
from airflow_provider_exports.transport.auth import Credential
from airflow_provider_exports.transport.bodies import MAX_BODY, is_json_type, too_large
from airflow_provider_exports.transport.engine import Engine
from airflow_provider_exports.transport.model import Op, Request, Response
from airflow_provider_exports.transport.redirects import MAX_REDIRECTS, next_hop
from airflow_provider_exports.transport.retry import RETRY_STATUSES, parse_retry_after

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
        # docs/benchmarks.md). The proxy variables are honoured by env_proxy() instead, read
        # once per host and process; credentials come from the Airflow connection only.
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


#: ``(scheme, host) -> (proxy, proxy auth)`` from the environment, once per process.
_PROXIES: dict[tuple[str, str], tuple[URL | None, aiohttp.BasicAuth | None]] = {}


def _lookup_proxy(url: URL) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    try:
        return get_env_proxy_for_url(url)
    except LookupError:
        return None, None


async def env_proxy(url: URL) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy the environment sets for ``url`` (``HTTP(S)_PROXY``, ``NO_PROXY``), as
    ``trust_env=True`` finds it, but looked up once per host and process, not on every request."""
    key = (url.scheme, url.host or "")
    found = _PROXIES.get(key)
    if found is None:
        found = await asyncio.to_thread(_lookup_proxy, url)  # may read ~/.netrc for proxy auth
        _PROXIES[key] = found
    return found


class AsyncTransport(Engine):
    """Runs operations with the event loop's pooled ``aiohttp`` session."""

    async def run(self, op: Op[T]) -> T:
        """Drive an operation to its result."""
        async with pooled_session() as session:
            try:
                request = next(op)
                while True:
                    request = op.send(await self.call(session, request))
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            except Exception as exc:
                self.scrubbed(exc)
                raise

    async def credential(self, session: aiohttp.ClientSession) -> Credential:
        """A fresh credential; concurrent waits on one connection log in once."""
        cred = self.cached_credential()
        if cred is not None:
            return cred
        async with self.cache.async_lock(self.endpoint.cache_key):
            cred = self.cached_credential()
            if cred is not None:
                return cred
            login = self.endpoint.auth.login(self.stale_credential())
            try:
                request = next(login)
                while True:
                    request = login.send(await self.call(session, request))
            except StopIteration as stop:
                return self.store(stop.value)

    async def call(self, session: aiohttp.ClientSession, request: Request) -> Response:
        """Send one request: credentials, redirects, retries and one re-login on rejection."""
        relogged = False
        while True:
            cred = await self.credential(session) if request.authenticate else None
            response, authed = await self._follow(session, request, cred)
            if not self.rejected(response, authed):
                return response
            if relogged:
                raise self.auth_failure(response)
            log.info("%s rejected the credential; logging in again once.", self.vendor)
            self.invalidate(cred)
            relogged = True

    async def _follow(
        self, session: aiohttp.ClientSession, request: Request, cred: Credential | None
    ) -> tuple[Response, bool]:
        for _ in range(MAX_REDIRECTS + 1):
            response, authed = await self._retrying(session, request, cred)
            hop = next_hop(response, request)
            if hop is None:
                return response, authed
            request = hop
        raise ExportRequestError(self.vendor, request.safe_target, message="too many redirects")

    async def _retrying(
        self, session: aiohttp.ClientSession, request: Request, cred: Credential | None
    ) -> tuple[Response, bool]:
        try:
            return await self._attempt(session, request, cred)
        except TransientError as exc:
            pause = self.policy.first_retry(request, exc)
            if pause is None:
                raise
        await asyncio.sleep(pause)
        async for attempt in tenacity.AsyncRetrying(**self.policy.tenacity_kwargs(request, failed=1)):
            with attempt:
                return await self._attempt(session, request, cred)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self, session: aiohttp.ClientSession, request: Request, cred: Credential | None
    ) -> tuple[Response, bool]:
        prepared, authed = self.prepare(request, cred)
        return await self._send(session, prepared), authed

    @functools.cached_property
    def _timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=None, sock_connect=self.policy.connect_timeout, sock_read=self.policy.read_timeout
        )

    async def _send(self, session: aiohttp.ClientSession, request: Request) -> Response:
        timeout = self._timeout
        # encoded=True: send the path exactly as built; yarl would otherwise decode
        # '%2E%2E' and resolve it as '..', escaping the intended path.
        url = URL(request.url, encoded=True)
        try:
            proxy, proxy_auth = await env_proxy(url)
            async with session.request(
                request.method,
                url,
                proxy=proxy,
                proxy_auth=proxy_auth,
                params=list(request.params) or None,
                data=request.body,
                headers=dict(request.headers),
                timeout=timeout,
                allow_redirects=False,
            ) as raw:
                headers = {k: v for k, v in raw.headers.items()}
                if raw.status in RETRY_STATUSES:
                    raise TransientError(
                        request.what,
                        f"HTTP {raw.status}",
                        status=raw.status,
                        retry_after=parse_retry_after(raw.headers.get("Retry-After")),
                    )
                skip = request.read_body == "none" or (
                    request.read_body == "json-only" and not is_json_type(headers)
                )
                body = b"" if skip else await self._read(raw, request)
                return Response(raw.status, headers, body, request.url, request, body_skipped=skip)
        except aiohttp.ClientConnectorError:
            raise TransientError(request.what, "connection refused", sent=False) from None
        except aiohttp.ConnectionTimeoutError:
            raise TransientError(request.what, "connect timed out", sent=False) from None
        except (aiohttp.ServerTimeoutError, asyncio.TimeoutError):
            raise TransientError(request.what, "read timed out") from None
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise TransientError(request.what, f"connection dropped ({type(exc).__name__})") from None

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
