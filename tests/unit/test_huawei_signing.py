"""Tests for the Huawei Cloud ``SDK-HMAC-SHA256`` AK/SK request signer."""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import threading
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from airflow_provider_exports.hooks.huawei.signing import (
    EMPTY_BODY_SHA256,
    SIGNING_ALGORITHM,
    authorization_header,
    canonical_query_string,
    canonical_request,
    canonical_uri,
    compute_signature,
    parse_query,
    payload_hash,
    sign_headers,
    signed_header_names,
    string_to_sign,
)
from airflow_provider_exports.testing.huawei_signing import parse_authorization, verify_signature

# --------------------------------------------------------------------------------------
# Test vectors (vendor-apis/huawei.md 1b; huaweicloud-sdk-core tests/test_signer.py)
# --------------------------------------------------------------------------------------

UTC = timezone(timedelta(0))  # datetime.UTC needs Python 3.11

SDK_AK = "AccessKey"
SDK_SK = "SecretKey"
SDK_URL = "https://service.endpoint.myhuaweicloud.com/resources?size=1"
SDK_HEADERS = {"X-Sdk-Date": "20200608T023900Z", "TEST_UNDERSCORE": "TEST_VALUE"}

SDK_GET_CANONICAL_REQUEST = (
    "GET\n"
    "/resources/\n"
    "size=1\n"
    "host:service.endpoint.myhuaweicloud.com\n"
    "x-sdk-date:20200608T023900Z\n"
    "\n"
    "host;x-sdk-date\n"
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)
SDK_GET_STRING_TO_SIGN = (
    "SDK-HMAC-SHA256\n20200608T023900Z\nde94dd1e1ccdb730b403ce35d7e14f7c7b04337f6def1c3a3a2ba936852b133f"
)
SDK_GET_AUTHORIZATION = (
    "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, "
    "Signature=cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842"
)
SDK_POST_BODY = b'{"name":"test","id":1}'
SDK_POST_BODY_SHA256 = "8ed555081b9961769014bc1182c629bb0fe68d7b01c1fc1caab4dc791f377e8c"
SDK_POST_AUTHORIZATION = (
    "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, "
    "Signature=436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f"
)


def test_algorithm_name() -> None:
    assert SIGNING_ALGORITHM == "SDK-HMAC-SHA256"


def test_sdk_get_vector() -> None:
    headers = sign_headers("GET", SDK_URL, SDK_HEADERS, b"", SDK_AK, SDK_SK)
    assert headers == {
        "X-Sdk-Date": "20200608T023900Z",
        "TEST_UNDERSCORE": "TEST_VALUE",
        "Host": "service.endpoint.myhuaweicloud.com",
        "Authorization": SDK_GET_AUTHORIZATION,
    }


def test_sdk_get_vector_intermediate_steps() -> None:
    headers = {**SDK_HEADERS, "Host": "service.endpoint.myhuaweicloud.com"}
    names = signed_header_names(headers)
    assert names == ["host", "x-sdk-date"]
    creq = canonical_request("get", "/resources", "size=1", headers, names, payload_hash(b"", headers))
    assert creq == SDK_GET_CANONICAL_REQUEST
    sts = string_to_sign(creq, "20200608T023900Z")
    assert sts == SDK_GET_STRING_TO_SIGN
    signature = compute_signature(sts, SDK_SK)
    assert authorization_header(SDK_AK, names, signature) == SDK_GET_AUTHORIZATION


def test_sdk_post_vector() -> None:
    assert hashlib.sha256(SDK_POST_BODY).hexdigest() == SDK_POST_BODY_SHA256
    assert payload_hash(SDK_POST_BODY, {}) == SDK_POST_BODY_SHA256
    headers = sign_headers("POST", SDK_URL, SDK_HEADERS, SDK_POST_BODY, SDK_AK, SDK_SK)
    assert headers["Authorization"] == SDK_POST_AUTHORIZATION
    assert "X-Sdk-Content-Sha256" not in headers


