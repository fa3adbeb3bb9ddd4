"""TLS trust and proxies, for every vendor and both runners, with real parts: each emulator serves
TLS with a certificate from a CA made at run time, and requests go through Debian's tinyproxy (a
real forward proxy: CONNECT for https, Basic proxy authentication, its own request log).

The matrix: trusted via ``ca_bundle``; untrusted (a fast, clear failure, never a retry); ``verify``
false (works, and says so once); through the proxy (its log shows the tunnels); wrong proxy
credentials (a clear failure); ``no_proxy`` (the proxy sees nothing). The async side of the
untrusted case is the status trigger itself: its wait ends within one poll interval.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from network_support import STUNNEL, TINYPROXY, Issued, TestCA, TinyProxy, TlsFront
from wire_support import FAST, RUNNERS, wire_hook

from airflow_provider_exports.errors import ExportNetworkError
from airflow_provider_exports.hooks.base import ExportHook
from airflow_provider_exports.testing import emulator_class
from airflow_provider_exports.testing.emulator import Emulator
from airflow_provider_exports.transport.aio import pooled_session
from airflow_provider_exports.triggers.export_status import ExportStatusTrigger
from airflow_provider_exports.vendors import VENDORS

CONN_TYPES = [vendor.conn_type for vendor in VENDORS]
PROXY_USER, PROXY_PASSWORD = "etl-robot", "pr0xy-s3cret-Pa55"
ENV_NAMES = (
    *(f"{n}_proxy" for n in ("http", "https", "all", "no")),
    *(f"{n}_PROXY" for n in ("HTTP", "HTTPS", "ALL", "NO")),
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
#: The poll interval the trigger test uses; a permanent failure must end the wait within it.
POLL_INTERVAL = 5.0

needs_tinyproxy = pytest.mark.skipif(
    not Path(TINYPROXY).exists(), reason="the proxy tests need Debian's tinyproxy (.ci/run installs it)"
)


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy or CA variables from the machine: each test sets what it means."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def loopback_cert(ca: TestCA) -> Issued:
    return ca.issue("emulator.test", dns=("localhost",), ips=("127.0.0.1",))


@pytest.fixture(scope="module")
def tls_emulators(loopback_cert: Issued) -> Iterator[dict[str, Emulator]]:
    """Every vendor's emulator, serving TLS with the test CA's certificate for 127.0.0.1."""
    started = {t: emulator_class(t)(ssl_context=loopback_cert.server_context()).start() for t in CONN_TYPES}
    yield started
    for emulator in started.values():
        emulator.stop()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyProxy]:
    if not Path(TINYPROXY).exists():
        pytest.skip("the proxy tests need Debian's tinyproxy (.ci/run installs it)")
    running = TinyProxy(tmp_path_factory.mktemp("proxy"), user=PROXY_USER, password=PROXY_PASSWORD).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def open_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyProxy]:
    """A proxy that asks for no credentials."""
    if not Path(TINYPROXY).exists():
        pytest.skip("the proxy tests need Debian's tinyproxy (.ci/run installs it)")
    running = TinyProxy(tmp_path_factory.mktemp("open-proxy")).start()
    yield running
    running.stop()


needs_stunnel = pytest.mark.skipif(
    not Path(STUNNEL).exists(), reason="the https:// proxy tests need Debian's stunnel4 (.ci/run installs it)"
)


@pytest.fixture(scope="module")
def tls_proxies(
    tmp_path_factory: pytest.TempPathFactory, ca: TestCA, open_proxy: TinyProxy
) -> Iterator[tuple[TlsFront, TlsFront]]:
    """Two https:// proxies in front of the open proxy: one with a certificate from the test CA,
    one from a CA nobody here trusts."""
    if not Path(STUNNEL).exists():
        pytest.skip("the https:// proxy tests need Debian's stunnel4 (.ci/run installs it)")
    folder = tmp_path_factory.mktemp("tls-proxies")
    stranger = TestCA(folder, name="Stranger CA")
    fronts = (
        TlsFront(folder / "trusted", open_proxy.port, ca.issue("proxy.test", ips=("127.0.0.1",))).start(),
        TlsFront(
            folder / "untrusted", open_proxy.port, stranger.issue("proxy.test", ips=("127.0.0.1",))
        ).start(),
    )
    yield fronts
    for front in fronts:
        front.stop()


def check(hook: ExportHook, runner: str) -> str:
    """The vendor's read-only check call (login first), with one runner; its message."""
    if runner == "requests":
        return hook.sync_transport().run(hook.check_op())

    async def _check() -> str:
        async with pooled_session():
            transport = await hook.async_transport()
            return await transport.run(hook.check_op())

    return asyncio.run(_check())


