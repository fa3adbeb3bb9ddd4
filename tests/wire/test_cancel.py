"""Cancelling an export at the hook level, over loopback against the emulators.

Oracle Commerce Cloud is the one vendor with a cancel call (``POST
/ccadmin/v1/exportProcess/{id}/abort``): accepted, refused (``{"success": false}`` or an error
answer), for an unknown id, after a token expiry, with both runners. The other vendors' hooks
say they cannot cancel (``supports_cancel`` False) and ``cancel`` raises ``ExportConfigError``
without a request. The task-level uses (``cancel_on_timeout``, ``on_kill``) run on real Airflow
in tests/integration/test_start_wait_timeouts.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from wire_support import RUNNERS, wire_hook

from airflow_provider_exports.errors import ExportConfigError, ExportRequestError
from airflow_provider_exports.hooks.base import ExportHook
from airflow_provider_exports.operators import StartExportOperator
from airflow_provider_exports.status import ExportState, ExportStatus
from airflow_provider_exports.testing import Fault
from airflow_provider_exports.testing.emulator import Emulator
from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator
from airflow_provider_exports.transport.aio import pooled_session

PROCESS = "/ccadmin/v1/exportProcess"
PAYLOAD = {"mode": "bundle", "fileName": "cancel.zip", "items": [{"id": "Profiles"}]}


def _hook(emulator: Emulator, conn_id: str = "cancel_wire") -> ExportHook:
    return wire_hook(emulator, conn_id)


def _cancel(hook: ExportHook, export_id: str, runner: str) -> tuple[bool, ExportStatus]:
    """Cancel with one runner, then read the status with the same runner."""
    if runner == "requests":
        return hook.cancel(export_id), hook.get_status(export_id)

    async def _run() -> tuple[bool, ExportStatus]:
        async with pooled_session():
            return await hook.acancel(export_id), await hook.aget_status(export_id)

    return asyncio.run(_run())


def _aborts(emulator: OracleCommerceEmulator) -> list[Any]:
    return [r for r in emulator.requests if r.method == "POST" and r.path.endswith("/abort")]


# ---- Oracle Commerce Cloud ---------------------------------------------------------------------


@RUNNERS
def test_cancel_aborts_a_running_export(occ_emulator: OracleCommerceEmulator, runner: str) -> None:
    occ_emulator.script_next("processing")
    hook = _hook(occ_emulator)
    assert hook.supports_cancel
    export_id = hook.start_export(PAYLOAD)
    assert hook.get_status(export_id).state is ExportState.RUNNING

    accepted, after = _cancel(hook, export_id, runner)

    assert accepted is True
    assert occ_emulator.exports[export_id].cancelled
    (abort,) = _aborts(occ_emulator)
    assert abort.raw_path == f"{PROCESS}/{export_id}/abort"
    assert abort.headers["Authorization"].removeprefix("Bearer ") in occ_emulator.tokens.issued_tokens()
    # The vendor now reports the export aborted: a terminal, cancelled state.
    assert (after.vendor_state, after.state) == ("aborted", ExportState.CANCELLED)
    assert after.is_terminal and not after.is_success


@RUNNERS
def test_an_abort_answered_without_success_is_refused(
    occ_emulator: OracleCommerceEmulator, runner: str
) -> None:
    occ_emulator.add_export("e1", "processing")
    occ_emulator.inject(
        Fault(
            "body",
            body='{"success": false}',
            content_type="application/json",
            path_prefix=PROCESS,
            method="POST",
        )
    )
    accepted, after = _cancel(_hook(occ_emulator), "e1", runner)

    assert accepted is False
    assert len(_aborts(occ_emulator)) == 1 and not occ_emulator.faults
    assert after.state is ExportState.RUNNING and not occ_emulator.exports["e1"].cancelled


@RUNNERS
def test_an_abort_refused_with_an_error_is_a_clear_error(
    occ_emulator: OracleCommerceEmulator, runner: str
) -> None:
    occ_emulator.add_export("e1", "succeeded")
    refusal = {"errorCode": "200005", "message": "Export process already completed", "status": "409"}
    occ_emulator.inject(
        Fault(
            "status",
            status=409,
            body=json.dumps(refusal),
            content_type="application/json",
            path_prefix=PROCESS,
            method="POST",
        )
    )
    with pytest.raises(ExportRequestError) as caught:
        _cancel(_hook(occ_emulator), "e1", runner)

    error = caught.value
    assert (error.status, error.code, error.vendor_message) == (
        409,
        "200005",
        "Export process already completed",
    )
    assert "Oracle Commerce Cloud" in str(error) and "abort export 'e1'" in str(error)
    assert len(_aborts(occ_emulator)) == 1, "a refused abort is not sent again"


def test_cancelling_an_unknown_export_is_a_clear_error(occ_emulator: OracleCommerceEmulator) -> None:
    with pytest.raises(ExportRequestError, match=r"HTTP 404, code 200001"):
        _hook(occ_emulator).cancel("nope")


@RUNNERS
def test_an_abort_after_the_token_expired_logs_in_once_more(
    occ_emulator: OracleCommerceEmulator, runner: str
) -> None:
    occ_emulator.add_export("e1", "processing")
    hook = _hook(occ_emulator)
    hook.get_status("e1")
    occ_emulator.tokens.expire_all()

    accepted, _ = _cancel(hook, "e1", runner)

    assert accepted and occ_emulator.exports["e1"].cancelled
    assert occ_emulator.tokens.issued == 2
    assert len(_aborts(occ_emulator)) == 2, "one abort met the expired token, one went through"


@pytest.mark.parametrize("export_id", ["../x", "a/b", "..", "%2F"])
def test_the_abort_path_cannot_be_changed_by_the_id(
    occ_emulator: OracleCommerceEmulator, export_id: str
) -> None:
    occ_emulator.add_export(export_id, "processing")
    assert _hook(occ_emulator).cancel(export_id) is True
    (abort,) = _aborts(occ_emulator)
    assert abort.path == f"{PROCESS}/{export_id}/abort"  # decoded by the server: exactly our id
    assert abort.raw_path.count("/") == f"{PROCESS}/x/abort".count("/")
    assert occ_emulator.exports[export_id].cancelled


def test_on_kill_before_an_export_started_sends_nothing(
    occ_emulator: OracleCommerceEmulator, export_conn: Callable[..., str]
) -> None:
    conn_id = export_conn(occ_emulator)
    StartExportOperator(task_id="start", conn_id=conn_id, payload=PAYLOAD).on_kill()
    assert occ_emulator.requests == []


# ---- vendors without a cancel call -------------------------------------------------------------


@RUNNERS
@pytest.mark.parametrize(
    "conn_type", ["informatica_iics", "personium", "huawei_dataarts", "huawei_workspace"]
)
def test_vendors_without_a_cancel_call_say_so(
    make_emulator: Callable[..., Emulator], conn_type: str, runner: str
) -> None:
    emulator = make_emulator(conn_type)
    hook = _hook(emulator)
    assert hook.supports_cancel is False

    with pytest.raises(ExportConfigError, match="exports cannot be cancelled through the API") as caught:
        _cancel(hook, "some-export", runner)
    assert hook.vendor in str(caught.value)
    assert emulator.requests == [], "nothing reached the vendor"