def test_sdk_canonical_query_string_vector() -> None:
    params: list[tuple[str, Any]] = [
        ("limit", 1),
        ("enable", True),
        ("test", "一 (&=?!#%.*)"),
        ("path", "/tmp/123"),
        ("multi", [1, 2, 3]),
    ]
    assert canonical_query_string(params) == (
        "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123"
        "&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29"
    )


def test_signing_guide_vector() -> None:
    sts = (
        "SDK-HMAC-SHA256\n20191115T033655Z\nb25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
    )
    assert (
        compute_signature(sts, "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc")
        == "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
    )


# --------------------------------------------------------------------------------------
# Individual rules
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_path", "expected"),
    [
        ("", "/"),
        ("/", "/"),
        ("/v2/p/export-tasks", "/v2/p/export-tasks/"),
        ("/v2/p/export-tasks/", "/v2/p/export-tasks/"),
        ("/v2/p%201/a~b", "/v2/p%201/a~b/"),
        ("/v2/%7e/%7E", "/v2/~/~/"),
        (
            "/a%2Fb",
            "/a/b/",
        ),  # %2F is decoded and then acts as a separator, as in the SDK
        ("/a+b/%2B", "/a%2Bb/%2B/"),
        ("/中文/é", "/%E4%B8%AD%E6%96%87/%C3%A9/"),
        ("/a//b", "/a//b/"),
        ("/!$&'()*,;=:@", "/%21%24%26%27%28%29%2A%2C%3B%3D%3A%40/"),
    ],
)
def test_canonical_uri(raw_path: str, expected: str) -> None:
    assert canonical_uri(raw_path) == expected


def test_parse_query_and_canonical_query() -> None:
    raw = "x=2&uuid=a%2Fb&x=1&&flag&empty=&plus=a+b&sp=a%20b&%E9%94%AE=%E5%80%BC&x=10"
    assert parse_query(raw) == [
        ("x", "2"),
        ("uuid", "a/b"),
        ("x", "1"),
        ("flag", ""),
        ("empty", ""),
        ("plus", "a+b"),
        ("sp", "a b"),
        ("键", "值"),
        ("x", "10"),
    ]
    assert canonical_query_string(parse_query(raw)) == (
        "empty=&flag=&plus=a%2Bb&sp=a%20b&uuid=a%2Fb&x=1&x=10&x=2&%E9%94%AE=%E5%80%BC"
    )
    assert canonical_query_string(parse_query("")) == ""