def failure(hook: ExportHook, runner: str) -> tuple[ExportNetworkError, float]:
    began = time.monotonic()
    with pytest.raises(ExportNetworkError) as caught:
        check(hook, runner)
    return caught.value, time.monotonic() - began


def tls_hook(emulator: Emulator, **extra: Any) -> ExportHook:
    fields = emulator.connection()
    return wire_hook(emulator, extra={**fields.get("extra", {}), **extra})


@pytest.mark.parametrize("conn_type", CONN_TYPES)
@RUNNERS
def test_a_ca_bundle_file_makes_the_vendor_trusted(
    tls_emulators: dict[str, Emulator], ca: TestCA, conn_type: str, runner: str
) -> None:
    emulator = tls_emulators[conn_type]
    assert emulator.url.startswith("https://127.0.0.1:")
    assert check(tls_hook(emulator, ca_bundle=str(ca.path)), runner)


@pytest.mark.parametrize("conn_type", CONN_TYPES)
@RUNNERS
def test_an_untrusted_certificate_fails_at_once_naming_the_fix(
    tls_emulators: dict[str, Emulator], ca: TestCA, conn_type: str, runner: str
) -> None:
    emulator = tls_emulators[conn_type]
    emulator.requests.clear()
    error, took = failure(tls_hook(emulator), runner)
    text = str(error)
    port = emulator.url.rsplit(":", 1)[1]
    assert error.kind == "certificate" and error.host == "127.0.0.1"
    assert f"127.0.0.1:{port}" in text and "is not trusted" in text
    # What the server presented, read without trusting it, and which option fixes it.
    assert "CN=emulator.test" in text and f"issued by CN={ca.name}" in text
    assert "ca_bundle" in text and "Trusted here: the system trust store" in text
    assert took < 2.0, f"a permanent failure took {took:.1f}s: it was retried"
    assert emulator.requests == []  # no HTTP request got through


