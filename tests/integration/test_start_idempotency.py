"""A retried StartExportOperator adopts the export its first try started (real Airflow, retries)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_exports.testing import Fault, Step
from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator

pytestmark = pytest.mark.integration
DAGS = Path(__file__).with_name("dags")
HTML = "<!DOCTYPE html><html>Gateway error</html>"


def _run(emulator: OracleCommerceEmulator, run_dag: Any, adopt: bool) -> Any:
    # The first status poll after the start gets an HTML page: the first try fails after the
    # export was started, and Airflow retries the task.
    emulator.script_next("processing", Step("processing", 50), "succeeded")
    emulator.script_next("processing", "succeeded")
    emulator.inject(
        Fault("body", body=HTML, content_type="text/html", path_prefix="/ccadmin/v1/exportProcess/")
    )
    name, value = emulator.connection_env("oracle_commerce_default")
    return run_dag(
        "start_retry",
        {name: value, "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS), "ADOPT": "true" if adopt else "false"},
        dag_file=str(DAGS / "start_retry.py"),
    )


def test_retry_adopts_the_running_export(occ_emulator: OracleCommerceEmulator, run_dag: Any) -> None:
    result = _run(occ_emulator, run_dag, adopt=True)
    assert result.state == "success", result.output[-4000:]
    assert "up_for_retry" in result.transitions["start_and_wait"]
    assert len(occ_emulator.exports) == 1, "the retry started a second export"
    (export_id,) = occ_emulator.exports
    assert f"adopts Oracle Commerce Cloud export {export_id!r}" in result.output
    assert result.return_value("start_and_wait") == export_id
    assert not [v for v in result.variables if v.startswith("airflow_provider_exports.started.")]


def test_without_adoption_a_retry_starts_again(occ_emulator: OracleCommerceEmulator, run_dag: Any) -> None:
    result = _run(occ_emulator, run_dag, adopt=False)
    assert result.state == "success", result.output[-4000:]
    assert len(occ_emulator.exports) == 2  # the behaviour adoption exists to prevent