def test_underscore_headers_not_signed_but_sent() -> None:
    headers = sign_headers(
        "GET",
        "https://h.example.com/p",
        {"X_Custom": "1", "workspace": "ws1"},
        b"",
        "ak",
        "sk",
        now=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    assert headers["X_Custom"] == "1"
    auth = parse_authorization(headers["Authorization"])
    assert auth is not None
    assert auth.signed_headers == ("host", "workspace", "x-sdk-date")


@pytest.mark.parametrize(
    ("content_type", "unsigned"),
    [
        (None, False),
        ("application/json", False),
        ("application/json;charset=UTF-8", False),
        ("application/bson", False),
        ("application/octet-stream", True),
        ("text/plain", True),
        ("multipart/form-data; boundary=xyz", True),
        ("Application/JSON", True),  # the SDK's prefix test is case-sensitive
    ],
)
def test_unsigned_payload_for_non_json(content_type: str | None, unsigned: bool) -> None:
    base = {} if content_type is None else {"Content-Type": content_type}
    headers = sign_headers("PUT", "https://h.example.com/p", base, b"data", "ak", "sk")
    assert (headers.get("X-Sdk-Content-Sha256") == "UNSIGNED-PAYLOAD") is unsigned
    if unsigned:
        assert "x-sdk-content-sha256" in headers["Authorization"]
        assert payload_hash(b"data", headers) == "UNSIGNED-PAYLOAD"
    else:
        assert payload_hash(b"data", headers) == hashlib.sha256(b"data").hexdigest()
    # the SDK hashes an empty body as empty even when UNSIGNED-PAYLOAD is set
    assert payload_hash(b"", headers) == EMPTY_BODY_SHA256


@pytest.mark.parametrize(
    ("url", "host"),
    [
        (
            "https://dayu.cn-north-4.myhuaweicloud.com/v1",
            "dayu.cn-north-4.myhuaweicloud.com",
        ),
        (
            "https://dayu.cn-north-4.myhuaweicloud.com:443/v1",
            "dayu.cn-north-4.myhuaweicloud.com",
        ),
        ("https://h.example.com:8443/v1", "h.example.com:8443"),
        ("https://h.example.com:80/v1", "h.example.com:80"),
        ("http://h.example.com:80/v1", "h.example.com"),
        ("http://h.example.com:443/v1", "h.example.com:443"),
        ("HTTPS://H.Example.COM:8443/v1", "h.example.com:8443"),
        ("https://user:pw@h.example.com/v1", "h.example.com"),
        ("http://[::1]:8080/v1", "[::1]:8080"),
        ("http://[::1]/v1", "[::1]"),
    ],
)
def test_host_derivation(url: str, host: str) -> None:
    headers = sign_headers("GET", url, {}, b"", "ak", "sk")
    assert headers["Host"] == host


def test_caller_host_and_date_are_kept() -> None:
    given = {"host": "proxy.example.com", "x-sdk-date": "20240102T030405Z"}
    headers = sign_headers("GET", "https://h.example.com/p", given, b"", "ak", "sk")
    assert headers["host"] == "proxy.example.com"
    assert headers["x-sdk-date"] == "20240102T030405Z"
    assert "Host" not in headers
    assert "X-Sdk-Date" not in headers


def test_date_formats() -> None:
    url = "https://h.example.com/p"
    aware = datetime(2024, 1, 2, 11, 4, 5, tzinfo=timezone(timedelta(hours=8)))
    assert sign_headers("GET", url, {}, b"", "a", "s", now=aware)["X-Sdk-Date"] == "20240102T030405Z"
    naive = datetime(2024, 1, 2, 3, 4, 5)
    assert sign_headers("GET", url, {}, b"", "a", "s", now=naive)["X-Sdk-Date"] == "20240102T030405Z"
    before = datetime.now(UTC).replace(microsecond=0)
    current = sign_headers("GET", url, {}, b"", "a", "s")["X-Sdk-Date"]
    parsed = datetime.strptime(current, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert before <= parsed <= datetime.now(UTC)


def test_input_not_mutated_and_values_stripped() -> None:
    given = {"Workspace": "  ws1  ", "Content-Type": "application/json"}
    snapshot = dict(given)
    headers = sign_headers("POST", "https://h.example.com/p", given, b"{}", "ak", "sk")
    assert given == snapshot
    assert headers["Workspace"] == "ws1"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "x"},
        {"A": "1", "a": "2"},
        {"X-Bad": "a\r\nInjected: 1"},
        {"X-Uni": "é"},
        {"X-Sdk-Date": "2024-01-02T03:04:05Z"},
    ],
)
def test_sign_headers_rejects(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        sign_headers("GET", "https://h.example.com/p", headers, b"", "ak", "sk")


@pytest.mark.parametrize("url", ["ftp://h.example.com/p", "https:///p", "https://hé.example/p"])
def test_sign_headers_rejects_url(url: str) -> None:
    with pytest.raises(ValueError):
        sign_headers("GET", url, {}, b"", "ak", "sk")


def test_parse_authorization() -> None:
    parsed = parse_authorization(SDK_GET_AUTHORIZATION)
    assert parsed is not None
    assert parsed.access_key == "AccessKey"
    assert parsed.signed_headers == ("host", "x-sdk-date")
    assert parsed.signature.startswith("cfb4171a")
    assert parse_authorization("Bearer abc") is None
    assert parse_authorization("SDK-HMAC-SHA256 Access=a, Signature=b") is None
    assert parse_authorization("SDK-HMAC-SHA256 Access=a, SignedHeaders=;, Signature=b") is None


# --------------------------------------------------------------------------------------
# Round trip with verify_signature
# --------------------------------------------------------------------------------------

KEYS = {"AKROUNDTRIP": "secret-for-round-trip"}
NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
RT_URL = "https://dayu.cn-north-4.myhuaweicloud.com:8443/v2/p%201/design/export-result?uuid=a%2Fb&x=1&x=2"
RT_BODY = b'{"ids":["1","2"]}'
RT_HEADERS = {
    "Content-Type": "application/json;charset=UTF-8",
    "workspace": "ws-1",
    "X_Trace": "t",
}


def _signed() -> dict[str, str]:
    return sign_headers("POST", RT_URL, RT_HEADERS, RT_BODY, "AKROUNDTRIP", KEYS["AKROUNDTRIP"], now=NOW)


def _verify(
    headers: dict[str, str],
    *,
    method: str = "POST",
    path: str = "/v2/p%201/design/export-result",
    query: str = "uuid=a%2Fb&x=1&x=2",
    body: bytes = RT_BODY,
    keys: dict[str, str] | None = None,
    now: datetime = NOW,
) -> str | None:
    table = KEYS if keys is None else keys
    return verify_signature(method, path, query, headers, body, table.get, now=now)


def test_round_trip_accepts() -> None:
    headers = _signed()
    assert _verify(headers) is None
    # header names are case-insensitive on the server; query items may come in any order
    assert _verify({k.lower(): v for k, v in headers.items()}) is None
    assert _verify(headers, query="x=1&uuid=a%2fb&x=2") is None
    assert _verify(headers, path="/v2/p%201/design/export-result/") is None
    assert _verify(headers, method="post") is None
    # unsigned headers may be added or changed by clients and proxies
    assert _verify({**headers, "X_Trace": "other", "User_Agent": "x"}) is None
    # within the allowed skew
    assert _verify(headers, now=NOW + timedelta(minutes=14)) is None
    assert _verify(headers, now=NOW - timedelta(minutes=14)) is None


def test_round_trip_unsigned_payload_allows_any_body() -> None:
    headers = sign_headers(
        "PUT",
        RT_URL,
        {"Content-Type": "text/plain"},
        b"abc",
        "AKROUNDTRIP",
        KEYS["AKROUNDTRIP"],
        now=NOW,
    )
    assert _verify(headers, method="PUT", body=b"abc") is None
    assert _verify(headers, method="PUT", body=b"other") is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"path": "/v2/p%202/design/export-result"}, "signature mismatch"),
        ({"query": "uuid=a%2Fc&x=1&x=2"}, "signature mismatch"),
        ({"query": "uuid=a%2Fb&x=1"}, "signature mismatch"),
        ({"query": "uuid=a%2Fb&x=1&x=2&y=3"}, "signature mismatch"),
        ({"body": b'{"ids":["1","3"]}'}, "signature mismatch"),
        ({"body": b""}, "signature mismatch"),
        ({"method": "PUT"}, "signature mismatch"),
        ({"keys": {"AKROUNDTRIP": "wrong-secret"}}, "signature mismatch"),
        ({"keys": {}}, "unknown access key"),
        ({"now": NOW + timedelta(minutes=16)}, "X-Sdk-Date too far from server time"),
        ({"now": NOW - timedelta(minutes=16)}, "X-Sdk-Date too far from server time"),
    ],
)
def test_round_trip_rejects_request_changes(change: dict[str, Any], reason: str) -> None:
    assert _verify(_signed(), **change) == reason


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("workspace", "ws-2"),
        ("Content-Type", "application/json"),
        ("Host", "dayu.cn-north-4.myhuaweicloud.com"),
        ("X-Sdk-Date", "20250304T050608Z"),
    ],
)
def test_round_trip_rejects_tampered_signed_header(name: str, value: str) -> None:
    headers = _signed()
    headers[name] = value
    assert _verify(headers) == "signature mismatch"


