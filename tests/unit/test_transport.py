"""Pure parts of the transport: retry policy, Retry-After, path encoding, origins, redaction."""

from __future__ import annotations

import email.utils
import time

import pytest

from airflow_provider_exports.errors import ExportConfigError, TransientError
from airflow_provider_exports.transport.auth import Credential, Endpoint, NoAuth
from airflow_provider_exports.transport.engine import Redactor
from airflow_provider_exports.transport.model import Request, Response, origin, path_segment, resolve_url
from airflow_provider_exports.transport.redirects import next_hop
from airflow_provider_exports.transport.retry import RetryPolicy, parse_retry_after

GET = Request("GET", "/x", "status")
POST = Request("POST", "/x", "start", idempotent=False)


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= (parse_retry_after(date, now=now) or 0) <= 31
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_policy_honours_retry_after_with_cap() -> None:
    policy = RetryPolicy(retry_after_max=100)
    assert policy.delay(1, TransientError("w", "429", status=429, retry_after=3)) == 3
    assert policy.delay(1, TransientError("w", "429", status=429, retry_after=10_000)) == 100


def test_backoff_grows_with_jitter_and_cap() -> None:
    policy = RetryPolicy(backoff=1.0, backoff_max=8.0)
    for attempt, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 256.0)]:
        delays = {policy.delay(attempt, None) for _ in range(50)}
        assert all(min(0.5 * base, 8.0) <= d <= min(1.5 * base, 8.0) for d in delays)
        if base * 0.5 < 8.0:
            assert len(delays) > 1  # jittered
    assert max(policy.delay(4, None) for _ in range(200)) <= 8.0  # never beyond the cap


def test_post_is_resent_only_when_surely_not_processed() -> None:
    policy = RetryPolicy()
    assert policy.should_retry(GET, TransientError("w", "502", status=502))
    assert not policy.should_retry(POST, TransientError("w", "502", status=502))
    assert not policy.should_retry(POST, TransientError("w", "read timed out"))
    assert policy.should_retry(POST, TransientError("w", "429", status=429))
    assert policy.should_retry(POST, TransientError("w", "refused", sent=False))
    assert not policy.should_retry(GET, ValueError("not transient"))


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("../x", "..%2Fx"),
        ("a/b", "a%2Fb"),
        ("%2F", "%252F"),
        ("with space", "with%20space"),
        ("ünï", "%C3%BCn%C3%AF"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("plain_ID-1", "plain_ID-1"),
    ],
)
def test_path_segment_never_changes_the_path(raw: str, encoded: str) -> None:
    assert path_segment(raw) == encoded
    assert "/" not in path_segment(raw)


def test_empty_id_is_refused() -> None:
    with pytest.raises(ExportConfigError):
        path_segment("")


def test_origins_and_credential_policy() -> None:
    assert origin("https://A.example.com/x") == ("https", "a.example.com", 443)
    assert origin("https://a.example.com:443/") == origin("https://a.example.com")
    assert origin("http://a.example.com") != origin("https://a.example.com")
    endpoint = Endpoint("https://api.example.com", NoAuth(), "k")
    pod = Credential("t", base_url="https://pod.example.com/saas")
    assert endpoint.may_authenticate("https://api.example.com/file", None)
    assert not endpoint.may_authenticate("https://cdn.example.com/file", None)
    assert not endpoint.may_authenticate("https://api.example.com:8443/file", None)
    assert endpoint.may_authenticate("https://pod.example.com/x", pod)
    assert Endpoint("https://api.example.com", NoAuth(), "k", allow_cross_origin_auth=True).may_authenticate(
        "https://cdn.example.com/file", None
    )


def test_resolve_url() -> None:
    assert resolve_url("/a/b", "https://h/base/") == "https://h/base/a/b"
    assert resolve_url("https://other/x", "https://h") == "https://other/x"


def test_redirect_drops_nothing_but_sends_no_auth_headers() -> None:
    original = Request("GET", "https://api.example.com/file", "download", headers={"Accept": "*/*"})
    resp = Response(302, {"Location": "https://cdn.example.com/f.zip"}, b"", original.url, original)
    hop = next_hop(resp, original)
    assert hop is not None and hop.url == "https://cdn.example.com/f.zip"
    assert "Authorization" not in hop.headers and hop.headers["Accept"] == "*/*"
    post = Request("POST", "https://api.example.com/x", "start", body=b"{}")
    see_other = next_hop(Response(303, {"Location": "/y"}, b"", post.url, post), post)
    assert see_other is not None and see_other.method == "GET" and see_other.body is None
    assert next_hop(Response(200, {}, b"", post.url, post), post) is None


def test_redactor_scrubs_secrets_from_exceptions() -> None:
    redactor = Redactor(["s3cr3t-token-value"])
    exc = ValueError("server echoed s3cr3t-token-value back")
    redactor.scrub_exception(exc)
    assert "s3cr3t" not in str(exc) and "***" in str(exc)
    assert Redactor(["ab"]).scrub("ab cd") == "ab cd"  # too short to be a secret


def test_safe_target_hides_query_and_userinfo() -> None:
    req = Request("GET", "https://user:pw@h.example.com/path/x?token=abc", "w")
    assert req.safe_target == "GET /path/x"
