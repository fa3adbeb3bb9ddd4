"""What the Connections UI tests share: where things are, what is missing, the api-server handle."""

from __future__ import annotations

import importlib
import json
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_exports.get_provider_info import get_provider_info
from airflow_provider_exports.testing import EMULATORS

ROOT = Path(__file__).resolve().parents[2]
#: Screenshots and the api-server's log (git-ignored).
OUTPUT = ROOT / "test-output" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CONN_TYPES = [c["connection-type"] for c in get_provider_info()["connection-types"]]
#: Standard connection fields a provider can hide, relabel or give a placeholder.
STANDARD_FIELDS = ("host", "schema", "login", "password", "port")


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return f"Chromium is not installed at {CHROMIUM} (Debian: apt-get install chromium)"
    try:
        importlib.import_module("playwright.sync_api")
    except ImportError as exc:
        return f"the playwright package does not import ({exc}; pip install -e '.[test]')"
    return None


def hook_path(conn_type: str) -> str:
    """The dotted path of the type's hook class, as the provider info declares it."""
    path: str = next(
        c["hook-class-name"]
        for c in get_provider_info()["connection-types"]
        if c["connection-type"] == conn_type
    )
    return path


def not_landed(conn_type: str) -> str | None:
    """Which module of the type's hook or emulator does not exist yet, or None when both import.

    Only the absence of that module itself counts; any other import error is raised.
    """
    for what, path in (("hook", hook_path(conn_type)), ("emulator", EMULATORS[conn_type])):
        module = path.partition(":")[0] if ":" in path else path.rpartition(".")[0]
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            return f"{conn_type}: its {what} module {module} does not exist yet"
    return None


def split_connection(conn: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """Airflow's connection JSON (``emulator.connection()``) as the form takes it: the standard
    fields that have a value, and the extras that have one, by their plain names."""
    standard = {
        name: str(conn[name])
        for name in (*STANDARD_FIELDS, "description")
        if conn.get(name) not in (None, "")
    }
    raw = conn.get("extra") or {}
    extras = json.loads(raw) if isinstance(raw, str) else dict(raw)
    prefix = re.compile(rf"^extra__{re.escape(str(conn.get('conn_type', '')))}__")
    plain = {prefix.sub("", key): value for key, value in extras.items()}
    return standard, {key: value for key, value in plain.items() if value not in (None, "")}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ApiServer:
    """A running ``airflow api-server``: its base URL, the file it logs to, and its AIRFLOW_HOME
    (whose SQLite DB a test can run DAGs into, for the server to show)."""

    url: str
    log: Path
    home: Path | None = None

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """``(status, JSON body)`` of a call to the server's REST API."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def connection(self, conn_id: str) -> dict[str, Any]:
        """The stored connection as the REST API shows it (secrets redacted)."""
        status, body = self.request("GET", f"/api/v2/connections/{conn_id}")
        assert status == 200, f"GET connection {conn_id}: {status} {body}"
        result: dict[str, Any] = body
        return result

    def log_text(self) -> str:
        """Everything the server logged so far."""
        return self.log.read_text(errors="replace")
