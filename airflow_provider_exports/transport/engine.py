"""The transport's engine, sans-I/O: every decision of an API call as a program of commands.

A *program* is a generator that yields commands (:class:`Send` a request, :class:`Sleep`,
take a login :class:`Lock`, ...) and is sent each command's result; an I/O failure is thrown
into it. Credentials, redirects, retries, the one re-login after a rejection and a download's
resume are decided here, once; the two runners (``sync.py`` with requests, ``aio.py`` with
aiohttp) only execute the commands, as h11's users do with its events.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import IO, Any, Generic, TypeVar, cast
from urllib.parse import quote, urlencode

from airflow_provider_exports.errors import (
    DownloadError,
    ExportAuthError,
    ExportError,
    ExportRequestError,
    TransientError,
)
from airflow_provider_exports.progress import TransferProgress
from airflow_provider_exports.transport.auth import CREDENTIALS, Credential, CredentialCache, Endpoint
from airflow_provider_exports.transport.model import Op, Request, Response, resolve_url
from airflow_provider_exports.transport.network import NetworkProblem, Route, network_error, problem_in
from airflow_provider_exports.transport.redirects import MAX_REDIRECTS, next_hop
from airflow_provider_exports.transport.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after

T = TypeVar("T")

SecretSink = Callable[[str], None]
# Reserved characters and '%' stay as they are: existing escapes (such as '%2E%2E' for an id
# '..') must reach the server unchanged, never decoded.
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


# ---- commands: what a runner executes ------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Send ``request`` (URL final, credentials on) and read the answer: result a ``Response``.

    The body is read as :func:`~airflow_provider_exports.transport.bodies.wants_body` says,
    up to ``MAX_BODY``. Connection failures and timeouts are thrown in as ``TransientError``.
    """

    request: Request


@dataclass(frozen=True)
class Sleep:
    """Pause ``seconds`` before the next attempt."""

    seconds: float


@dataclass(frozen=True)
class Lock:
    """Take the per-process login lock of a connection (one login for many waits)."""

    key: str


@dataclass(frozen=True)
class Unlock:
    """Release what :class:`Lock` took."""

    key: str


@dataclass(frozen=True)
class Open:
    """Send ``request`` and keep its body unread: result a :class:`Head`."""

    request: Request


@dataclass(frozen=True)
class ReadSome:
    """Up to ``limit`` bytes of an open body (for an error message): result ``bytes``."""

    handle: object
    limit: int


@dataclass(frozen=True)
class CopyTo:
    """Copy the rest of an open body into ``sink``: result the byte count. A cut connection is
    thrown in as :class:`BodyCut` with the bytes written before it."""

    handle: object
    sink: IO[bytes]


@dataclass(frozen=True)
class Close:
    """Close an open body."""

    handle: object


@dataclass(frozen=True)
class PeerCertificate:
    """Read the certificate ``host:port`` presents, without trusting it, the way ``route`` goes:
    result a :class:`~.network.CertificateSeen` or None. Only to explain a failed verification."""

    host: str
    port: int
    route: Route


Command = Send | Sleep | Lock | Unlock | Open | ReadSome | CopyTo | Close | PeerCertificate
Program = Generator[Command, Any, T]
"""What the engine hands a runner: yields commands, is sent their results, returns ``T``."""


@dataclass(frozen=True)
class Head:
    """An :class:`Open` request's answer: status and headers (``response``, body not read) and
    the runner's ``handle`` on the open body."""

    response: Response
    handle: object


class Steps(Generic[T]):
    """A program stepped by a runner: iterate for its commands, settle each one's outcome.

    A failure is thrown into the program (so its ``finally`` blocks run); ``value`` is what it
    returned.
    """

    def __init__(self, program: Program[T]) -> None:
        self._program = program
        self._result: Any = None
        self._failure: BaseException | None = None
        self.value: T

    def __iter__(self) -> Iterator[Command]:
        while True:
            result, failure = self._result, self._failure
            self._result, self._failure = None, None
            try:
                yield self._program.send(result) if failure is None else self._program.throw(failure)
            except StopIteration as stop:
                self.value = stop.value
                return

    def settle(self, execute: Callable[[], Any]) -> None:
        """Run a command's I/O; its result or failure goes to the program."""
        try:
            self._result = execute()
        except BaseException as exc:  # noqa: BLE001 - the program decides, cancellation included
            self._failure = exc

    async def asettle(self, execution: Awaitable[Any]) -> None:
        """:meth:`settle` for a runner's coroutine."""
        try:
            self._result = await execution
        except BaseException as exc:  # noqa: BLE001 - see settle
            self._failure = exc