def test_round_trip_rejects_added_content_sha256() -> None:
    # an unsigned X-Sdk-Content-Sha256 must not stand in for the body hash
    headers = _signed()
    headers["X-Sdk-Content-Sha256"] = hashlib.sha256(RT_BODY).hexdigest()
    assert _verify(headers, body=b'{"evil":1}') == "signature mismatch"


def test_round_trip_rejects_malformed() -> None:
    headers = _signed()
    without_auth = {k: v for k, v in headers.items() if k != "Authorization"}
    assert _verify(without_auth) == "missing Authorization"
    assert _verify({**headers, "Authorization": "Bearer x"}) == "unsupported signing algorithm"
    assert _verify({**headers, "Authorization": "SDK-HMAC-SHA256 junk"}) == "malformed Authorization"
    bad_sig = headers["Authorization"].rsplit("=", 1)[0] + "=XYZ"
    assert _verify({**headers, "Authorization": bad_sig}) == "malformed Authorization"
    without_host = {k: v for k, v in headers.items() if k != "Host"}
    assert _verify(without_host) == "signed header host missing"
    assert _verify({**headers, "X-Sdk-Date": "yesterday"}) == "malformed X-Sdk-Date"
    auth = parse_authorization(headers["Authorization"])
    assert auth is not None
    no_date = authorization_header(
        auth.access_key,
        [h for h in auth.signed_headers if h != "x-sdk-date"],
        auth.signature,
    )
    assert _verify({**headers, "Authorization": no_date}) == "X-Sdk-Date not signed"


