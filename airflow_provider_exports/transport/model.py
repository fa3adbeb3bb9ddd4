"""Vendor-neutral request and response values, and the operation protocol.

Vendor modules describe each API call as an *operation*: a generator that yields
:class:`Request` values and receives :class:`Response` values, and returns its result. The
sync and async runners in this package drive the same generator, so the two code paths share
every line of vendor logic (the sans-I/O pattern of h11).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Generator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlsplit

from airflow_provider_exports.errors import ExportConfigError, ExportResponseError

T = TypeVar("T")

Op = Generator["Request", "Response", T]
"""An API operation: yields requests, is sent responses, returns a result."""

BodyMode = Literal["all", "json-only", "none"]


@dataclass(frozen=True)
class Request:
    """One HTTP call, described.

    ``url`` is absolute, or a path starting with ``/`` that the transport joins to the
    connection's base URL (or to the base URL the login returned, for IICS pods).
    ``authenticate`` says whether credentials go on it; they are only ever put on URLs of the
    connection's own origins. ``idempotent`` allows resending after the request may have
    reached the server. ``read_body`` = ``"json-only"`` skips reading a non-JSON body (a
    status endpoint that answers with the file itself when done).
    """

    method: str
    url: str
    what: str
    headers: Mapping[str, str] = field(default_factory=dict)
    params: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    authenticate: bool = True
    idempotent: bool = True
    read_body: BodyMode = "all"

    def with_headers(self, extra: Mapping[str, str]) -> Request:
        """A copy with headers added or replaced."""
        return replace(self, headers={**self.headers, **extra})

    @property
    def safe_target(self) -> str:
        """Method and URL path for messages: no query, no userinfo, nothing secret."""
        return f"{self.method} {urlsplit(self.url).path or '/'}"


def json_request(
    method: str, url: str, what: str, payload: Any, *, headers: Mapping[str, str] | None = None, **kw: Any
) -> Request:
    """A request with a JSON body."""
    return Request(
        method,
        url,
        what,
        headers={"Content-Type": "application/json", "Accept": "application/json", **(headers or {})},
        body=json.dumps(payload).encode(),
        **kw,
    )


@dataclass(frozen=True)
class Response:
    """A complete HTTP response (body read unless the request said otherwise)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str
    request: Request
    body_skipped: bool = False

    def header(self, name: str) -> str | None:
        """A header value, case-insensitively."""
        lname = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lname:
                return value
        return None

    @property
    def content_type(self) -> str:
        """The media type, lower-cased, without parameters."""
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def snippet(self, limit: int = 200) -> str:
        """The start of the body as text, for error messages."""
        text = self.body[:limit].decode("utf-8", "replace")
        text = " ".join(text.split())
        return text + ("..." if len(self.body) > limit else "")

    def json(self, vendor: str) -> Any:
        """The body parsed as JSON, or a clear error naming what came back instead."""
        if self.body_skipped:
            raise ExportResponseError(vendor, self.request.safe_target, message="body was not read")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            kind = "an HTML page" if _looks_like_html(self) else "malformed JSON"
            raise ExportResponseError(
                vendor,
                self.request.safe_target,
                status=self.status,
                message=f"expected JSON, got {kind} ({self.content_type or 'no content type'}): "
                f"{self.snippet() or '<empty body>'}",
            ) from None

    def json_object(self, vendor: str) -> dict[str, Any]:
        """The body as a JSON object (dict), or a clear error."""
        data = self.json(vendor)
        if not isinstance(data, dict):
            raise ExportResponseError(
                vendor,
                self.request.safe_target,
                status=self.status,
                message=f"expected a JSON object, got {type(data).__name__}: {self.snippet()}",
            )
        return data

    # ---- answers checked against what the vendor documents ---------------------------------------

    @property
    def is_html(self) -> bool:
        """Whether this is an HTML page: labelled ``text/html``, or a body that opens like one."""
        return _looks_like_html(self)

    def described(self) -> str:
        """What came back, for messages: its kind, its content type and the start of the body."""
        media = self.content_type or "no content type"
        if self.body_skipped:
            return f"a body that was not read ({media})"
        if not self.body.strip():
            return f"an empty body ({media})"
        if self.is_html:
            kind = "an HTML page"
        else:
            try:
                json.loads(self.body)
            except (ValueError, UnicodeDecodeError):
                if "json" in self.content_type:
                    kind = "malformed JSON"
                elif self.content_type.startswith("text/"):
                    kind = "a text body that is not JSON"
                else:
                    kind = "a body that is not JSON"
            else:
                kind = "JSON"
        return f"{kind} ({media}): {self.snippet()}"

    def unexpected(self, vendor: str, expected: str, *, detail: str | None = None) -> ExportResponseError:
        """The error for a 2xx answer that is not the one the vendor documents for this call.

        It names the call (its words, method and path), the status, what was expected and what
        came back (kind, content type, start of the body); ``detail`` adds what else is wrong
        (a missing header...). A permanent error: the same call would get the same answer.
        """
        message = f"expected {expected}, got {self.described()}"
        if detail:
            message += f"; {detail}"
        return ExportResponseError(
            vendor, f"{self.request.what} ({self.request.safe_target})", status=self.status, message=message
        )

    def documented_json(
        self, vendor: str, expected: str, *, statuses: Collection[int] = ()
    ) -> dict[str, Any]:
        """The body of an answer the vendor documents as a JSON object, or :meth:`unexpected`.

        The status must be one of ``statuses`` (any 2xx when the docs name none), the answer no
        HTML page (by its label or its first bytes, whatever the body parses as), and the body
        a JSON object. ``expected`` says what the docs describe, for the message.
        """
        if (statuses and self.status not in statuses) or self.is_html or self.body_skipped:
            raise self.unexpected(vendor, expected)
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise self.unexpected(vendor, expected) from None
        if not isinstance(data, dict):
            raise self.unexpected(vendor, expected)
        return data


def _looks_like_html(resp: Response) -> bool:
    head = resp.body[:200].lstrip().lower()
    return resp.content_type == "text/html" or head.startswith((b"<!doctype html", b"<html"))


def path_segment(value: str) -> str:
    """Percent-encode one path segment: ``/``, ``..``, ``%`` and spaces cannot change the path."""
    if not value:
        raise ExportConfigError("an empty id cannot be used in a URL path")
    if value in (".", ".."):
        # '.' and '..' are resolved away by clients and servers even when alone in a segment.
        return value.replace(".", "%2E")
    return quote(value, safe="")


@functools.lru_cache(maxsize=1024)  # a connection's few base URLs are asked on every request
def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and effective port of a URL (the unit credentials are bound to)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def resolve_url(url: str, base: str) -> str:
    """Join a path-only URL to a base URL; leave absolute URLs alone."""
    if url.startswith(("http://", "https://")):
        return url
    return base.rstrip("/") + "/" + url.lstrip("/")


def no_io(value: T) -> Op[T]:
    """An operation that needs no HTTP call and returns ``value``."""
    return value
    yield  # pragma: no cover - makes this function a generator
