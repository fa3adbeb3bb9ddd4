"""Tasks end for the right reason on real Airflow (issue 17): no export id ever reaches a vendor,
a blip before the start operator defers is only a blip, and start markers end with the task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_exports.testing import Fault
from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator

pytestmark = pytest.mark.integration
DAGS = Path(__file__).with_name("dags")
DAG_FILE = str(DAGS / "task_outcomes.py")
STATUS_PATH = "/ccadmin/v1/exportProcess/"  # GET .../exportProcess/{id}: not the start POST
HTML = "<!DOCTYPE html><html>Bad gateway</html>"
MARKER = "airflow_provider_exports.started."  # + dag id, run id, task id, map index


def _run(emulator: OracleCommerceEmulator, run_dag: Any, dag_id: str) -> Any:
    name, value = emulator.connection_env("oracle_commerce_default")
    return run_dag(dag_id, {name: value, "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS)}, dag_file=DAG_FILE)


def _markers(result: Any, dag_id: str) -> list[str]:
    """The start markers of this DAG's runs still in the Variables list."""
    return [v for v in result.variables if v.startswith(f"{MARKER}{dag_id}.")]


def _segment(output: str, task_id: str) -> str:
    """The log lines of one task of a ``dag.test()`` run."""
    start = output.index(f"[DAG TEST] starting task_id={task_id} ")
    end = output.find(f"[DAG TEST] end task task_id={task_id} ", start)
    return output[start : end if end != -1 else None]


def test_a_missing_export_id_never_reaches_the_vendor(
    occ_emulator: OracleCommerceEmulator, run_dag: Any
) -> None:
    refusal = {"errorCode": "100002", "message": "Invalid export items", "status": "400"}
    occ_emulator.inject(
        Fault(
            "status",
            status=400,
            body=json.dumps(refusal),
            content_type="application/json",
            method="POST",
            path_prefix="/ccadmin/v1/exportProcess",
        )
    )
    result = _run(occ_emulator, run_dag, "missing_export_id")
    assert result.tasks["start"] == "failed", result.output[-4000:]
    # The log task skips, saying why; the sensor and the download fail, saying why.
    assert result.tasks["log"] == "skipped", result.output[-4000:]
    assert result.tasks["wait"] == "failed"
    assert result.tasks["download"] == "failed"
    for task_id in ("log", "wait", "download"):
        assert "no export id: the start task did not push one" in _segment(result.output, task_id), task_id
    # Only the refused start reached the emulator (no login: OCC's key is sent on each call).
    paths = [(r.method, r.path) for r in occ_emulator.requests if not r.path.startswith("/ccadmin/v1/login")]
    assert paths == [("POST", "/ccadmin/v1/exportProcess")], paths


def test_a_blip_on_the_poll_before_deferring_only_defers(
    occ_emulator: OracleCommerceEmulator, run_dag: Any
) -> None:
    occ_emulator.script_next("processing", "processing", "succeeded")
    occ_emulator.inject(Fault("status", status=503, body="busy", path_prefix=STATUS_PATH))
    result = _run(occ_emulator, run_dag, "deferred_start_blip")
    assert result.state == "success", result.output[-4000:]
    assert "deferred" in result.transitions["start_and_wait"]
    assert "Polling export" in result.output and "will poll again" in result.output
    (export_id,) = occ_emulator.exports
    assert result.return_value("start_and_wait") == export_id


def test_the_start_marker_ends_with_a_vendor_failure(
    occ_emulator: OracleCommerceEmulator, run_dag: Any
) -> None:
    # The vendor's verdict fails the task without a retry: no later try needs the marker.
    occ_emulator.script_next("processing", "failed")
    result = _run(occ_emulator, run_dag, "start_fails_for_good")
    assert result.tasks["start_and_wait"] == "failed", result.output[-4000:]
    assert "up_for_retry" not in result.transitions["start_and_wait"]
    assert not _markers(result, "start_fails_for_good"), result.variables


def test_the_start_marker_ends_with_the_last_try(occ_emulator: OracleCommerceEmulator, run_dag: Any) -> None:
    # Try 1 fails on an unreadable status answer after starting (the marker must survive it: try 2
    # adopts the export through it); try 2 fails the same way and is the last: the marker goes.
    occ_emulator.script_next("processing")
    occ_emulator.inject(
        Fault("body", body=HTML, content_type="text/html", path_prefix=STATUS_PATH),
        Fault("pass", path_prefix=STATUS_PATH),
        Fault("body", body=HTML, content_type="text/html", path_prefix=STATUS_PATH),
    )
    result = _run(occ_emulator, run_dag, "start_retries_run_out")
    assert result.tasks["start_and_wait"] == "failed", result.output[-4000:]
    assert "up_for_retry" in result.transitions["start_and_wait"]
    assert len(occ_emulator.exports) == 1, "the retry did not adopt the first try's export"
    assert "adopts Oracle Commerce Cloud export" in result.output
    assert not _markers(result, "start_retries_run_out"), result.variables