def test_reasons_never_contain_secret() -> None:
    secret = KEYS["AKROUNDTRIP"]
    headers = _signed()
    for change in (
        {"body": b"x"},
        {"keys": {"AKROUNDTRIP": secret + "x"}},
        {"query": ""},
    ):
        reason = _verify(headers, **change)
        assert reason is not None
        assert secret not in reason


# --------------------------------------------------------------------------------------
# Cross-check against the official SDK (huaweicloudsdkcore), test-only dependency
# --------------------------------------------------------------------------------------

CROSS_CHECK_CASES = 300

_SEGMENT_ALPHABET = "abcxyzABCXYZ0189-._~ !$&'()*+,;=:@%/?#[]\"<>^`{|}\\é中文🙂"
_QUERY_ALPHABET = "abcXYZ019-._~ !$'()*+,;:@/?%&=#[]é键值🙂"
_PCHAR_SAFE = "~!$&'()*+,;=:@"
_QUERY_SAFE = "~!$'()*,;:@/?"
_CONTENT_TYPES = [
    None,
    "application/json",
    "application/json;charset=UTF-8",
    "application/bson",
    "application/octet-stream",
    "text/plain",
    "multipart/form-data; boundary=----x",
    "application/x-www-form-urlencoded",
]


def _random_text(rng: random.Random, alphabet: str, max_len: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, max_len)))


def _encode_component(rng: random.Random, text: str, safe: str) -> str:
    encoded = quote(text, safe=rng.choice(["", "~", safe]))
    if rng.random() < 0.3:  # lower-case hex digits are equivalent on the wire
        encoded = "%".join(
            part if i == 0 else part[:2].lower() + part[2:] for i, part in enumerate(encoded.split("%"))
        )
    return encoded


