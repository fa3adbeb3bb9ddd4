"""Where "Connection schemes (type: ...) shall not contain '_'" comes from (issue 17).

Airflow core's ``airflow.models.Connection.get_uri()`` logs it for every connection type with an
underscore (``google_cloud_platform`` too) when Airflow's own lookup caches a connection it read
from the metadata DB or an environment variable: on the API server for every task's lookup, and
in-process under ``dag.test()``. The provider never calls ``get_uri``: its lookups, sync and async,
log nothing of the kind. docs/connections.md says so (tests/docs/test_connection_scheme_note.py);
the types keep their underscores (tests/unit/test_vendor_registry.py checks Airflow's authoring
pattern ``^[a-z][a-z0-9_]*$``; renaming them would orphan every existing connection).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
WARNING = "shall not contain '_' according to RFC3986"

PROVIDER_LOOKUPS = """
import asyncio
from airflow_provider_exports.hooks import aexport_hook, export_hook
hook = export_hook("scheme_check")
print("sync", type(hook).__name__, flush=True)
hook = asyncio.run(aexport_hook("scheme_check"))
print("async", type(hook).__name__, flush=True)
"""

AIRFLOW_SERVER_LOOKUP = """
from airflow.models.connection import Connection
print("server", Connection.get_connection_from_secrets("scheme_check").conn_type, flush=True)
"""


def _run(code: str, context: str, tmp_path: Path) -> str:
    conn = {"conn_type": "oracle_commerce", "host": "http://127.0.0.1:9", "password": "app-key-123456"}
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW_CONN_SCHEME_CHECK": json.dumps(conn),
        "_AIRFLOW_PROCESS_CONTEXT": context,
    }
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_the_providers_lookups_do_not_log_it(tmp_path: Path) -> None:
    output = _run(PROVIDER_LOOKUPS, "client", tmp_path)
    assert "sync OracleCommerceHook" in output and "async OracleCommerceHook" in output
    assert WARNING not in output


def test_it_comes_from_airflows_own_server_side_lookup(tmp_path: Path) -> None:
    # The same connection read the way the API server reads it: Airflow logs the warning itself.
    output = _run(AIRFLOW_SERVER_LOOKUP, "server", tmp_path)
    assert "server oracle_commerce" in output
    assert WARNING in output and "airflow.models.connection" in output
