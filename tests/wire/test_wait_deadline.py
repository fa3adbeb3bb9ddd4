"""The wait's deadline, over loopback against the OCC emulator: the worker-side waiter
(``waiting.Poller.wait``, which ``StartExportOperator(deferrable=False)`` uses) and the triggerer's
(``ExportStatusTrigger``) both end at ``wait_timeout`` with the last state seen, even when the
poll interval is longer than what is left of the wait.

The task-level timeouts (and the cancel that follows) run on real Airflow in
tests/integration/test_start_wait_timeouts.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout
from wire_support import wire_hook

from airflow_provider_exports.hooks.base import ExportHook
from airflow_provider_exports.testing import Step
from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator
from airflow_provider_exports.triggers.export_status import ExportStatusTrigger
from airflow_provider_exports.waiting import Poller

LAST_SEEN = "last seen: export 'e1', vendor state 'processing', progress 5%"
#: A poll interval much longer than the wait's timeout, and how late the end may come (one
#: poll over loopback and scheduling on a loaded machine; far less than the interval).
LONG_INTERVAL = 5.0
TIMEOUT = 0.5
SLACK = 2.0
log = logging.getLogger(__name__)


@pytest.fixture
def stuck(occ_emulator: OracleCommerceEmulator) -> OracleCommerceEmulator:
    """An export 'e1' that stays 'processing' at 5%."""
    occ_emulator.add_export("e1", Step("processing", 5))
    return occ_emulator


def _hook(emulator: OracleCommerceEmulator) -> ExportHook:
    return wire_hook(emulator, "deadline_wire")


def _aborts(emulator: OracleCommerceEmulator) -> list[Any]:
    return [r for r in emulator.requests if r.path.endswith("/abort")]


def test_a_worker_wait_times_out_with_the_last_state(stuck: OracleCommerceEmulator) -> None:
    poller = Poller("e1", log)
    with pytest.raises(AirflowSensorTimeout) as caught:
        poller.wait(_hook(stuck), 0.1, 1.0)
    assert str(caught.value) == f"Timed out waiting for export 'e1'; {LAST_SEEN}"
    assert stuck.exports["e1"].polls >= 3, "it polled until the deadline"
    assert poller.last is not None and poller.last.vendor_state == "processing"
    assert not _aborts(stuck), "the waiter only reports the timeout; cancelling is the operator's call"


def test_a_worker_wait_ends_at_its_timeout_not_a_poll_interval_later(stuck: OracleCommerceEmulator) -> None:
    began = time.monotonic()
    with pytest.raises(AirflowSensorTimeout, match=LAST_SEEN):
        Poller("e1", log).wait(_hook(stuck), LONG_INTERVAL, TIMEOUT)
    elapsed = time.monotonic() - began
    assert elapsed < TIMEOUT + SLACK, (
        f"wait_timeout={TIMEOUT}s ended after {elapsed:.1f}s: the waiter slept a whole poll interval "
        f"({LONG_INTERVAL}s) past its deadline"
    )


def test_a_triggerer_wait_ends_at_its_timeout_not_a_poll_interval_later(
    stuck: OracleCommerceEmulator, export_conn: Callable[..., str]
) -> None:
    trigger = ExportStatusTrigger(
        conn_id=export_conn(stuck),
        export_id="e1",
        poll_interval=LONG_INTERVAL,
        timeout_at=time.time() + TIMEOUT,
        hook_params={"retry": {"attempts": 2, "backoff": 0.05}},
    )

    async def _events() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    began = time.monotonic()
    (event,) = asyncio.run(_events())
    elapsed = time.monotonic() - began
    assert event["status"] == "timeout" and LAST_SEEN in event["message"], json.dumps(event)
    assert elapsed < TIMEOUT + SLACK, f"timeout_at {TIMEOUT}s ahead ended after {elapsed:.1f}s"
    assert not _aborts(stuck)
