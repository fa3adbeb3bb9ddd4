"""The synchronous runner (workers, operators, ``poke``): ``requests`` underneath."""

from __future__ import annotations

import http.client
import logging
import time
from typing import IO, TypeVar

import requests
import tenacity
import urllib3
from requests.adapters import HTTPAdapter

from airflow_provider_exports.errors import DownloadError, ExportRequestError, TransientError
from airflow_provider_exports.transport.auth import Credential
from airflow_provider_exports.transport.bodies import MAX_BODY, is_json_type, too_large
from airflow_provider_exports.transport.engine import Engine
from airflow_provider_exports.transport.model import Op, Request, Response
from airflow_provider_exports.transport.redirects import MAX_REDIRECTS, next_hop
from airflow_provider_exports.transport.retry import RETRY_STATUSES, parse_retry_after

log = logging.getLogger(__name__)
T = TypeVar("T")
# Smaller than a typical cut loses: a read interrupted mid-chunk loses that chunk's bytes.
CHUNK = 256 * 1024
# What reading a download's body raises when the connection is cut or times out: requests and
# urllib3 errors (the public path), http.client's (IncompleteRead is an HTTPException, not an
# OSError) and socket errors (the direct path, see _plain_body).
_CUT = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


def new_session() -> requests.Session:
    """A pooled session; redirects are followed by the runner so credentials stay on origin."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = True
    return session


class SyncTransport(Engine):
    """Runs operations with a ``requests.Session``."""

    _session: requests.Session | None = None

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = new_session()
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # ---- operations ------------------------------------------------------------------------

    def run(self, op: Op[T]) -> T:
        """Drive an operation to its result."""
        try:
            request = next(op)
            while True:
                request = op.send(self.call(request))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        except Exception as exc:
            self.scrubbed(exc)
            raise

    def credential(self) -> Credential:
        """A fresh credential, logging in (once per process and connection) if needed."""
        cred = self.cached_credential()
        if cred is not None:
            return cred
        with self.cache.sync_lock(self.endpoint.cache_key):
            cred = self.cached_credential()
            if cred is not None:
                return cred
            return self.store(self.run(self.endpoint.auth.login(self.stale_credential())))

    def call(self, request: Request) -> Response:
        """Send one request: credentials, redirects, retries and one re-login on rejection."""
        relogged = False
        while True:
            cred = self.credential() if request.authenticate else None
            response, authed = self._follow(request, cred)
            if not self.rejected(response, authed):
                return response
            if relogged:
                raise self.auth_failure(response)
            log.info("%s rejected the credential; logging in again once.", self.vendor)
            self.invalidate(cred)
            relogged = True

    def _follow(self, request: Request, cred: Credential | None) -> tuple[Response, bool]:
        for _ in range(MAX_REDIRECTS + 1):
            response, authed = self._retrying(request, cred)
            hop = next_hop(response, request)
            if hop is None:
                return response, authed
            request = hop
        raise ExportRequestError(self.vendor, request.safe_target, message="too many redirects")

    def _retrying(self, request: Request, cred: Credential | None) -> tuple[Response, bool]:
        try:
            return self._attempt(request, cred)
        except TransientError as exc:
            pause = self.policy.first_retry(request, exc)
            if pause is None:
                raise
        time.sleep(pause)
        for attempt in tenacity.Retrying(**self.policy.tenacity_kwargs(request, failed=1)):
            with attempt:
                return self._attempt(request, cred)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, request: Request, cred: Credential | None) -> tuple[Response, bool]:
        prepared, authed = self.prepare(request, cred)
        return self._send(prepared), authed

    def _open(self, request: Request) -> requests.Response:
        try:
            prepared = self.session.prepare_request(
                requests.Request(
                    request.method, request.url, headers=dict(request.headers), data=request.body
                )
            )
            # requests re-quotes URLs and decodes '%2E' to '.': send the path exactly as built.
            prepared.url = request.url
            raw = self.session.send(
                prepared,
                timeout=(self.policy.connect_timeout, self.policy.read_timeout),
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.ConnectTimeout:
            raise TransientError(request.what, "connect timed out", sent=False) from None
        except requests.exceptions.ReadTimeout:
            raise TransientError(request.what, "read timed out") from None
        except requests.exceptions.ConnectionError as exc:
            refused = "NewConnectionError" in repr(exc) or "Failed to establish" in repr(exc)
            reason = "connection refused" if refused else "connection dropped"
            raise TransientError(request.what, reason, sent=not refused) from None
        if raw.status_code in RETRY_STATUSES:
            raw.close()
            raise TransientError(
                request.what,
                f"HTTP {raw.status_code}",
                status=raw.status_code,
                retry_after=parse_retry_after(raw.headers.get("Retry-After")),
            )
        return raw

    def _send(self, request: Request) -> Response:
        raw = self._open(request)
        try:
            headers = dict(raw.headers)
            skip = request.read_body == "none" or (
                request.read_body == "json-only" and not is_json_type(headers)
            )
            body = b"" if skip else self._read(raw, request)
            return Response(raw.status_code, headers, body, request.url, request, body_skipped=skip)
        finally:
            raw.close()

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

    # ---- downloads -------------------------------------------------------------------------

    def download(self, request: Request, sink: IO[bytes]) -> int:
        """Stream a file into ``sink``; resumes with ``Range`` after a cut where the server allows.

        Returns the number of bytes written; raises if the length the server announced was not
        reached after all retries.
        """
        state = _DownloadState()
        relogged = False
        while True:
            cred = self.credential() if request.authenticate else None
            try:
                for attempt in tenacity.Retrying(**self.policy.tenacity_kwargs(request)):
                    with attempt:
                        self._download_once(request, cred, sink, state)
                return state.written
            except _Rejected:
                if relogged:
                    raise DownloadError(
                        f"{self.vendor}: {request.safe_target}: credentials rejected"
                    ) from None
                self.invalidate(cred)
                relogged = True

    def _download_once(
        self, request: Request, cred: Credential | None, sink: IO[bytes], state: _DownloadState
    ) -> None:
        ranged = state.written > 0 and state.resumable
        if state.written and not ranged:
            sink.seek(0)
            sink.truncate()
            state.written = 0
        target = request
        extra = {"Range": f"bytes={state.written}-"} if ranged else {}
        if ranged and state.validator:
            extra["If-Range"] = state.validator
        for _ in range(MAX_REDIRECTS + 1):
            prepared, authed = self.prepare(target.with_headers(extra), cred)
            raw = self._open(prepared)
            if raw.status_code in (301, 302, 303, 307, 308) and raw.headers.get("Location"):
                raw.close()
                resp = Response(raw.status_code, dict(raw.headers), b"", prepared.url, prepared)
                hop = next_hop(resp, target)
                if hop is not None:
                    target = hop
                    continue
            break
        else:
            raise DownloadError(f"{self.vendor}: {request.safe_target}: too many redirects")
        with raw:
            if authed and raw.status_code in (401, 403):
                # The vendor decides what a rejected credential looks like (IICS: 403 AUTH_01).
                head = raw.raw.read(4096, decode_content=True) or b""
                if self.rejected(
                    Response(raw.status_code, dict(raw.headers), head, prepared.url, prepared), True
                ):
                    raise _Rejected()
                raise ExportRequestError(
                    self.vendor,
                    request.what,
                    status=raw.status_code,
                    message=" ".join(head.decode("utf-8", "replace").split())[:300] or None,
                )
            if raw.status_code == 200 and state.written:
                # The server ignored the range (or the file changed): start again from zero.
                sink.seek(0)
                sink.truncate()
                state.written = 0
            elif raw.status_code == 206:
                start = _content_range_start(raw.headers.get("Content-Range"))
                if start != state.written:
                    raise DownloadError(
                        f"{self.vendor}: {request.safe_target}: server resumed at byte {start}, "
                        f"expected {state.written}"
                    )
            elif raw.status_code != 200:
                body = raw.raw.read(2048, decode_content=True) or b""
                raise ExportRequestError(
                    self.vendor,
                    request.what,
                    status=raw.status_code,
                    message=" ".join(body.decode("utf-8", "replace").split())[:300] or None,
                )
            if state.total is None or raw.status_code == 200:
                length = raw.headers.get("Content-Length")
                state.total = (int(length) + state.written) if length and length.isdigit() else None
                state.resumable = raw.headers.get("Accept-Ranges", "").lower() == "bytes"
                state.validator = raw.headers.get("ETag") or raw.headers.get("Last-Modified")
            try:
                _copy_body(raw, sink, state)
            except _CUT as exc:
                raise TransientError(
                    request.what, f"download cut after {state.written} bytes ({type(exc).__name__})"
                ) from None
            if state.total is not None and state.written != state.total:
                raise TransientError(
                    request.what, f"download ended at {state.written} of {state.total} bytes"
                )


def _copy_body(raw: requests.Response, sink: IO[bytes], state: _DownloadState) -> None:
    """Copy the response body into ``sink``, counting bytes in ``state.written``.

    ``sink.write`` gets views of one reused buffer: a sink must not keep them after it returns
    (files and ``BytesIO`` copy them).
    """
    fp = _plain_body(raw)
    if fp is None:
        # The public path: urllib3 decodes a Content-Encoding (gzip, ...) if there is one.
        for chunk in raw.raw.stream(CHUNK, decode_content=True):
            sink.write(chunk)
            state.written += len(chunk)
        return
    view = memoryview(bytearray(CHUNK))
    total = state.total
    while True:
        want = CHUNK if total is None else min(CHUNK, total - state.written)
        n = fp.readinto(view[:want]) if want else 0
        if total is not None and n < want:
            # Cut short: http.client returns what came before the end of the stream, then 0
            # (urllib3 raises). As on urllib3's path, the bytes of a read cut part way are
            # dropped: resuming is by whole chunks (docs/reliability.md).
            raise http.client.IncompleteRead(b"", total - state.written)
        if not n:
            return
        sink.write(view[:n])
        state.written += n


def _plain_body(raw: requests.Response) -> http.client.HTTPResponse | None:
    """The ``http.client`` response under urllib3's, if its body can be read from it directly.

    That skips urllib3's per-read bookkeeping and copy (with 16 KiB writes, the transfer alone
    ran at ~2,170 MB/s this way against 1,500-1,900 MB/s through urllib3's ``readinto``, in
    benchmarks/download_throughput.py). It gives the same bytes only when the body has no
    content coding and none of it was read yet; in every other case (or if urllib3 no longer
    keeps it in ``_fp``) the public path is used.
    """
    body = raw.raw
    fp = getattr(body, "_fp", None)
    if not isinstance(fp, http.client.HTTPResponse) or fp.isclosed():
        return None
    if raw.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
        return None
    try:
        if body.tell() != 0:
            return None
    except (AttributeError, OSError):  # pragma: no cover - an unexpected urllib3
        return None
    return fp


class _Rejected(Exception):
    pass


class _DownloadState:
    def __init__(self) -> None:
        self.written = 0
        self.total: int | None = None
        self.resumable = False
        self.validator: str | None = None


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-199/1000"
    if not value or not value.startswith("bytes "):
        return None
    try:
        return int(value[6:].split("-", 1)[0])
    except ValueError:
        return None
