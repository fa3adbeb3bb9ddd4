"""An untrusted vendor certificate on a deferred wait, on real Airflow: the wait fails at the
triggerer's first poll, one interval after the worker's, with the reason and the fix, not at its
timeout an hour later (issue 18)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_exports.testing import Step
from airflow_provider_exports.testing.tls import TestCA

pytestmark = pytest.mark.integration
DAG_FILE = str(Path(__file__).with_name("dags") / "untrusted_wait.py")
POKE_INTERVAL = 20  # as in the DAG


def test_an_untrusted_certificate_ends_a_deferred_wait_at_its_first_poll(
    tmp_path: Path, make_emulator: Any, run_dag: Any
) -> None:
    for folder in ("ca", "other"):
        (tmp_path / folder).mkdir()
    trusted, other = TestCA(tmp_path / "ca"), TestCA(tmp_path / "other", name="Unknown Inspection CA")
    server = trusted.issue("occ.test", ips=("127.0.0.1",)).server_context()
    emulator = make_emulator("oracle_commerce", ssl_context=server)
    emulator.add_export("export-1", Step("processing", 10))
    conn = emulator.connection()
    conn["extra"] = {**conn.get("extra", {}), "ca_bundle": str(trusted.path)}
    env = {"AIRFLOW_CONN_ORACLE_COMMERCE_DEFAULT": json.dumps(conn)}

    results: list[Any] = []
    runner = threading.Thread(
        target=lambda: results.append(run_dag("untrusted_wait", env, dag_file=DAG_FILE))
    )
    runner.start()
    # The worker's first poll is in: from now on the server presents another CA's certificate.
    deadline = time.monotonic() + 300
    while emulator.exports["export-1"].polls < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert emulator.exports["export-1"].polls == 1, "the worker never polled"
    swapped = other.issue("occ.test", ips=("127.0.0.1",))
    server.load_cert_chain(swapped.cert, swapped.key)
    swapped_at = time.monotonic()
    runner.join(600)
    took = time.monotonic() - swapped_at
    (result,) = results
    assert result.state == "failed" and result.tasks == {"wait": "failed"}, result.output[-4000:]
    assert (
        result.transitions["wait"][-2:] == ["deferred", "failed"] or "deferred" in result.transitions["wait"]
    )
    assert "is not trusted" in result.output and "issued by CN=Unknown Inspection CA" in result.output
    assert "ca_bundle" in result.output
    assert emulator.exports["export-1"].polls == 1  # the triggerer's poll never got through
    # One interval to the triggerer's first poll, then the task resumes only to fail: well under
    # two intervals, where a wait taking it for a transient fault would poll for an hour.
    assert took < 2 * POKE_INTERVAL, f"the wait ended {took:.0f}s after the certificate changed"
    print(f"untrusted certificate: the deferred wait ended {took:.1f}s after the change")