def _generate_case(index: int) -> dict[str, Any]:
    rng = random.Random(f"huawei-signing-cross-check-{index}")
    scheme = rng.choice(["http", "https"])
    host = rng.choice(["dayu", "workspace", "iam", "service.endpoint"]) + ".cn-north-4.myhuaweicloud.com"
    default_port = 443 if scheme == "https" else 80
    port = rng.choice([None, default_port, 8443, 8080, 31943])
    netloc = host if port is None else f"{host}:{port}"
    wire_host = host if port in (None, default_port) else f"{host}:{port}"

    segments = [_random_text(rng, _SEGMENT_ALPHABET, 8) for _ in range(rng.randint(0, 5))]
    path = "/" + "/".join(_encode_component(rng, s, _PCHAR_SAFE) for s in segments)
    if segments and rng.random() < 0.3:
        path += "/"
    if path == "/" and rng.random() < 0.5:
        path = "/v1"

    pairs: list[tuple[str, str]] = []
    keys = [_random_text(rng, _QUERY_ALPHABET, 5) or "k" for _ in range(rng.randint(0, 4))]
    for _ in range(rng.randint(0, 6)):
        key = (
            rng.choice(keys)
            if keys and rng.random() < 0.5
            else (_random_text(rng, _QUERY_ALPHABET, 5) or "q")
        )
        value = "" if rng.random() < 0.2 else _random_text(rng, _QUERY_ALPHABET, 6)
        pairs.append((key, value))
    items = []
    for key, value in pairs:
        encoded_key = _encode_component(rng, key, _QUERY_SAFE)
        if value == "" and rng.random() < 0.5:
            items.append(encoded_key)
        else:
            items.append(f"{encoded_key}={_encode_component(rng, value, _QUERY_SAFE)}")
    query = "&".join(items)
    url = f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")

    headers: dict[str, str] = {}
    content_type = rng.choice(_CONTENT_TYPES)
    if content_type is not None:
        headers["Content-Type"] = content_type
    optional = {
        "workspace": "ws-" + str(rng.randint(0, 999)),
        "X-Project-Id": "0123456789abcdef" * 2,
        "User-Agent": "huaweicloud-usdk-python/3.0",
        "X-Security-Token": "token+/=" * 3,
        "X_Underscore_Header": "not signed",
        "Accept": "  application/json  ",
        "X-Empty": "",
    }
    for name, value in optional.items():
        if rng.random() < 0.4:
            headers[name] = value
    moment = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 10**9))
    sdk_date = moment.strftime("%Y%m%dT%H%M%SZ")
    date_in_headers = rng.random() < 0.3
    if date_in_headers:
        headers["X-Sdk-Date"] = sdk_date

    body_kind = rng.choice(["empty", "json", "bytes"])
    if body_kind == "empty":
        body = b""
    elif body_kind == "json":
        name = _random_text(rng, "abcé中", 6)
        body = f'{{"name":"{name}","n":{rng.randint(0, 99)}}}'.encode()
    else:
        body = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))

    method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "get", "post"])
    return {
        "method": method,
        "url": url,
        "scheme": scheme,
        "wire_host": wire_host,
        "path": path,
        "pairs": pairs,
        "headers": headers,
        "body": body,
        "moment": moment,
        "sdk_date": sdk_date,
        "date_in_headers": date_in_headers,
    }


CROSS_CHECK_AK = "AKCROSSCHECK"
CROSS_CHECK_SK = "SK/cross+check=secret"


@pytest.fixture(scope="module")
def sdk() -> Any:
    """The official SDK's signer and request class (the test oracle)."""
    pytest.importorskip("huaweicloudsdkcore")
    credentials = pytest.importorskip("huaweicloudsdkcore.auth.credentials")
    signer = pytest.importorskip("huaweicloudsdkcore.signer.signer")
    sdk_request = pytest.importorskip("huaweicloudsdkcore.sdk_request")
    basic = credentials.BasicCredentials(CROSS_CHECK_AK, CROSS_CHECK_SK)
    return signer.Signer(basic), sdk_request.SdkRequest


def test_cross_check_generator_covers_the_interesting_cases() -> None:
    cases = [_generate_case(i) for i in range(CROSS_CHECK_CASES)]
    urls = [c["url"] for c in cases]
    assert any("%2F" in urlsplit(u).path.upper() for u in urls)
    assert any("~" in urlsplit(u).path for u in urls)
    assert any("%20" in urlsplit(u).path for u in urls)
    assert any("%E4%B8%AD" in urlsplit(u).path.upper() for u in urls)
    assert any(len({k for k, _ in c["pairs"]}) < len(c["pairs"]) for c in cases)  # repeated keys
    assert any(any(not k.isascii() or not v.isascii() for k, v in c["pairs"]) for c in cases)
    assert any(any(v == "" for _, v in c["pairs"]) for c in cases)
    assert any(c["body"] == b"" for c in cases)
    assert any(c["body"] for c in cases)
    assert any(c["headers"].get("Content-Type", "").startswith("application/json") for c in cases)
    assert any(c["headers"].get("Content-Type", "").startswith("text/") for c in cases)
    assert any(urlsplit(u).port in (80, 443) for u in urls)
    assert any(urlsplit(u).port in (8443, 8080, 31943) for u in urls)
    assert any(urlsplit(u).port is None for u in urls)


