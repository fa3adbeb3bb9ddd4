"""Huawei Cloud (DataArts Studio, Workspace) on real Airflow and real HTTP against the emulators.

DAG runs (dag.test, SQLite, deferrable sensor) cover success in both auth modes, vendor failure,
expiry and list paging. The hooks' own checks over loopback (auth errors, origins, signing, odd
ids, large result bodies, resumed downloads) are in tests/wire/test_huawei_dataarts_hook.py and
tests/wire/test_huawei_workspace_hook.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_exports.testing import Step
from airflow_provider_exports.testing.emulator import Export
from airflow_provider_exports.testing.huawei import DataArtsEmulator, HuaweiCloudEmulator, WorkspaceEmulator
from integration.expect import assert_exported, assert_failed_by_vendor, only_export

pytestmark = pytest.mark.integration

DATAARTS_DAG = "huawei_dataarts_export"
WORKSPACE_DAG = "huawei_workspace_export"
AUTH_TYPES = ["aksk", "iam"]
#: Id prefix of the older tasks a Workspace emulator lists before the one the run started.
FILLER = "filler-"


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


def _only_export(emulator: HuaweiCloudEmulator) -> Export:
    return only_export(emulator, besides=FILLER)


def _assert_no_secrets(emulator: HuaweiCloudEmulator, *texts: str) -> None:
    secrets = emulator.secrets()
    assert {emulator.password, emulator.secret_key} <= secrets
    for text in texts:
        for secret in secrets:
            assert secret not in text, "a password, secret key or token leaked"


def _assert_auth_mode_used(emulator: HuaweiCloudEmulator) -> None:
    if emulator.auth_type == "iam":
        assert emulator.token_requests >= 1 and emulator.signed_requests == 0
    else:
        assert emulator.signed_requests >= 1 and emulator.token_requests == 0


# ---- DAG runs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth_type", AUTH_TYPES)
def test_dataarts_export_succeeds_deferred_and_downloads(
    started: Callable[..., Any], run_dag: Any, auth_type: str
) -> None:
    emulator = started(DataArtsEmulator(auth_type=auth_type))
    result = run_dag(DATAARTS_DAG, _env(emulator, "huawei_dataarts_default"))

    export = assert_exported(result, emulator, vendor_state="success", besides=FILLER)
    assert export.payload["type"] == "TABLE_MODEL" and export.payload["asyn"] is True
    assert Path(result.return_value("download_export")).suffix == ".xlsx"
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

    export = assert_exported(result, emulator, vendor_state="SUCCESS", besides=FILLER)
    assert export.payload == {"language": "en_US"}
    assert export.extra["downloaded"] is True
    assert result.return_value("fetch_export_log").startswith(
        f"export {export.export_id!r}, vendor state 'SUCCESS'"
    )
    _assert_auth_mode_used(emulator)
    if token_uses is not None:
        # The server invalidated the first token while it still looked valid: one fresh login.
        assert emulator.token_requests >= 2
    _assert_no_secrets(emulator, result.output, json.dumps(result.xcom))


def test_dataarts_failure_fails_with_the_vendor_message(started: Callable[..., Any], run_dag: Any) -> None:
    emulator = started(DataArtsEmulator(auth_type="iam"))
    emulator.script_next(
        Step("importing", 20),
        Step("fail", 35, message="Table model 1160236484595425279 was deleted", code="DS.6021"),
    )
    result = run_dag(DATAARTS_DAG, _env(emulator, "huawei_dataarts_default"))

    assert_failed_by_vendor(result, emulator, vendor_state="fail", besides=FILLER)
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

    export = assert_failed_by_vendor(result, emulator, vendor_state="FAIL", besides=FILLER)
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

    export = assert_failed_by_vendor(result, emulator, vendor_state="EXPIRED", besides=FILLER)
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
    list_calls = [
        r for r in emulator.requests_to(f"/v2/{emulator.project_id}/export-tasks") if r.method == "GET"
    ]
    offsets = [r.raw_path for r in list_calls if "offset=100&" in r.raw_path and "limit=100" in r.raw_path]
    assert offsets, "the hook read page 2 (offset 100)"
    assert all(f"task_id={export.export_id}" in r.raw_path for r in list_calls if "offset=" in r.raw_path)
    _assert_no_secrets(emulator, result.output, json.dumps(result.xcom))
