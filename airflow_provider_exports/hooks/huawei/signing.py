"""Huawei Cloud AK/SK request signing, algorithm ``SDK-HMAC-SHA256``.

Pure functions (no I/O, no HTTP client imports) that reproduce the behaviour of
``huaweicloudsdkcore.signer.signer.Signer`` from the official Huawei Cloud
Python SDK:

* :func:`sign_headers` returns the complete header set for an outgoing request;
* the smaller helpers (:func:`canonical_uri`, :func:`canonical_query_string`,
  :func:`canonical_request`, :func:`string_to_sign`, :func:`compute_signature`,
  ...) expose the individual steps, so that the emulators' check of a received
  request (:func:`airflow_provider_exports.testing.huawei_signing.verify_signature`)
  shares one definition with the signer.

Canonical form, as implemented by the SDK:

* canonical URI: the wire path percent-decoded, split on ``/``, each segment
  re-encoded with ``quote(segment, safe="~")`` and a trailing ``/`` appended
  when missing (the wire path itself is not changed). A ``%2F`` in the wire
  path therefore becomes a ``/`` separator in the canonical URI;
* canonical query string: ``key=value`` pairs percent-decoded, sorted by the
  decoded ``(key, value)``, re-encoded with ``quote(..., safe="~")`` and joined
  with ``&``. ``+`` in a wire query is a literal plus sign (the SDK itself
  always sends spaces as ``%20``), so build query strings with
  ``urllib.parse.quote`` rather than ``quote_plus``;
* every header whose name has no ``_`` is signed (lower-cased name, stripped
  value);
* the payload hash is the lower-case hex SHA-256 of the body, the empty-string
  hash for an empty body, or the value of ``X-Sdk-Content-Sha256`` (set to
  ``UNSIGNED-PAYLOAD`` for content types other than JSON/BSON).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TypeAlias
from urllib.parse import quote, unquote, urlsplit

SIGNING_ALGORITHM = "SDK-HMAC-SHA256"
"""Value of the algorithm field of the ``Authorization`` header."""

SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
"""``strftime`` format of the ``X-Sdk-Date`` header (UTC), e.g. ``20200608T023900Z``."""

HEADER_DATE = "X-Sdk-Date"
HEADER_HOST = "Host"
HEADER_AUTHORIZATION = "Authorization"
HEADER_CONTENT_SHA256 = "X-Sdk-Content-Sha256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_BODY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
"""Hex SHA-256 of the empty byte string, the payload hash of a request without body."""

# Same object as timezone.utc; datetime.UTC needs Python 3.11.
_UTC = timezone(timedelta(0))
_HASHED_CONTENT_TYPE_PREFIXES = ("application/json", "application/bson")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SDK_DATE_RE = re.compile(r"\d{8}T\d{6}Z")

QueryScalar: TypeAlias = "str | int | float | bool"
"""A single query parameter value as accepted by :func:`canonical_query_string`."""

QueryValue: TypeAlias = "QueryScalar | Sequence[QueryScalar]"
"""A query parameter value; a non-string sequence stands for a repeated key."""


def _encode(text: str) -> str:
    """Percent-encode ``text`` the way the SDK does (RFC 3986 unreserved kept)."""
    return quote(text, safe="~")


def canonical_uri(raw_path: str) -> str:
    """Return the canonical URI of a wire (percent-encoded) request path.

    An empty path is treated as ``/``. The result always ends with ``/``.
    """
    if not raw_path:
        raw_path = "/"
    path = "/".join(_encode(segment) for segment in unquote(raw_path).split("/"))
    if not path.endswith("/"):
        path += "/"
    return path


def parse_query(raw_query: str) -> list[tuple[str, str]]:
    """Split a wire query string (without ``?``) into decoded ``(key, value)`` pairs.

    Order and repeated keys are kept; ``k`` without ``=`` has the value ``""``;
    empty ``&&`` items are skipped; ``+`` stays a literal plus sign.
    """
    pairs: list[tuple[str, str]] = []
    for item in raw_query.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        pairs.append((unquote(key), unquote(value)))
    return pairs


def _render_query_value(value: QueryScalar) -> str:
    """Render one query value as the SDK does (booleans as ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def canonical_query_string(params: Iterable[tuple[str, QueryValue]]) -> str:
    """Return the canonical query string of decoded ``(key, value)`` parameters.

    A sequence value (other than a string) stands for the key repeated once per
    item. Values are rendered to strings (booleans as ``true``/``false``) before
    sorting by ``(key, value)``, i.e. in the order a server that only sees the
    wire strings would use. Returns ``""`` for no parameters.
    """
    flat: list[tuple[str, str]] = []
    for key, value in params:
        if isinstance(value, (str, bool, int, float)):
            flat.append((key, _render_query_value(value)))
        else:
            flat.extend((key, _render_query_value(item)) for item in value)
    flat.sort()
    return "&".join(f"{_encode(key)}={_encode(value)}" for key, value in flat)


def lower_header_map(headers: Mapping[str, str]) -> dict[str, str]:
    """Index headers by lower-cased name; ``ValueError`` on conflicting duplicates."""
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in lowered and lowered[key] != value:
            raise ValueError(f"duplicate header {name!r}")
        lowered[key] = value
    return lowered


def _get_header(headers: Mapping[str, str], name: str) -> str | None:
    """Return the value of header ``name`` (case-insensitive), or ``None``."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def signed_header_names(headers: Iterable[str]) -> list[str]:
    """Return the names of the headers to sign: lower-cased, sorted, without ``_``."""
    return sorted({name.lower() for name in headers if "_" not in name})


def canonical_headers(headers: Mapping[str, str], signed_headers: Sequence[str]) -> str:
    """Return the canonical headers block: one ``name:value`` line per signed header.

    Every line, the last one included, ends with a newline.

    ``headers`` is looked up case-insensitively; each name in ``signed_headers``
    must be present (``KeyError`` otherwise).
    """
    lowered = lower_header_map(headers)
    return "".join(f"{name.lower()}:{lowered[name.lower()].strip()}\n" for name in signed_headers)


def payload_hash(body: bytes, headers: Mapping[str, str]) -> str:
    """Return the payload hash that goes into the canonical request.

    The empty-string hash for an empty body, else the value of
    ``X-Sdk-Content-Sha256`` when present, else the hex SHA-256 of ``body``.
    """
    if not body:
        return EMPTY_BODY_SHA256
    declared = _get_header(headers, HEADER_CONTENT_SHA256)
    if declared:
        return declared
    return hashlib.sha256(body).hexdigest()


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body_hash: str,
) -> str:
    """Return the canonical request string.

    ``raw_path`` and ``raw_query`` are the wire (percent-encoded) path and query
    string without ``?``; ``headers`` must contain every name in
    ``signed_headers``; ``body_hash`` is the value from :func:`payload_hash`.
    """
    names = [name.lower() for name in signed_headers]
    return "\n".join(
        (
            method.upper(),
            canonical_uri(raw_path),
            canonical_query_string(parse_query(raw_query)),
            canonical_headers(headers, names),
            ";".join(names),
            body_hash,
        )
    )


def string_to_sign(canonical_req: str, sdk_date: str) -> str:
    """Return the string to sign for a canonical request and its ``X-Sdk-Date``."""
    digest = hashlib.sha256(canonical_req.encode("utf-8")).hexdigest()
    return f"{SIGNING_ALGORITHM}\n{sdk_date}\n{digest}"


def compute_signature(string_to_sign_value: str, secret_key: str) -> str:
    """Return the lower-case hex HMAC-SHA256 signature of a string to sign."""
    return hmac.new(
        secret_key.encode("utf-8"), string_to_sign_value.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def authorization_header(access_key: str, signed_headers: Sequence[str], signature: str) -> str:
    """Return the ``Authorization`` header value for the given fields."""
    return (
        f"{SIGNING_ALGORITHM} Access={access_key}, "
        f"SignedHeaders={';'.join(signed_headers)}, Signature={signature}"
    )


def format_sdk_date(moment: datetime) -> str:
    """Format a datetime as an ``X-Sdk-Date`` value; a naive datetime is UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(_UTC)
    return moment.strftime(SDK_DATE_FORMAT)


def parse_sdk_date(value: str) -> datetime | None:
    """Parse an ``X-Sdk-Date`` value to an aware UTC datetime; ``None`` if malformed."""
    value = value.strip()
    if not _SDK_DATE_RE.fullmatch(value):
        return None
    try:
        return datetime.strptime(value, SDK_DATE_FORMAT).replace(tzinfo=_UTC)
    except ValueError:
        return None


def _wire_host(scheme: str, url: str) -> str:
    """Return the ``Host`` header value that HTTP clients send for ``url``."""
    parts = urlsplit(url)
    hostname = parts.hostname
    if not hostname:
        raise ValueError("url has no host")
    if not hostname.isascii():
        raise ValueError("non-ASCII host names are not supported; use the IDNA (xn--) form")
    if ":" in hostname:
        hostname = f"[{hostname}]"
    port = parts.port
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return hostname
    return f"{hostname}:{port}"


def _check_header(name: str, value: str) -> None:
    """Reject header names and values other than ASCII without CR/LF."""
    for text in (name, value):
        if not text.isascii() or "\r" in text or "\n" in text:
            raise ValueError(f"header {name!r}: only ASCII without CR/LF is supported")
    if not name or ":" in name or name != name.strip():
        raise ValueError(f"invalid header name {name!r}")


def sign_headers(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    access_key: str,
    secret_key: str,
    *,
    now: datetime | None = None,
) -> dict[str, str]:
    """Return the complete, signed header set for a request.

    ``url`` is the absolute ``http``/``https`` URL exactly as it will be sent
    (percent-encoded path and query; a fragment is ignored). The result holds
    the input headers (values stripped of surrounding whitespace) plus:

    * ``X-Sdk-Date`` -- ``now`` (default: current UTC time; naive means UTC),
      unless the input already has one, which is then kept and used;
    * ``Host`` -- always present: the input's own ``Host`` if given, else the
      lower-cased host name from ``url`` with the port only when it is not the
      scheme's default (80/443), i.e. what ``requests`` and ``aiohttp`` would
      send themselves. Both clients send a caller-supplied ``Host`` verbatim,
      so passing the result unchanged gives the server the signed value;
    * ``X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`` when a ``Content-Type`` is
      present that does not start with ``application/json`` or
      ``application/bson`` (the body is then not covered by the signature).
      Unlike the SDK, which only looks at the exact spelling ``Content-Type``,
      the header name is matched case-insensitively;
    * ``Authorization``.

    Every header whose name contains no ``_`` is signed, so the caller must not
    add or change headers afterwards (extra headers added by the HTTP client,
    such as ``User-Agent`` or ``Content-Length``, are fine as they are not
    signed). The input mapping is not modified.

    Raises ``ValueError`` for an unsupported URL, an ``Authorization`` header
    already present, duplicate header names (case-insensitive), non-ASCII or
    CR/LF in headers, or a malformed ``X-Sdk-Date``.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"unsupported URL scheme {parts.scheme!r}")
    if not access_key or not secret_key:
        raise ValueError("access_key and secret_key are required")

    result: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in headers.items():
        _check_header(name, value)
        if name.lower() in seen:
            raise ValueError(f"duplicate header {name!r}")
        seen.add(name.lower())
        result[name] = value.strip()
    if HEADER_AUTHORIZATION.lower() in seen:
        raise ValueError("headers already contain Authorization")

    content_type = _get_header(headers, "Content-Type")
    if content_type and not content_type.startswith(_HASHED_CONTENT_TYPE_PREFIXES):
        for name in [n for n in result if n.lower() == HEADER_CONTENT_SHA256.lower()]:
            del result[name]
        result[HEADER_CONTENT_SHA256] = UNSIGNED_PAYLOAD

    sdk_date = _get_header(result, HEADER_DATE)
    if sdk_date is None:
        sdk_date = format_sdk_date(now if now is not None else datetime.now(_UTC))
        result[HEADER_DATE] = sdk_date
    else:
        parsed = parse_sdk_date(sdk_date)
        if parsed is None:
            raise ValueError(f"malformed {HEADER_DATE} header {sdk_date!r}")
        sdk_date = format_sdk_date(parsed)

    if _get_header(result, HEADER_HOST) is None:
        result[HEADER_HOST] = _wire_host(scheme, url)

    names = signed_header_names(result)
    canonical = canonical_request(method, parts.path, parts.query, result, names, payload_hash(body, result))
    signature = compute_signature(string_to_sign(canonical, sdk_date), secret_key)
    result[HEADER_AUTHORIZATION] = authorization_header(access_key, names, signature)
    return result
