"""docs/testing.md as a reader uses it. Its whole-file blocks (first line ``# <path>``) are the
user project that ``scripts/check_package.py --user-project`` runs in a fresh venv with the wheel
(part of ``make test``); here: that the page shows that project, and that its "outside pytest"
section works as written: the ``serve`` command's env file defines the connection, and the
``curl`` bodies script the emulator over HTTP (the hook then sees the 503s and the failure).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

from airflow.sdk import Connection

from airflow_provider_exports.hooks import hook_class_for
from airflow_provider_exports.status import ExportState
from airflow_provider_exports.transport import RetryPolicy

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "testing.md").read_text()


def _check_package() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_package", ROOT / "scripts" / "check_package.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_shows_a_whole_user_project() -> None:
    files = _check_package().user_project_files(DOC)

    assert sorted(files) == [
        "dags/my_export.py",
        "pyproject.toml",
        "tests/test_my_export.py",
        "tests/test_my_export_failures.py",
    ]
    for name, text in files.items():
        assert text.startswith(f"# {name}\n")
        if name.endswith(".py"):
            compile(text, name, "exec")
    # The second example has a fault and asserts the failure's exception.
    failures = files["tests/test_my_export_failures.py"]
    assert 'on="status"' in failures and "result.error(" in failures
    # A block that is not a whole file is not taken for one.
    assert _check_package().user_project_files("```bash\n# start it\ncurl x\n```\n") == {}


def _curl_bodies(path: str) -> list[Any]:
    """The JSON bodies the page's curl commands POST to ``path``."""
    found = re.findall(rf"curl -s -X POST localhost:8080{re.escape(path)} \\\n\s+-d '(.*?)'\n", DOC)
    return [json.loads(body) for body in found]


def _post(url: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_the_serve_command_and_its_admin_calls_work_as_written(tmp_path: Path) -> None:
    (command,) = re.findall(
        r"^python -m airflow_provider_exports\.testing serve .*?\n(?:\s+.*\n)*", DOC, re.M
    )
    args = shlex.split(command.replace("\\\n", " "))[3:]
    # Port 0 instead of the page's 8080: a free port on a shared machine.
    args[args.index("--port") + 1] = "0"
    args[args.index("--env-file") + 1] = str(tmp_path / "emulator.env")
    info_file = tmp_path / "info.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_exports.testing", *args, "--info-file", str(info_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not (info_file.exists() and info_file.read_text().endswith("\n")):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the emulator did not start within 60 s"
            time.sleep(0.1)
        info = json.loads(info_file.read_text())
        (line,) = (tmp_path / "emulator.env").read_text().splitlines()
        name, _, value = line.partition("=")
        assert name == "AIRFLOW_CONN_ORACLE_COMMERCE_DEFAULT"
        (conn_json,) = shlex.split(value)
        assert info["env"] == {name: conn_json}
        assert json.loads(conn_json) == info["connection"]

        url = info["url"]
        (script,) = _curl_bodies("/_emulator/script")
        (faults,) = _curl_bodies("/_emulator/faults")
        assert _post(url + "/_emulator/script", script) == (200, {"queued": 1})
        assert _post(url + "/_emulator/faults", faults) == (200, {"queued": 2})
        status, refused = _post(url + "/_emulator/faults", {"faults": [{"kind": "drop", "on": "poll"}]})
        assert status == 400 and "unknown fault target on='poll'" in refused["error"]

        data = json.loads(conn_json)
        hook = hook_class_for("oracle_commerce")(
            "oracle_commerce_default",
            connection=Connection(conn_id="oracle_commerce_default", **data),
            retry_policy=RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.05),
        )
        export_id = hook.start_export({"mode": "bundle", "fileName": "p.zip", "items": [{"id": "Profiles"}]})
        first, last = hook.get_status(export_id), hook.get_status(export_id)
        assert (first.state, first.progress) == (ExportState.RUNNING, 50)
        assert last.state is ExportState.FAILED and "disk full" in (last.message or "")

        with urllib.request.urlopen(url + "/_emulator/requests", timeout=10) as answer:
            recorded = json.loads(answer.read())
        faulted = [r for r in recorded if r["fault"]]
        assert [r["fault"]["on"] for r in faulted] == ["status", "status"]
        assert all(r["path"] == f"/ccadmin/v1/exportProcess/{export_id}" for r in faulted)
    finally:
        proc.terminate()
        proc.wait(30)
