"""The pure half of the network options: reading them, choosing a proxy and a trust, and naming a
library's failure (the real TLS and proxy runs are in tests/wire/test_networks.py)."""

from __future__ import annotations

import socket
import ssl

import pytest

from airflow_provider_exports.errors import ExportConfigError, TransientError
from airflow_provider_exports.transport.network import (
    Network,
    Proxy,
    Route,
    bypassed,
    problem_in,
)

NO_ENV: dict[str, str] = {}


def network(**extra: object) -> Network:
    return Network.from_extras(extra.get, "connection 'c'")


def test_nothing_set_is_verify_on_no_proxy_system_store() -> None:
    options = network()
    assert options == Network(where="connection 'c'")
    assert options.trust(NO_ENV).source == "the system trust store"
    assert options.route("https://vendor.example/x", NO_ENV) == Route(None)


@pytest.mark.parametrize(
    ("value", "expected"), [("false", False), ("0", False), (False, False), ("True", True)]
)
def test_verify_reads_json_and_form_values(value: object, expected: bool) -> None:
    assert network(verify=value).verify is expected


def test_verify_rejects_anything_else() -> None:
    with pytest.raises(ExportConfigError, match="verify is true or false, not 'maybe'"):
        network(verify="maybe")


def test_a_ca_bundle_that_is_neither_pem_nor_a_file_names_the_machine() -> None:
    with pytest.raises(ExportConfigError, match=rf"nor a file on this machine \({socket.gethostname()}\)"):
        network(ca_bundle="/nowhere/ca.pem")


def test_the_connection_ca_bundle_wins_over_the_environment() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    trust = network(ca_bundle=pem).trust({"REQUESTS_CA_BUNDLE": "/etc/env.pem"})
    assert trust.ca_pem == pem.strip() and trust.source == "the ca_bundle of connection 'c'"
    env = network().trust({"REQUESTS_CA_BUNDLE": "/etc/env.pem", "SSL_CERT_FILE": "/etc/ssl.pem"})
    assert env.ca_file == "/etc/env.pem" and env.with_system  # both variables keep working
    assert env.source == (
        "REQUESTS_CA_BUNDLE (/etc/env.pem) and SSL_CERT_FILE (/etc/ssl.pem) and the system trust store"
    )
    assert network(verify=False).trust({"REQUESTS_CA_BUNDLE": "/x"}).verify is False


def test_a_proxy_url_keeps_its_credentials_apart() -> None:
    proxy = Proxy.parse("http://svc%40corp:p%3Ass@proxy.corp:3128", "here")
    assert proxy.url == "http://proxy.corp:3128"
    assert (proxy.username, proxy.password) == ("svc@corp", "p:ss")
    assert proxy.with_credentials() == "http://svc%40corp:p%3Ass@proxy.corp:3128"
    assert "p:ss" not in repr(proxy) and "p:ss" not in proxy.described()
    assert Proxy.parse("proxy.corp:8080", "here").url == "http://proxy.corp:8080"


def test_a_proxy_error_never_shows_its_password() -> None:
    with pytest.raises(ExportConfigError) as caught:
        network(proxy="socks5://user:hunter22@proxy:1080")
    assert "hunter22" not in str(caught.value) and "http:// or https://" in str(caught.value)


def test_the_proxy_password_is_a_secret_to_mask() -> None:
    assert set(network(proxy="http://u:hunter22@proxy:3128").secrets()) == {
        "hunter22",
        "http://u:hunter22@proxy:3128",
    }


@pytest.mark.parametrize(
    ("host", "port", "patterns", "expected"),
    [
        ("api.example.com", 443, ("example.com",), True),
        ("example.com", 443, (".example.com",), True),
        ("api.example.com", 443, ("*.example.com",), True),
        ("badexample.com", 443, ("example.com",), False),
        ("anything", 443, ("*",), True),
        ("10.1.2.3", 443, ("10.0.0.0/8",), True),
        ("11.1.2.3", 443, ("10.0.0.0/8",), False),
        ("127.0.0.1", 8443, ("127.0.0.1:8443",), True),
        ("127.0.0.1", 9443, ("127.0.0.1:8443",), False),
        ("::1", 443, ("[::1]",), True),
        ("::1", 8443, ("[::1]:8443",), True),
        ("API.Example.COM.", 443, ("example.com",), True),
    ],
)
def test_no_proxy_patterns(host: str, port: int, patterns: tuple[str, ...], expected: bool) -> None:
    assert bypassed(host.lower(), port, patterns) is expected


def test_the_connection_proxy_ignores_the_environment() -> None:
    options = network(proxy="http://proxy.corp:3128", no_proxy="internal.corp")
    env = {"HTTPS_PROXY": "http://other:1", "NO_PROXY": "vendor.example"}
    assert options.route("https://vendor.example/x", env).proxy == options.proxy
    assert options.route("https://db.internal.corp/x", env).proxy is None


def test_the_environment_proxy_by_scheme_then_all_proxy() -> None:
    env = {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2", "ALL_PROXY": "http://all:3"}
    route = network().route("https://vendor.example/x", env)
    assert route.proxy is not None and route.proxy.url == "http://lower:1"
    assert route.proxy.source == "HTTPS_PROXY"
    plain = network().route("http://vendor.example/x", env).proxy
    assert plain is not None and plain.url == "http://all:3"


def test_no_proxy_from_the_connection_and_the_environment_both_apply_to_the_environment_proxy() -> None:
    env = {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "a.example"}
    assert network(no_proxy="b.example").route("https://a.example/", env).proxy is None
    assert network(no_proxy="b.example").route("https://b.example/", env).proxy is None
    assert network(no_proxy="b.example").route("https://c.example/", env).proxy is not None


def _certificate_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    error.verify_code = code
    error.verify_message = message
    return error


def test_a_wrapped_certificate_failure_is_found() -> None:
    inner = _certificate_error(20, "unable to get local issuer certificate")
    outer = ConnectionError(ValueError("pool", inner))
    problem = problem_in(outer, "https://vendor.example:8443/x", Route(None))
    assert problem is not None
    assert (problem.kind, problem.host, problem.port) == ("certificate", "vendor.example", 8443)


def test_a_name_mismatch_is_its_own_kind() -> None:
    inner = _certificate_error(62, "Hostname mismatch, certificate is not valid for 'vendor.example'.")
    problem = problem_in(RuntimeError(inner), "https://vendor.example/x", Route(None))
    assert problem is not None and problem.kind == "hostname"


def test_a_handshake_cut_is_not_permanent() -> None:
    eof = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
    assert problem_in(eof, "https://vendor.example/x", Route(None)) is None


def test_requests_tunnel_refusal_text_is_a_proxy_refusal() -> None:
    proxy = Proxy.parse("http://u:p@proxy.corp:3128", "here")
    error = OSError("Tunnel connection failed: 407 Proxy Authentication Required")
    problem = problem_in(error, "https://vendor.example/x", Route(proxy))
    assert problem is not None and problem.kind == "proxy_auth"
    assert (problem.host, problem.port) == ("proxy.corp", 3128)


def test_an_unknown_host_is_transient_the_first_time() -> None:
    problem = problem_in(socket.gaierror(-2, "Name or service not known"), "https://x.invalid/", Route(None))
    assert problem is not None and problem.kind == "unknown_host"
    assert isinstance(problem.as_transient("GET /"), TransientError)
