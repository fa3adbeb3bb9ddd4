"""Huawei Cloud (DataArts Studio, Workspace) on real Airflow and real HTTP against the emulators.

DAG runs (dag.test, SQLite, deferrable sensor) cover success in both auth modes, vendor failure,
expiry and list paging; faster hook-level tests cover auth errors, origins, signing, odd ids,
large result bodies and resumed downloads over loopback.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_exports.errors import ExportAuthError, ExportConfigError, ExportRequestError
from airflow_provider_exports.hooks.huawei_dataarts import HuaweiDataArtsHook
from airflow_provider_exports.hooks.huawei_signing import parse_authorization
from airflow_provider_exports.hooks.huawei_workspace import HuaweiWorkspaceHook
from airflow_provider_exports.testing import Fault, Step
from airflow_provider_exports.testing.huawei import DataArtsEmulator, HuaweiCloudEmulator, WorkspaceEmulator
from airflow_provider_exports.transport import Op, Request, Response, RetryPolicy

pytestmark = pytest.mark.integration

DATAARTS_DAG = "huawei_dataarts_export"
WORKSPACE_DAG = "huawei_workspace_export"
AUTH_TYPES = ["aksk", "iam"]
FAST_RETRIES = RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.05)


# ---- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def started() -> Iterator[Callable[[HuaweiCloudEmulator], HuaweiCloudEmulator]]:
    """Start emulators built in the test (with their own options); stop them afterwards."""
    running: list[HuaweiCloudEmulator] = []

    def _start(emulator: HuaweiCloudEmulator) -> HuaweiCloudEmulator:
        emulator.start()
        running.append(emulator)
        return emulator

    yield _start
    for emulator in running:
        emulator.stop()


def _env(emulator: HuaweiCloudEmulator, conn_id: str, **extra: str) -> dict[str, str]:
    name, value = emulator.connection_env(conn_id)
    return {name: value, "EXPORTS_POKE_INTERVAL": "0.2", **extra}


def _connection(emulator: HuaweiCloudEmulator, **overrides: Any) -> Connection:
    data = {**emulator.connection(), **overrides}
    return Connection(
        conn_id=f"{emulator.vendor}_hook_test",
        conn_type=data["conn_type"],
        host=data["host"],
        login=data["login"],
        password=data["password"],
        extra=json.dumps(data["extra"]),
    )


def _dataarts_hook(emulator: DataArtsEmulator, **overrides: Any) -> HuaweiDataArtsHook:
    return HuaweiDataArtsHook(
        "dataarts", connection=_connection(emulator, **overrides), retry_policy=FAST_RETRIES
    )


def _workspace_hook(emulator: WorkspaceEmulator, **overrides: Any) -> HuaweiWorkspaceHook:
    return HuaweiWorkspaceHook(
        "workspace", connection=_connection(emulator, **overrides), retry_policy=FAST_RETRIES
    )


def _only_export(emulator: HuaweiCloudEmulator) -> Any:
    started_exports = [e for e in emulator.exports.values() if not e.export_id.startswith("filler-")]
    assert len(started_exports) == 1, "the DAG must start exactly one export"
    return started_exports[0]


def _assert_no_secrets(emulator: HuaweiCloudEmulator, *texts: str) -> None:
    secrets = emulator.secret_values()
    assert len(secrets) >= 2
    for text in texts:
        for secret in secrets:
            assert secret not in text, "a password, secret key or token leaked"


def _assert_auth_mode_used(emulator: HuaweiCloudEmulator) -> None:
    if emulator.auth_type == "iam":
        assert emulator.token_requests >= 1 and emulator.signed_requests == 0
    else:
        assert emulator.signed_requests >= 1 and emulator.token_requests == 0


def _probe(request: Request) -> Op[Response]:
    response = yield request
    return response


# ---- DAG runs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth_type", AUTH_TYPES)
def test_dataarts_export_succeeds_deferred_and_downloads(
    started: Callable[..., Any], run_dag: Any, auth_type: str
) -> None:
    emulator = started(DataArtsEmulator(auth_type=auth_type))
    result = run_dag(DATAARTS_DAG, _env(emulator, "huawei_dataarts_default"))

    assert result.state == "success", result.output[-4000:]
    assert result.tasks == {
        "start_export": "success",
        "wait_for_export": "success",
        "download_export": "success",
        "fetch_export_log": "success",
    }
    assert "deferred" in result.transitions["wait_for_export"], result.transitions
    export = _only_export(emulator)
    assert export.payload["type"] == "TABLE_MODEL" and export.payload["asyn"] is True
    final = result.return_value("wait_for_export")
    assert final["status"] == "success" and final["vendor_state"] == "success"
    assert final["export_id"] == export.export_id
    downloaded = Path(result.return_value("download_export"))
    assert downloaded.suffix == ".xlsx"
    assert downloaded.read_bytes() == export.content
    assert "vendor state 'importing', progress 40%" in result.output
    _assert_auth_mode_used(emulator)
    _assert_no_secrets(emulator, result.output, json.dumps(result.xcom))


@pytest.mark.parametrize(
    ("auth_type", "token_uses"),
    [("aksk", None), ("iam", 3)],
    ids=["aksk", "iam-token-invalidated-mid-wait"],
)
def test_workspace_export_succeeds_deferred_and_downloads(
    started: Callable[..., Any], run_dag: Any, auth_type: str, token_uses: int | None
) -> None:
    emulator = started(WorkspaceEmulator(auth_type=auth_type, token_uses=token_uses))
    emulator.script_next("CREATING", "CREATING", "CREATING", "CREATING", "SUCCESS")
    result = run_dag(WORKSPACE_DAG, _env(emulator, "huawei_workspace_default"))

    assert result.state == "success", result.output[-4000:]
    assert "deferred" in result.transitions["wait_for_export"], result.transitions
    export = _only_export(emulator)
    assert export.payload == {"language": "en_US"}
    final = result.return_value("wait_for_export")
    assert final["vendor_state"] == "SUCCESS" and final["export_id"] == export.export_id
    assert Path(result.return_value("download_export")).read_bytes() == export.content
    assert export.extra["downloaded"] is True
    assert result.return_value("fetch_export_log").startswith(f"export {export.export_id!r}, vendor state 'SUCCESS'")
    _assert_auth_mode_used(emulator)
    if token_uses is not None:
        # The server invalidated the first token while it still looked valid: one fresh login.
        assert emulator.token_requests >= 2
    _assert_no_secrets(emulator, result.output, json.dumps(result.xcom))


def test_dataarts_failure_fails_with_the_vendor_message(started: Callable[..., Any], run_dag: Any) -> None:
    emulator = started(DataArtsEmulator(auth_type="iam"))
    emulator.script_next(
        Step("importing", 20), Step("fail", 35, message="Table model 1160236484595425279 was deleted", code="DS.6021")
    )
    result = run_dag(DATAARTS_DAG, _env(emulator, "huawei_dataarts_default"))

    assert result.state == "failed"
    assert result.tasks["wait_for_export"] == "failed"
    assert result.tasks["download_export"] == "upstream_failed"
    assert result.tasks["fetch_export_log"] == "success"
    export = _only_export(emulator)
    assert f"Export {export.export_id!r} did not succeed, vendor state 'fail'" in result.output
    assert "Table model 1160236484595425279 was deleted" in result.output
    assert "[DS.6021]" in result.return_value("fetch_export_log")
    _assert_no_secrets(emulator, result.output, json.dumps(result.xcom))


def test_workspace_failure_fails_with_fail_reason_and_error_code(
    started: Callable[..., Any], run_dag: Any
) -> None:
    emulator = started(WorkspaceEmulator(auth_type="aksk"))
    emulator.script_next(
        "CREATING", Step("FAIL", message="Too many users to export in one file", code="WKS.0127")
    )
    result = run_dag(WORKSPACE_DAG, _env(emulator, "huawei_workspace_default"))

    assert result.state == "failed"
    assert result.tasks["wait_for_export"] == "failed"
    assert result.tasks["download_export"] == "upstream_failed"
    assert result.tasks["fetch_export_log"] == "success"
    export = _only_export(emulator)
    assert (
        f"Export {export.export_id!r} did not succeed, vendor state 'FAIL', code WKS.0127: "
        "Too many users to export in one file"
    ) in result.output
    assert '"fail_reason": "Too many users to export in one file"' in result.return_value("fetch_export_log")
    _assert_no_secrets(emulator, result.output, json.dumps(result.xcom))


def test_workspace_expired_task_fails_clearly(started: Callable[..., Any], run_dag: Any) -> None:
    emulator = started(WorkspaceEmulator(auth_type="iam"))
    emulator.script_next("CREATING", "EXPIRED")
    result = run_dag(WORKSPACE_DAG, _env(emulator, "huawei_workspace_default"))

    assert result.tasks["wait_for_export"] == "failed"
    assert result.tasks["download_export"] == "upstream_failed"
    export = _only_export(emulator)
    assert f"Export {export.export_id!r} did not succeed, vendor state 'EXPIRED'" in result.output
    assert "the export file has expired and can no longer be downloaded; start a new export" in result.output
    assert "downloaded" not in export.extra
    _assert_no_secrets(emulator, result.output, json.dumps(result.xcom))


def test_workspace_task_on_page_two_when_the_filter_is_ignored(
    started: Callable[..., Any], run_dag: Any
) -> None:
    # 150 older tasks listed first, filter and sort ignored: the new task is item 151, on page 2.
    emulator = started(WorkspaceEmulator(auth_type="aksk", ignore_filters=True, filler_tasks=150))
    result = run_dag(WORKSPACE_DAG, _env(emulator, "huawei_workspace_default"))

    assert result.state == "success", result.output[-4000:]
    assert "deferred" in result.transitions["wait_for_export"], result.transitions
    export = _only_export(emulator)
    assert Path(result.return_value("download_export")).read_bytes() == export.content
    list_calls = [r for r in emulator.requests_to(f"/v2/{emulator.project_id}/export-tasks") if r.method == "GET"]
    offsets = [r.raw_path for r in list_calls if "offset=100&" in r.raw_path and "limit=100" in r.raw_path]
    assert offsets, "the hook read page 2 (offset 100)"
    assert all(f"task_id={export.export_id}" in r.raw_path for r in list_calls if "offset=" in r.raw_path)
    _assert_no_secrets(emulator, result.output, json.dumps(result.xcom))
