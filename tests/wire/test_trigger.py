"""ExportStatusTrigger run as the triggerer runs it (one event loop, the async generator)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from airflow_provider_exports.errors import ExportFailedError
from airflow_provider_exports.testing import Fault, Step
from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator
from airflow_provider_exports.triggers.export_status import ExportStatusTrigger, make_trigger
from airflow_provider_exports.waiting import finish


def events(trigger: ExportStatusTrigger) -> list[dict[str, Any]]:
    async def _collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(_collect())


def trigger_for(conn_id: str, export_id: str, **kw: Any) -> ExportStatusTrigger:
    kw.setdefault("poll_interval", 0.05)
    kw.setdefault("timeout_at", time.time() + 30)
    return ExportStatusTrigger(conn_id=conn_id, export_id=export_id, **kw)


def test_serializes_only_ids_and_numbers(occ_emulator: OracleCommerceEmulator, export_conn: Any) -> None:
    conn_id = export_conn(occ_emulator)
    trigger = trigger_for(conn_id, "e1", success_states=["paused"], hook_params={"job": "export"})
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_exports.triggers.export_status.ExportStatusTrigger"
    assert set(kwargs) == {
        "conn_id",
        "export_id",
        "poll_interval",
        "timeout_at",
        "success_states",
        "failure_states",
        "hook_params",
        "next_poll_at",
    }
    text = json.dumps(kwargs)  # plain JSON, nothing pickled
    assert occ_emulator.app_key not in text
    rebuilt = ExportStatusTrigger(**json.loads(text))
    assert rebuilt.serialize() == (classpath, kwargs)


def test_first_poll_comes_one_interval_after_the_workers(
    occ_emulator: OracleCommerceEmulator, export_conn: Any
) -> None:
    conn_id = export_conn(occ_emulator)
    occ_emulator.add_export("e1", "succeeded")
    trigger, _ = make_trigger(
        conn_id=conn_id,
        export_id="e1",
        poll_interval=0.5,
        timeout=30,
        success_states=None,
        failure_states=None,
        hook_params={},
    )
    assert trigger.next_poll_at is not None and trigger.next_poll_at > time.time() + 0.3
    began = time.monotonic()
    (event,) = events(trigger)
    assert event["status"] == "success" and occ_emulator.exports["e1"].polls == 1
    assert time.monotonic() - began >= 0.4  # not at once, as if the worker had not just polled


def test_first_poll_waits_at_most_one_interval(
    occ_emulator: OracleCommerceEmulator, export_conn: Any
) -> None:
    """A worker clock an hour ahead of the triggerer's delays the first poll by one interval."""
    conn_id = export_conn(occ_emulator)
    occ_emulator.add_export("e1", "succeeded")
    began = time.monotonic()
    (event,) = events(trigger_for(conn_id, "e1", poll_interval=0.2, next_poll_at=time.time() + 3600))
    assert event["status"] == "success"
    assert 0.15 <= time.monotonic() - began < 10


def test_one_success_event(occ_emulator: OracleCommerceEmulator, export_conn: Any) -> None:
    conn_id = export_conn(occ_emulator)
    occ_emulator.add_export("e1", "pending", Step("processing", 50), Step("succeeded", 100))
    (event,) = events(trigger_for(conn_id, "e1"))
    assert event["status"] == "success" and event["vendor_state"] == "succeeded" and event["progress"] == 100
    assert occ_emulator.exports["e1"].polls == 3


def test_transient_errors_never_end_the_wait(occ_emulator: OracleCommerceEmulator, export_conn: Any) -> None:
    conn_id = export_conn(occ_emulator)
    occ_emulator.add_export("e1", "processing", "succeeded")
    # More consecutive failures than one call's retry budget (5 attempts): the trigger polls on.
    occ_emulator.inject(*[Fault("status", status=503, path_prefix="/ccadmin/v1/exportProcess/")] * 7)
    retry = {"attempts": 3, "backoff": 0.01, "backoff_max": 0.02}
    trigger = trigger_for(conn_id, "e1", hook_params={"retry": retry})
    (event,) = events(trigger)
    assert event["status"] == "success"
    assert not occ_emulator.faults


def test_vendor_failure_event_carries_message(occ_emulator: OracleCommerceEmulator, export_conn: Any) -> None:
    conn_id = export_conn(occ_emulator)
    occ_emulator.add_export("e1", "processing", Step("failed", message="Disk full", code="E42"))
    (event,) = events(trigger_for(conn_id, "e1"))
    assert event["status"] == "failed" and "Disk full" in event["message"]
    with pytest.raises(
        ExportFailedError, match=r"Export 'e1' did not succeed, vendor state 'failed'.*Disk full"
    ):
        finish(event, log=_NullLog())