@pytest.mark.parametrize("index", range(CROSS_CHECK_CASES))
def test_cross_check_with_sdk(sdk: Any, index: int) -> None:
    sdk_signer, sdk_request_class = sdk
    case = _generate_case(index)
    ours = sign_headers(
        case["method"],
        case["url"],
        case["headers"],
        case["body"],
        CROSS_CHECK_AK,
        CROSS_CHECK_SK,
        now=case["moment"],
    )

    # The SDK takes the wire path as resource_path and the decoded query parameters;
    # it uses its "host" verbatim, so it is given the Host value a client sends.
    sdk_headers = dict(case["headers"])
    if not case["date_in_headers"]:
        sdk_headers["X-Sdk-Date"] = case["sdk_date"]
    request = sdk_request_class(
        method=case["method"],
        schema=case["scheme"],
        host=case["wire_host"],
        resource_path=case["path"],
        query_params=list(case["pairs"]),
        header_params=sdk_headers,
        body=case["body"],
    )
    sdk_signer.sign(request)

    assert ours == request.header_params
    assert ours["Host"] == case["wire_host"]

    # the emulator side accepts it as received on the wire
    parts = urlsplit(case["url"])
    result = verify_signature(
        case["method"],
        parts.path,
        parts.query,
        ours,
        case["body"],
        {CROSS_CHECK_AK: CROSS_CHECK_SK}.get,
        now=case["moment"],
    )
    assert result is None


# --------------------------------------------------------------------------------------
# Over loopback: what requests / aiohttp actually send verifies on the server side
# --------------------------------------------------------------------------------------


class _CaptureServer:
    """A one-request-per-connection HTTP server that records the raw request."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list[tuple[str, str, list[tuple[str, str]], bytes]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:]]
                length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests.append((method, target, headers, body))  # type: ignore[arg-type]
                conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")

    def close(self) -> None:
        self.sock.close()


LOOPBACK_PATH_QUERY = (
    "/v2/p%201/design/a~b/%E4%B8%AD/x%2Fy/export-result?uuid=a%2Fb&x=2&x=1&q=%2B%20&e=&%E9%94%AE=%E5%80%BC"
)


def _check_received(server: _CaptureServer, sent: dict[str, str], body: bytes) -> None:
    assert len(server.requests) == 1
    method, target, received, got_body = server.requests[0]
    assert got_body == body
    hosts = [v for k, v in received if k.lower() == "host"]
    assert hosts == [sent["Host"]]
    raw_path, _, raw_query = target.partition("?")
    result = verify_signature(method, raw_path, raw_query, dict(received), got_body, {"ak": "sk"}.get)
    assert result is None


@pytest.mark.parametrize("host", ["127.0.0.1", "LOCALHOST"])
def test_loopback_requests(host: str) -> None:
    requests = pytest.importorskip("requests")
    server = _CaptureServer()
    try:
        url = f"http://{host}:{server.port}{LOOPBACK_PATH_QUERY}"
        body = b'{"a":1}'
        headers = sign_headers(
            "POST",
            url,
            {"Content-Type": "application/json", "workspace": "w"},
            body,
            "ak",
            "sk",
        )
        assert headers["Host"] == f"{host.lower()}:{server.port}"
        requests.post(url, headers=headers, data=body, timeout=10)
    finally:
        server.close()
    _check_received(server, headers, body)


@pytest.mark.parametrize("host", ["127.0.0.1", "LOCALHOST"])
def test_loopback_aiohttp(host: str) -> None:
    aiohttp = pytest.importorskip("aiohttp")
    yarl = pytest.importorskip("yarl")
    server = _CaptureServer()
    url = f"http://{host}:{server.port}{LOOPBACK_PATH_QUERY}"
    body = b"binary\x00data"
    headers = sign_headers("PUT", url, {"Content-Type": "application/octet-stream"}, body, "ak", "sk")

    async def send() -> None:
        target = yarl.URL(url, encoded=True)
        async with (
            aiohttp.ClientSession() as session,
            session.put(target, headers=headers, data=body) as resp,
        ):
            await resp.read()

    try:
        asyncio.run(send())
    finally:
        server.close()
    _check_received(server, headers, body)
