"""Real parts for the network tests: the test kit's certificate authority (made at run time) and
Debian's ``tinyproxy``, a forward proxy started on loopback and stopped by the fixture.

Imported as ``from network_support import ...`` by the wire and integration tests (pytest puts
tests/ on ``sys.path``: it has no ``__init__.py``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from airflow_provider_exports.testing.tls import Issued, TestCA

__all__ = ["STUNNEL", "TINYPROXY", "Issued", "TestCA", "TinyProxy", "TlsFront", "free_port"]

TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
STUNNEL = shutil.which("stunnel") or "/usr/bin/stunnel"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Daemon:
    """A program in the foreground, in its own process group, listening on ``port`` of loopback."""

    name = "daemon"
    port: int
    folder: Path

    def command(self) -> list[str]:
        raise NotImplementedError

    def _spawn(self) -> None:
        self._proc = subprocess.Popen(
            self.command(),
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / "stderr.log", "wb"),  # noqa: SIM115 - the child owns it
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {(self.folder / 'stderr.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start listening within 20 s")

    def stop(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


class TinyProxy(_Daemon):
    """tinyproxy on loopback, in the foreground, logging every request it handles."""

    def __init__(self, folder: Path, *, user: str | None = None, password: str | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.log = folder / "tinyproxy.log"
        self.port = free_port()
        self.user = user
        self.password = password
        lines = [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            "Timeout 60",
            f'LogFile "{self.log}"',
            "LogLevel Connect",
            "MaxClients 100",
            "Allow 127.0.0.1",
            # No ConnectPort line: CONNECT is allowed to any port (the emulators' are random).
        ]
        if user is not None:
            lines.append(f"BasicAuth {user} {password}")
        self.config = folder / "tinyproxy.conf"
        self.config.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    name = "tinyproxy"

    def command(self) -> list[str]:
        return [TINYPROXY, "-d", "-c", str(self.config)]

    def start(self) -> TinyProxy:
        self.log.touch()
        self._spawn()
        return self

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def connects_to(self, port: int) -> int:
        """How many CONNECT requests to ``127.0.0.1:port`` the proxy has logged."""
        return self.log_text().count(f"CONNECT 127.0.0.1:{port} ")


class TlsFront(_Daemon):
    """Debian's stunnel in front of a port: TLS on its own port, plain TCP behind (an https://
    proxy, as a corporate proxy that speaks TLS to its clients is)."""

    def __init__(self, folder: Path, backend_port: int, issued: Issued) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.port = free_port()
        self.config = folder / "stunnel.conf"
        self.config.write_text(
            "\n".join(
                [
                    "foreground = yes",
                    "pid =",
                    f"output = {folder / 'stunnel.log'}",
                    "[front]",
                    f"accept = 127.0.0.1:{self.port}",
                    f"connect = 127.0.0.1:{backend_port}",
                    f"cert = {issued.cert}",
                    f"key = {issued.key}",
                ]
            )
            + "\n"
        )

    name = "stunnel"

    def command(self) -> list[str]:
        return [STUNNEL, str(self.config)]

    def start(self) -> TlsFront:
        self._spawn()
        return self
