"""Fixtures for the Connections UI tests: a real ``airflow api-server``, Debian's Chromium driven by
Playwright, and the vendor emulators on 127.0.0.1.

Without ``/usr/bin/chromium`` or the ``playwright`` package the browser tests skip and say which one
is missing; a connection type whose hook or emulator module does not exist yet skips naming it.
Server and browser live for the ``tests/ui`` package only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_provider_exports.testing import emulator_class
from airflow_provider_exports.testing.emulator import Emulator

from .support import CHROMIUM, CHROMIUM_ARGS, OUTPUT, ApiServer, free_port, missing_browser, not_landed

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


def _wait_until_up(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"airflow api-server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url + "/api/v2/monitor/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"airflow api-server did not answer within {timeout:.0f}s:\n{log.read_text()[-4000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server and every process it started (its own process group)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="package")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A real ``airflow api-server`` on a free loopback port, with its own AIRFLOW_HOME and SQLite DB.

    Simple auth manager with every user an admin; the connection Test button enabled.
    """
    home = tmp_path_factory.mktemp("ui-airflow-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__AUTH_MANAGER=SIMPLE_AUTH_MANAGER,
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PYTHONUNBUFFERED="1",
    )
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]

    OUTPUT.mkdir(parents=True, exist_ok=True)
    log = OUTPUT / "api-server.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "airflow", "api-server", "-H", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [*command, "--workers", "1", "--apps", "core"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=home,
            start_new_session=True,
        )
        try:
            _wait_until_up(proc, url, log)
            yield ApiServer(url=url, log=log, home=home)
        finally:
            _stop(proc)


@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    """Debian's headless Chromium under Playwright (never a browser that Playwright downloads)."""
    reason = missing_browser()
    if reason:
        pytest.skip(f"Connections UI tests need a browser: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _portless_test_workaround(route: Route) -> None:
    """Send ``port: null`` instead of ``0`` when the Connections list's Test button tests a
    connection that has no port.

    Airflow 3.3.2's button sends ``Number(null)`` (0) as the port, and the API then answers 400
    "The host or port to test differs from the stored connection" for every connection without a
    port (apache/airflow#73298, fixed upstream after 3.3.2). The rest of the request, and how the
    server handles it, stay as they are; ``test_upstream_port_zero_bug`` says when this can go.
    """
    body = json.loads(route.request.post_data or "{}")
    if body.get("port") == 0:
        body["port"] = None
    route.continue_(post_data=json.dumps(body))


@pytest.fixture
def page(chromium: Browser, api_server: ApiServer) -> Iterator[Page]:
    """A fresh browser page (own context) on the api-server."""
    context = chromium.new_context(viewport={"width": 1280, "height": 1600}, base_url=api_server.url)
    context.set_default_timeout(20_000)
    try:
        page = context.new_page()
        page.route("**/api/v2/connections/test", _portless_test_workaround)
        yield page
    finally:
        context.close()


@pytest.fixture
def vendor(conn_type: str) -> Iterator[Emulator]:
    """The running emulator of ``conn_type`` (skips while its hook or emulator has not landed)."""
    reason = not_landed(conn_type)
    if reason:
        pytest.skip(reason)
    emulator = emulator_class(conn_type)().start()
    try:
        yield emulator
    finally:
        emulator.stop()