def test_aborted_is_cancelled_not_success(occ_emulator: OracleCommerceEmulator, export_conn: Any) -> None:
    conn_id = export_conn(occ_emulator)
    occ_emulator.add_export("e1", "aborted")
    (event,) = events(trigger_for(conn_id, "e1"))
    assert event["status"] == "cancelled"
    with pytest.raises(ExportFailedError):
        finish(event, log=_NullLog())


def test_unknown_export_is_an_error_event(occ_emulator: OracleCommerceEmulator, export_conn: Any) -> None:
    conn_id = export_conn(occ_emulator)
    (event,) = events(trigger_for(conn_id, "missing"))
    assert event["status"] == "error" and "HTTP 404" in event["message"]


def test_deadline_gives_timeout_event_with_last_state(
    occ_emulator: OracleCommerceEmulator, export_conn: Any
) -> None:
    conn_id = export_conn(occ_emulator)
    occ_emulator.add_export("e1", Step("processing", 42))
    started = time.monotonic()
    (event,) = events(trigger_for(conn_id, "e1", poll_interval=0.2, timeout_at=time.time() + 1))
    assert 0.9 <= time.monotonic() - started < 3
    assert event["status"] == "timeout" and "progress 42%" in event["message"]


def test_deadline_already_passed_after_restart(
    occ_emulator: OracleCommerceEmulator, export_conn: Any
) -> None:
    conn_id = export_conn(occ_emulator)
    occ_emulator.add_export("e1", "processing")
    (event,) = events(trigger_for(conn_id, "e1", timeout_at=time.time() - 5))
    assert event["status"] == "timeout"
    assert occ_emulator.exports["e1"].polls == 0  # the deadline is checked before polling


def test_user_overrides_for_unknown_states(occ_emulator: OracleCommerceEmulator, export_conn: Any) -> None:
    conn_id = export_conn(occ_emulator)
    occ_emulator.add_export("e1", "archived")  # not in the vendor's documented list
    (event,) = events(trigger_for(conn_id, "e1", success_states=["archived"]))
    assert event["status"] == "success"


def test_missing_connection_is_an_error_event() -> None:
    (event,) = events(trigger_for("no_such_connection_xyz", "e1"))
    assert event["status"] == "error" and "no_such_connection_xyz" in event["message"]


def test_unexpected_event_status_fails() -> None:
    with pytest.raises(ExportFailedError, match="unexpected event status"):
        finish({"status": "weird", "export_id": "e"}, log=_NullLog())


class _NullLog:
    def info(self, *args: Any) -> None:
        pass


STATUS_PREFIX = "/ccadmin/v1/exportProcess/"


def test_hanging_server_does_not_block_the_event_loop(
    occ_emulator: OracleCommerceEmulator, export_conn: Any
) -> None:
    conn_id = export_conn(occ_emulator)
    occ_emulator.add_export("e1", "processing", "succeeded")
    occ_emulator.inject(Fault("hang", seconds=3, path_prefix=STATUS_PREFIX))
    trigger = trigger_for(conn_id, "e1", hook_params={"retry": {"read_timeout": 1.0, "backoff": 0.05}})

    async def _run() -> tuple[list[dict[str, Any]], float]:
        lag = 0.0
        stop = asyncio.Event()

        async def ticker() -> None:
            # Measured while the server hangs (from its receipt of the poll on), not during the
            # trigger's one-off start-up (imports, connection lookup), which is not what this
            # test is about and took 0.31 s once on a busy machine.
            nonlocal lag
            loop = asyncio.get_running_loop()
            while not stop.is_set():
                before = loop.time()
                await asyncio.sleep(0.01)
                if occ_emulator.requests_to(STATUS_PREFIX):
                    lag = max(lag, loop.time() - before - 0.01)

        tick = asyncio.create_task(ticker())
        found = [e.payload async for e in trigger.run()]
        stop.set()
        await tick
        return found, lag

    found, lag = asyncio.run(_run())
    assert [e["status"] for e in found] == ["success"]
    assert occ_emulator.requests_to(STATUS_PREFIX), "the hanging poll never reached the server"
    assert lag < 0.25, f"the event loop was blocked for {lag:.2f}s"


@pytest.mark.parametrize("missing", ["None", "", "  "])
def test_a_missing_export_id_ends_the_wait_without_a_request(
    occ_emulator: OracleCommerceEmulator, export_conn: Any, missing: str
) -> None:
    # start_from_trigger renders export_id in the triggerer: a missing XCom arrives as "None".
    conn_id = export_conn(occ_emulator)
    (event,) = events(trigger_for(conn_id, missing))
    assert event["status"] == "error"
    assert "no export id: the start task did not push one" in event["message"]
    assert occ_emulator.requests == []
