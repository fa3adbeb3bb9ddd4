"""Checking a Huawei Cloud ``SDK-HMAC-SHA256`` signature, as the API gateway does.

Only the emulators use this (:mod:`airflow_provider_exports.testing.huawei`); the hooks sign
(:mod:`airflow_provider_exports.hooks.huawei.signing`), and both sides share that module's
canonical form, so what one signs the other checks by the same definition.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from airflow_provider_exports.hooks.huawei.signing import (
    HEADER_AUTHORIZATION,
    HEADER_DATE,
    SIGNING_ALGORITHM,
    canonical_request,
    compute_signature,
    format_sdk_date,
    lower_header_map,
    parse_sdk_date,
    payload_hash,
    string_to_sign,
)

_HEX_SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ParsedAuthorization:
    """The fields of an ``SDK-HMAC-SHA256`` ``Authorization`` header."""

    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> ParsedAuthorization | None:
    """Parse an ``SDK-HMAC-SHA256`` ``Authorization`` header; ``None`` if malformed."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != SIGNING_ALGORITHM:
        return None
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, field_value = part.strip().partition("=")
        if not sep or name in fields:
            return None
        fields[name] = field_value.strip()
    if set(fields) != {"Access", "SignedHeaders", "Signature"}:
        return None
    signed = tuple(fields["SignedHeaders"].split(";"))
    if not fields["Access"] or not all(signed):
        return None
    return ParsedAuthorization(fields["Access"], signed, fields["Signature"])


def verify_signature(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    lookup_secret: Callable[[str], str | None],
    *,
    max_skew_seconds: int = 900,
    now: datetime | None = None,
) -> str | None:
    """Check the ``SDK-HMAC-SHA256`` signature of a received request.

    ``raw_path`` and ``raw_query`` are the path and query string (without
    ``?``) exactly as received, still percent-encoded; ``headers`` are the
    received headers (names case-insensitive); ``lookup_secret`` maps an access
    key to its secret key, or ``None`` if unknown. ``X-Sdk-Date`` must be
    signed and within ``max_skew_seconds`` of ``now`` (default: current UTC
    time; naive means UTC).

    Returns ``None`` if the request is authentic, else a short reason such as
    ``"missing Authorization"``, ``"unknown access key"``,
    ``"X-Sdk-Date too far from server time"`` or ``"signature mismatch"``. The
    reason never contains the secret key.
    """
    try:
        lowered = lower_header_map(headers)
    except ValueError:
        return "duplicate header"
    auth_value = lowered.get(HEADER_AUTHORIZATION.lower())
    if auth_value is None:
        return "missing Authorization"
    auth = parse_authorization(auth_value)
    if auth is None:
        if auth_value.strip().partition(" ")[0] != SIGNING_ALGORITHM:
            return "unsupported signing algorithm"
        return "malformed Authorization"
    if not _HEX_SIGNATURE_RE.fullmatch(auth.signature):
        return "malformed Authorization"
    signed = [name.lower() for name in auth.signed_headers]
    if HEADER_DATE.lower() not in signed:
        return "X-Sdk-Date not signed"
    for name in signed:
        if name not in lowered:
            return f"signed header {name} missing"
    sdk_date = lowered[HEADER_DATE.lower()]
    parsed = parse_sdk_date(sdk_date)
    if parsed is None:
        return "malformed X-Sdk-Date"

    secret_key = lookup_secret(auth.access_key)
    if not secret_key:
        return "unknown access key"

    current = now if now is not None else datetime.now(timezone.utc)
    if current.tzinfo is None:
        current = current.replace(tzinfo=timezone.utc)
    if abs((current - parsed).total_seconds()) > max_skew_seconds:
        return "X-Sdk-Date too far from server time"

    # Only a signed X-Sdk-Content-Sha256 may stand in for the body hash; an
    # unsigned one could otherwise be added to replay a signature with another body.
    signed_values = {name: lowered[name] for name in signed}
    canonical = canonical_request(
        method, raw_path, raw_query, lowered, signed, payload_hash(body, signed_values)
    )
    expected = compute_signature(string_to_sign(canonical, format_sdk_date(parsed)), secret_key)
    if not hmac.compare_digest(expected, auth.signature):
        return "signature mismatch"
    return None