@pytest.mark.parametrize("conn_type", CONN_TYPES)
@RUNNERS
def test_verify_false_works_and_warns_once_per_connection(
    tls_emulators: dict[str, Emulator], conn_type: str, runner: str, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = tls_emulators[conn_type]
    conn_id = f"unverified_{conn_type}_{runner}"
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            hook = wire_hook(
                emulator, conn_id, extra={**emulator.connection().get("extra", {}), "verify": False}
            )
            assert check(hook, runner)
    warnings = [r for r in caplog.records if "verify=false" in r.getMessage()]
    assert len(warnings) == 1 and conn_id in warnings[0].getMessage()


@needs_tinyproxy
@pytest.mark.parametrize("conn_type", CONN_TYPES)
@RUNNERS
def test_the_connection_proxy_carries_every_request(
    tls_emulators: dict[str, Emulator],
    ca: TestCA,
    proxy: TinyProxy,
    conn_type: str,
    runner: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator = tls_emulators[conn_type]
    port = int(emulator.url.rsplit(":", 1)[1])
    before = proxy.connects_to(port)
    hook = tls_hook(emulator, ca_bundle=str(ca.path), proxy=proxy.url_with(PROXY_USER, PROXY_PASSWORD))
    with caplog.at_level(logging.DEBUG):
        assert check(hook, runner)
    assert wait_for(lambda: proxy.connects_to(port) > before), proxy.log_text()[-2000:]
    assert PROXY_PASSWORD not in caplog.text


@needs_tinyproxy
@pytest.mark.parametrize("conn_type", CONN_TYPES)
@RUNNERS
def test_a_proxy_without_authentication(
    tls_emulators: dict[str, Emulator], ca: TestCA, open_proxy: TinyProxy, conn_type: str, runner: str
) -> None:
    emulator = tls_emulators[conn_type]
    port = int(emulator.url.rsplit(":", 1)[1])
    before = open_proxy.connects_to(port)
    assert check(tls_hook(emulator, ca_bundle=str(ca.path), proxy=open_proxy.url), runner)
    assert wait_for(lambda: open_proxy.connects_to(port) > before), open_proxy.log_text()[-2000:]


@needs_stunnel
@needs_tinyproxy
@RUNNERS
def test_an_https_proxy_is_trusted_as_the_connection_says(
    tls_emulators: dict[str, Emulator],
    ca: TestCA,
    open_proxy: TinyProxy,
    tls_proxies: tuple[TlsFront, TlsFront],
    runner: str,
) -> None:
    emulator = tls_emulators["personium"]
    port = int(emulator.url.rsplit(":", 1)[1])
    before = open_proxy.connects_to(port)
    trusted, _ = tls_proxies
    hook = tls_hook(emulator, ca_bundle=str(ca.path), proxy=f"https://127.0.0.1:{trusted.port}")
    assert check(hook, runner)
    assert wait_for(lambda: open_proxy.connects_to(port) > before)


@needs_stunnel
@needs_tinyproxy
@RUNNERS
def test_an_untrusted_https_proxy_is_named_as_the_one_not_trusted(
    tls_emulators: dict[str, Emulator], ca: TestCA, tls_proxies: tuple[TlsFront, TlsFront], runner: str
) -> None:
    _, untrusted = tls_proxies
    hook = tls_hook(
        tls_emulators["personium"], ca_bundle=str(ca.path), proxy=f"https://127.0.0.1:{untrusted.port}"
    )
    error, _ = failure(hook, runner)
    text = str(error)
    assert error.kind == "certificate" and error.host == "127.0.0.1"
    assert f"the TLS certificate of the proxy 127.0.0.1:{untrusted.port} is not trusted" in text
    assert "issued by CN=Stranger CA" in text


@needs_tinyproxy
@RUNNERS
def test_no_proxy_credentials_where_the_proxy_wants_them_is_a_407(
    tls_emulators: dict[str, Emulator], ca: TestCA, proxy: TinyProxy, runner: str
) -> None:
    hook = tls_hook(tls_emulators["huawei_dataarts"], ca_bundle=str(ca.path), proxy=proxy.url)
    error, _ = failure(hook, runner)
    assert error.kind == "proxy_auth" and "the proxy answered HTTP 407" in str(error)


@needs_tinyproxy
@pytest.mark.parametrize("conn_type", CONN_TYPES)
@RUNNERS
def test_wrong_proxy_credentials_fail_clearly(
    tls_emulators: dict[str, Emulator], ca: TestCA, proxy: TinyProxy, conn_type: str, runner: str
) -> None:
    emulator = tls_emulators[conn_type]
    hook = tls_hook(emulator, ca_bundle=str(ca.path), proxy=proxy.url_with(PROXY_USER, "wrong-Pa55word"))
    error, took = failure(hook, runner)
    text = str(error)
    assert error.kind == "proxy_auth"
    assert f"the proxy {proxy.url} (from the proxy of connection 'wire'" in text
    assert "refused the credentials" in text
    assert "wrong-Pa55word" not in text and PROXY_USER not in text
    assert took < 2.0


@needs_tinyproxy
@pytest.mark.parametrize("conn_type", CONN_TYPES)
@RUNNERS
def test_no_proxy_hosts_are_reached_directly(
    tls_emulators: dict[str, Emulator], ca: TestCA, proxy: TinyProxy, conn_type: str, runner: str
) -> None:
    emulator = tls_emulators[conn_type]
    before = proxy.log_text().count("Connect (file descriptor")
    hook = tls_hook(
        emulator,
        ca_bundle=str(ca.path),
        proxy=proxy.url_with(PROXY_USER, PROXY_PASSWORD),
        no_proxy="example.com, .corp.example, 127.0.0.1",
    )
    assert check(hook, runner)
    assert proxy.log_text().count("Connect (file descriptor") == before


@pytest.mark.parametrize("conn_type", CONN_TYPES)
def test_a_deferred_wait_on_an_untrusted_host_ends_within_one_interval(
    tls_emulators: dict[str, Emulator], export_conn: Any, conn_type: str
) -> None:
    """The triggerer's side: the first poll fails with the reason, and the wait ends there,
    not at its timeout an hour later."""
    conn_id = export_conn(tls_emulators[conn_type], f"untrusted_{conn_type}")
    trigger = ExportStatusTrigger(
        conn_id=conn_id,
        export_id="any-export",
        poll_interval=POLL_INTERVAL,
        timeout_at=time.time() + 3600,
        hook_params={"retry": {"attempts": FAST.attempts, "backoff": FAST.backoff}},
    )

    began = time.monotonic()
    event = first_event(trigger)
    took = time.monotonic() - began
    assert event["status"] == "error", event
    assert "is not trusted" in event["message"] and "ca_bundle" in event["message"]
    assert took < POLL_INTERVAL, f"the wait took {took:.1f}s to fail"


@RUNNERS
def test_a_ca_bundle_may_be_the_pem_text_itself(
    tls_emulators: dict[str, Emulator], ca: TestCA, runner: str
) -> None:
    """For secrets backends that hold no files: the PEM in the connection's extra."""
    assert check(tls_hook(tls_emulators["personium"], ca_bundle=ca.pem), runner)


@RUNNERS
def test_a_certificate_for_another_name_is_a_hostname_mismatch(
    ca: TestCA, make_emulator: Any, runner: str
) -> None:
    other = ca.issue("elsewhere.example", dns=("elsewhere.example",))
    emulator = make_emulator("oracle_commerce", ssl_context=other.server_context())
    error, _ = failure(tls_hook(emulator, ca_bundle=str(ca.path)), runner)
    assert error.kind == "hostname"
    assert "is not valid for 127.0.0.1" in str(error) and "elsewhere.example" in str(error)


@RUNNERS
def test_tls_spoken_to_a_plain_http_port_is_a_protocol_mismatch(make_emulator: Any, runner: str) -> None:
    emulator = make_emulator("oracle_commerce")  # plain HTTP
    hook = wire_hook(emulator, host=emulator.url.replace("http://", "https://"))
    error, took = failure(hook, runner)
    assert error.kind == "protocol" and "no TLS in common" in str(error) and "http://" in str(error)
    assert took < 2.0


@RUNNERS
def test_an_unknown_host_fails_after_one_retry(make_emulator: Any, runner: str) -> None:
    emulator = make_emulator("oracle_commerce")
    hook = wire_hook(emulator, host="https://no-such-host.invalid")
    error, _ = failure(hook, runner)
    assert error.kind == "unknown_host" and "no-such-host.invalid" in str(error)
    assert "DNS lookup failed twice" in str(error)


@needs_tinyproxy
@RUNNERS
def test_the_environment_applies_when_the_connection_says_nothing(
    tls_emulators: dict[str, Emulator],
    ca: TestCA,
    proxy: TinyProxy,
    runner: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTPS_PROXY and REQUESTS_CA_BUNDLE, as requests users set them, for both runners."""
    emulator = tls_emulators["huawei_workspace"]
    port = int(emulator.url.rsplit(":", 1)[1])
    monkeypatch.setenv("HTTPS_PROXY", proxy.url_with(PROXY_USER, PROXY_PASSWORD))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.path))
    before = proxy.connects_to(port)
    assert check(tls_hook(emulator), runner)
    assert wait_for(lambda: proxy.connects_to(port) > before)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    after = proxy.log_text().count("Connect (file descriptor")
    assert check(tls_hook(emulator), runner)
    assert proxy.log_text().count("Connect (file descriptor") == after


@RUNNERS
def test_ssl_cert_file_still_works_beside_requests_ca_bundle(
    tls_emulators: dict[str, Emulator],
    ca: TestCA,
    runner: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Both variables are honoured at once (a machine may set REQUESTS_CA_BUNDLE for everything
    and SSL_CERT_FILE for one service): their CAs are trusted together."""
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.path))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(TestCA(tmp_path, name="Unrelated CA").path))
    assert check(tls_hook(tls_emulators["informatica_iics"]), runner)


@needs_tinyproxy
def test_the_proxy_password_stays_out_of_trigger_kwargs_and_events(
    tls_emulators: dict[str, Emulator], ca: TestCA, proxy: TinyProxy, export_conn: Any
) -> None:
    emulator = tls_emulators["oracle_commerce"]
    conn_id = export_conn(
        emulator,
        "proxied_occ",
        extra={"ca_bundle": str(ca.path), "proxy": proxy.url_with(PROXY_USER, "bad-Pa55")},
    )
    trigger = ExportStatusTrigger(
        conn_id=conn_id, export_id="e1", poll_interval=POLL_INTERVAL, timeout_at=time.time() + 60
    )
    assert "Pa55" not in json.dumps(trigger.serialize()[1])

    event = first_event(trigger)
    assert event["status"] == "error" and "refused the credentials" in event["message"]
    assert "bad-Pa55" not in json.dumps(event)


def first_event(trigger: ExportStatusTrigger) -> dict[str, Any]:
    """The trigger's first event, as the triggerer would get it."""

    async def _first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(_first())


def wait_for(condition: Any, timeout: float = 10.0) -> bool:
    """Whether ``condition()`` holds within ``timeout`` (the proxy writes its log after answering)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())
