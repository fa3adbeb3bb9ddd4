"""The Oracle Commerce Cloud example DAG on real Airflow (dag.test, SQLite) against the emulator."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_exports.testing import Fault, Step
from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator
from integration.expect import assert_exported, assert_failed_by_vendor, only_export

pytestmark = pytest.mark.integration

DAG_ID = "oracle_commerce_export"


def _env(emulator: OracleCommerceEmulator, **extra: str) -> dict[str, str]:
    name, value = emulator.connection_env("oracle_commerce_default")
    return {name: value, "EXPORTS_POKE_INTERVAL": "0.2", **extra}


def test_success_deferred_and_downloaded(occ_emulator: OracleCommerceEmulator, run_dag: Any) -> None:
    result = run_dag(DAG_ID, _env(occ_emulator))

    export = assert_exported(result, occ_emulator, vendor_state="succeeded", log_has=["successCount"])
    assert export.step.state == "succeeded"
    # The sensor logged the vendor state and progress while it waited.
    assert "vendor state 'processing', progress 30%" in result.output


def test_vendor_failure_fails_with_message(occ_emulator: OracleCommerceEmulator, run_dag: Any) -> None:
    occ_emulator.script_next(
        Step("processing", 10), Step("failed", 40, message="Profile repository unavailable", code="EXPORT_IO")
    )
    result = run_dag(DAG_ID, _env(occ_emulator))

    # The log task still runs and reports the failure.
    assert_failed_by_vendor(result, occ_emulator, vendor_state="failed")
    assert "Profile repository unavailable" in result.output


def test_timeout_fails_as_timeout(occ_emulator: OracleCommerceEmulator, run_dag: Any) -> None:
    occ_emulator.script_next(Step("processing", 5))
    result = run_dag(DAG_ID, _env(occ_emulator, EXPORTS_WAIT_TIMEOUT="2"))

    assert result.tasks["wait_for_export"] == "failed"
    assert "AirflowSensorTimeout" in result.output
    assert "Timed out waiting for export" in result.output
    assert "last seen: export" in result.output and "progress 5%" in result.output
    assert result.tasks["download_export"] == "upstream_failed"


def test_flaky_vendor_still_succeeds(occ_emulator: OracleCommerceEmulator, run_dag: Any) -> None:
    status_path = "/ccadmin/v1/exportProcess/"
    occ_emulator.inject(
        Fault("status", status=503, path_prefix=status_path, method="GET"),
        Fault("status", status=503, path_prefix=status_path, method="GET"),
        Fault("status", status=429, headers={"Retry-After": "1"}, path_prefix=status_path, method="GET"),
        Fault("drop", path_prefix=status_path, method="GET"),
    )
    result = run_dag(DAG_ID, _env(occ_emulator))

    assert result.state == "success", result.output[-4000:]
    assert not occ_emulator.faults, "every injected fault was served"
    export = only_export(occ_emulator)
    assert Path(result.return_value("download_export")).read_bytes() == export.content
    assert "HTTP 429" in result.output and "HTTP 503" in result.output


def test_no_credentials_in_logs_xcom_or_trigger(occ_emulator: OracleCommerceEmulator, run_dag: Any) -> None:
    result = run_dag(DAG_ID, _env(occ_emulator))
    assert result.state == "success"

    secrets = {occ_emulator.app_key, *occ_emulator.tokens.issued_tokens()}
    assert occ_emulator.tokens.issued >= 1
    haystacks = {"task and triggerer output": result.output, "xcom": json.dumps(result.xcom)}
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a credential leaked into {where}"
    # The sensor's defer request carried only ids and numbers.
    assert "ExportStatusTrigger" in result.output or "deferred" in result.transitions["wait_for_export"]


def test_download_bytes_hash_matches(occ_emulator: OracleCommerceEmulator, run_dag: Any) -> None:
    result = run_dag(DAG_ID, _env(occ_emulator))
    export = only_export(occ_emulator)
    data = Path(result.return_value("download_export")).read_bytes()
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(export.content).hexdigest()