class BodyCut(Exception):
    """A runner's report that a body stopped early, after ``written`` bytes went to the sink."""

    def __init__(self, written: int, reason: str) -> None:
        super().__init__(f"cut after {written} bytes ({reason})")
        self.written = written
        self.reason = reason


# ---- the engine ----------------------------------------------------------------------------------


class Redactor:
    """Replaces known secret values in text; the last line of defence for messages."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        for secret in secrets:
            # Very short values would redact ordinary words; they are not real secrets anyway.
            if secret and len(secret) >= 4:
                self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def scrub_exception(self, exc: BaseException) -> None:
        """Rewrite an exception's message in place if it contains a secret."""
        text = str(exc)
        clean = self.scrub(text)
        if clean != text:
            exc.args = (clean,)


class Engine:
    """All of a call's logic around one endpoint, as programs; the runners subclass it."""

    def __init__(
        self,
        endpoint: Endpoint,
        policy: RetryPolicy | None = None,
        *,
        cache: CredentialCache = CREDENTIALS,
        secret_sink: SecretSink | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.policy = policy or RetryPolicy()
        self.cache = cache
        self.redactor = Redactor(endpoint.auth.secrets())
        self._secret_sink = secret_sink
        # Lines name the runner that made the decision (transport.sync or transport.aio).
        self.log = logging.getLogger(type(self).__module__)

    @property
    def vendor(self) -> str:
        return self.endpoint.auth.vendor

    # ---- programs ------------------------------------------------------------------------------

    def operation(self, op: Op[T]) -> Program[T]:
        """A vendor operation: each request it yields goes through :meth:`exchange`."""
        try:
            request = next(op)
            while True:
                request = op.send((yield from self.exchange(request)))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        except Exception as exc:
            self.scrubbed(exc)
            raise

    def exchange(self, request: Request) -> Program[Response]:
        """One request: credentials, redirects, retries and one re-login on rejection."""
        relogged = False
        while True:
            cred = (yield from self.credential()) if request.authenticate else None
            response, authed = yield from self._follow(request, cred)
            if not self.rejected(response, authed):
                return response
            if relogged:
                raise self.auth_failure(response)
            self.log.info("%s rejected the credential; logging in again once.", self.vendor)
            self.invalidate(cred)
            relogged = True

    def credential(self) -> Program[Credential]:
        """A fresh credential, logging in (once per process and connection) if needed."""
        cred = self.cached_credential()
        if cred is not None:
            return cred
        key = self.endpoint.cache_key
        yield Lock(key)
        try:
            cred = self.cached_credential()
            if cred is None:
                login = self.endpoint.auth.login(self.stale_credential())
                cred = self.store((yield from self.operation(login)))
            return cred
        finally:
            yield Unlock(key)

    def retrying(self, request: Request, attempt: Callable[[], Program[T]]) -> Program[T]:
        """Run ``attempt`` again after each transient failure the policy says is worth it.

        A permanent network problem fails at once, as an :class:`ExportNetworkError` naming its
        fix; an unknown host gets one retry first (a resolver's hiccup).
        """
        failures = 0
        while True:
            try:
                return (yield from attempt())
            except NetworkProblem as problem:
                if problem.kind != "unknown_host" or failures >= 1 or self.policy.attempts < 2:
                    seen = None
                    if problem.wants_certificate:
                        seen = yield PeerCertificate(problem.host, problem.port, problem.peer_route)
                    trust = self.endpoint.network.trust()
                    raise network_error(self.vendor, request.what, problem, trust, seen) from None
                failures += 1
                exc = problem.as_transient(request.what)
                pause = self.policy.delay(failures, exc)
                self.policy.log_retry(request, failures, exc, pause)
            except TransientError as exc:
                failures += 1
                if failures >= self.policy.attempts or not self.policy.should_retry(request, exc):
                    raise
                pause = self.policy.delay(failures, exc)
                self.policy.log_retry(request, failures, exc, pause)
            yield Sleep(pause)

    def fetch(
        self, request: Request, sink: IO[bytes], progress: TransferProgress | None = None
    ) -> Program[int]:
        """Stream a file into ``sink``, resuming with ``Range`` after a cut where the server
        allows; the byte count. Fails if the announced length is not reached after all retries.
        ``progress`` counts the bytes and is told the whole size once an answer gives it."""
        state = _DownloadState()
        if progress is not None:
            state.progress = progress
            sink = cast(IO[bytes], progress.counting(sink))
        relogged = False
        while True:
            cred = (yield from self.credential()) if request.authenticate else None
            try:
                yield from self.retrying(
                    request, functools.partial(self._fetch_once, request, cred, sink, state)
                )
                return state.written
            except _Rejected:
                if relogged:
                    raise DownloadError(
                        f"{self.vendor}: {request.safe_target}: credentials rejected"
                    ) from None
                self.invalidate(cred)
                relogged = True

    # ---- the steps -------------------------------------------------------------------------------

    def _follow(self, request: Request, cred: Credential | None) -> Program[tuple[Response, bool]]:
        for _ in range(MAX_REDIRECTS + 1):
            response, authed = yield from self.retrying(
                request, functools.partial(self._attempt, request, cred)
            )
            hop = next_hop(response, request)
            if hop is None:
                return response, authed
            request = hop
        raise ExportRequestError(self.vendor, request.safe_target, message="too many redirects")

    def _attempt(self, request: Request, cred: Credential | None) -> Program[tuple[Response, bool]]:
        prepared, authed = self.prepare(request, cred)
        response: Response = yield Send(prepared)
        self._raise_if_proxy_refused(response)
        _raise_if_retry_status(response, request)
        return response, authed

    def _fetch_once(
        self, request: Request, cred: Credential | None, sink: IO[bytes], state: _DownloadState
    ) -> Program[None]:
        ranged = state.written > 0 and state.resumable
        if state.written and not ranged:
            _restart(sink, state)
        extra = {"Range": f"bytes={state.written}-"} if ranged else {}
        if ranged and state.validator:
            extra["If-Range"] = state.validator
        target = request
        for _ in range(MAX_REDIRECTS + 1):
            prepared, authed = self.prepare(target.with_headers(extra), cred)
            head: Head = yield Open(prepared)
            hop = None if head.response.status in RETRY_STATUSES else next_hop(head.response, target)
            if hop is None:
                break
            yield Close(head.handle)
            target = hop
        else:
            raise DownloadError(f"{self.vendor}: {request.safe_target}: too many redirects")
        try:
            self._raise_if_proxy_refused(head.response)
            _raise_if_retry_status(head.response, request)
            yield from self._check_head(head, request, authed, state, sink)
            try:
                state.written += yield CopyTo(head.handle, sink)
            except BodyCut as cut:
                state.written += cut.written
                raise TransientError(
                    request.what, f"download cut after {state.written} bytes ({cut.reason})"
                ) from None
            if state.total is not None and state.written != state.total:
                raise TransientError(
                    request.what, f"download ended at {state.written} of {state.total} bytes"
                )
        finally:
            yield Close(head.handle)

    def _check_head(
        self, head: Head, request: Request, authed: bool, state: _DownloadState, sink: IO[bytes]
    ) -> Program[None]:
        """Whether the open answer is the file (or its rest); reads what to resume from."""
        answer = head.response
        if authed and answer.status in (401, 403):
            # The vendor decides what a rejected credential looks like (IICS: 403 AUTH_01).
            first: bytes = yield ReadSome(head.handle, 4096)
            if self.rejected(replace(answer, body=first), True):
                raise _Rejected()
            raise ExportRequestError(self.vendor, request.what, status=answer.status, message=_text(first))
        if answer.status == 200 and state.written:
            _restart(sink, state)  # the server ignored the range (or the file changed)
        elif answer.status == 206:
            start = _content_range_start(answer.header("Content-Range"))
            if start != state.written:
                raise DownloadError(
                    f"{self.vendor}: {request.safe_target}: server resumed at byte {start}, "
                    f"expected {state.written}"
                )
        elif answer.status != 200:
            body: bytes = yield ReadSome(head.handle, 2048)
            raise ExportRequestError(self.vendor, request.what, status=answer.status, message=_text(body))
        if state.total is None or answer.status == 200:
            length = answer.header("Content-Length")
            state.total = (int(length) + state.written) if length and length.isdigit() else None
            state.resumable = (answer.header("Accept-Ranges") or "").lower() == "bytes"
            state.validator = answer.header("ETag") or answer.header("Last-Modified")
            if state.progress is not None:
                state.progress.expect(state.total)

    # ---- credentials and URLs ----------------------------------------------------------------------

    def cached_credential(self) -> Credential | None:
        cred = self.cache.get(self.endpoint.cache_key)
        if cred is not None and cred.fresh(self.endpoint.auth.refresh_margin):
            return cred
        return None

    def store(self, credential: Credential) -> Credential:
        self.redactor.add(credential.token, credential.refresh_token)
        if self._secret_sink is not None:
            for secret in (credential.token, credential.refresh_token):
                if secret:
                    self._secret_sink(secret)
        self.cache.put(self.endpoint.cache_key, credential)
        return credential

    def stale_credential(self) -> Credential | None:
        """The expired credential, if any, for a refresh grant."""
        return self.cache.get(self.endpoint.cache_key)

    def prepare(self, request: Request, credential: Credential | None) -> tuple[Request, bool]:
        """Resolve the URL and add credentials where they may go; says whether it added them."""
        url = resolve_url(request.url, self.endpoint.base_for(credential))
        if request.params:
            # Query goes into the URL before auth, so request signers see exactly what is sent.
            url += ("&" if "?" in url else "?") + urlencode(request.params, quote_via=quote)
        # Vendor links may hold characters that need quoting; existing %-escapes stay as they are.
        request = replace(request, url=quote(url, safe=_URL_SAFE), params=())
        if request.authenticate and credential is not None:
            if self.endpoint.may_authenticate(url, credential):
                return self.endpoint.auth.apply(request, credential), True
            self.log.info(
                "Not sending %s credentials to %s: another origin than the connection's "
                "(set allow_cross_origin_auth on the connection to allow it).",
                self.vendor,
                request.safe_target,
            )
        return request, False

    def _raise_if_proxy_refused(self, response: Response) -> None:
        """A 407 on a plain-http request is the proxy's answer, not the vendor's."""
        if response.status == 407:
            route = self.endpoint.network.route(response.url)
            if route.proxy is not None:
                raise problem_in(_ProxyRefused(), route.proxy.url, route) or _ProxyRefused()

    def rejected(self, response: Response, authed: bool) -> bool:
        return authed and self.endpoint.auth.is_rejected(response)

    def invalidate(self, credential: Credential | None) -> None:
        if credential is not None:
            self.cache.invalidate(self.endpoint.cache_key, credential)

    def auth_failure(self, response: Response) -> ExportAuthError:
        return ExportAuthError(
            self.vendor,
            response.request.safe_target,
            status=response.status,
            message="credentials rejected again after a fresh login; check the connection "
            f"(response: {response.snippet() or '<empty>'})",
        )

    def scrubbed(self, exc: BaseException) -> BaseException:
        if isinstance(exc, ExportError):
            self.redactor.scrub_exception(exc)
        return exc


def _raise_if_retry_status(response: Response, request: Request) -> None:
    if response.status in RETRY_STATUSES:
        raise TransientError(
            request.what,
            f"HTTP {response.status}",
            status=response.status,
            retry_after=parse_retry_after(response.header("Retry-After")),
        )


def _text(body: bytes) -> str | None:
    return " ".join(body.decode("utf-8", "replace").split())[:300] or None


class _Rejected(Exception):
    pass


class _ProxyRefused(Exception):
    status = 407


class _DownloadState:
    def __init__(self) -> None:
        self.written = 0
        self.total: int | None = None
        self.resumable = False
        self.validator: str | None = None
        self.progress: TransferProgress | None = None


def _restart(sink: IO[bytes], state: _DownloadState) -> None:
    sink.seek(0)
    sink.truncate()
    state.written = 0
    if state.progress is not None:
        state.progress.restart()


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-199/1000"
    if not value or not value.startswith("bytes "):
        return None
    try:
        return int(value[6:].split("-", 1)[0])
    except ValueError:
        return None
