"""The stack itself: SQLite with one triggerer, SIGKILLed mid-wait and restarted; nothing left over.

This is the path a reliability suite uses: a deferred wait survives its only triggerer being
killed, because the restarted triggerer (a new job) takes the trigger over from the dead one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator
from stack.airflow_stack import AirflowStack
from stack.exports import hold_exports, polled_to_the_end, polls_by_agent, release_exports

pytestmark = pytest.mark.integration

DAGS = Path(__file__).with_name("dags")
EXPORT = "k-0000"


@pytest.fixture
def emulator() -> Iterator[OracleCommerceEmulator]:
    emu = OracleCommerceEmulator()
    emu.start()
    yield emu
    emu.stop()


def _until(what: str, check: Callable[[], bool], stack: AirflowStack) -> None:
    stack.wait_until(what, check, timeout=120)


@pytest.mark.timeout(420)
def test_sqlite_triggerer_killed_and_restarted_mid_wait(
    airflow_stack: Callable[..., AirflowStack], emulator: OracleCommerceEmulator
) -> None:
    hold_exports(emulator, [EXPORT])
    stack = airflow_stack(
        DAGS,
        database="sqlite",
        triggerers=1,
        parallelism=2,
        env={"AIRFLOW_CONN_OCC_STACK": json.dumps(emulator.connection()), "ONE_WAIT_EXPORT_ID": EXPORT},
    )
    assert stack.db_url.startswith("sqlite:///")
    stack.wait_for_dag("one_wait")
    run_id = stack.trigger_dag("one_wait")

    def _triggerer_polls() -> int:
        return polls_by_agent(emulator, [EXPORT])["triggerer"][EXPORT]

    _until("the triggerer to poll the export", lambda: _triggerer_polls() >= 2, stack)
    [ti] = stack.task_instances("one_wait", run_id)
    assert ti["state"] == "deferred"
    old_pid = stack.triggerer(0).pid
    assert old_pid is not None
    old_tree = psutil.Process(old_pid).children(recursive=True)

    dead_job = stack.kill_triggerer(0)
    assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == psutil.STATUS_ZOMBIE
    # The trigger runner subprocess dies with it: SIGKILL reaches the whole group, but a busy
    # machine may run a killed process once more before it exits, so wait (bounded) for that.
    _, survivors = psutil.wait_procs(old_tree, timeout=30)
    assert all(p.status() == psutil.STATUS_ZOMBIE for p in survivors), survivors
    polls_at_kill = _triggerer_polls()
    time.sleep(4)
    assert _triggerer_polls() == polls_at_kill, "nothing polls while the only triggerer is dead"

    new_job = stack.restart_triggerer(0).job_id
    assert new_job is not None and new_job != dead_job

    def _reassigned() -> bool:
        return [t["triggerer_id"] for t in stack.triggers()] == [new_job]

    _until("the restarted triggerer to take the trigger over", _reassigned, stack)
    _until("the restarted triggerer to poll", lambda: _triggerer_polls() > polls_at_kill, stack)
    release_exports(emulator, [EXPORT])
    assert stack.wait_for_run("one_wait", run_id, timeout=180) == "success"

    [ti] = stack.task_instances("one_wait", run_id)
    assert (ti["state"], ti["try_number"]) == ("success", 1)
    assert stack.task_instance_history("one_wait", run_id) == []
    assert polled_to_the_end(emulator, EXPORT)
    assert polls_by_agent(emulator, [EXPORT])["worker"][EXPORT] == 1  # the sensor's first poll
    log = stack.task_log("one_wait", run_id, "wait")
    assert f"Export '{EXPORT}' succeeded" in log

    pids = [c.pid for c in stack.components.values() if c.pid is not None]
    stack.stop()
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
