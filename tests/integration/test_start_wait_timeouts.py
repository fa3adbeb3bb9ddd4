"""Waits that end without the export ending, on real Airflow against the OCC emulator (issue 16):
``cancel_on_timeout`` on the worker and in the triggerer, the sensor's poke timeout, and
``StartExportOperator.on_kill`` when the task is killed mid-wait (SIGTERM, ``execution_timeout``).

OCC is the vendor with a cancel call (``POST /ccadmin/v1/exportProcess/{id}/abort``). Every
task starts its own export whose ``fileName`` names the task (dags/start_wait_timeouts.py).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_exports.testing import RunningDag, Step
from airflow_provider_exports.testing.emulator import Export
from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator
from airflow_provider_exports.testing.pytest_plugin import AirflowEnv

pytestmark = pytest.mark.integration
DAGS = Path(__file__).with_name("dags")
DAG_FILE = str(DAGS / "start_wait_timeouts.py")
PROCESS = "/ccadmin/v1/exportProcess"
STUCK = Step("processing", 5)
#: How long a DAG run may take to reach a point a test waits for (Airflow's start-up included,
#: on a loaded 2-core machine).
DEADLINE_SECONDS = 180.0


def _env(emulator: OracleCommerceEmulator) -> dict[str, str]:
    name, value = emulator.connection_env("oracle_commerce_default")
    return {name: value, "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS)}


def _run(emulator: OracleCommerceEmulator, run_dag: Any, dag_id: str) -> Any:
    return run_dag(dag_id, _env(emulator), dag_file=DAG_FILE)


def _export_of(emulator: OracleCommerceEmulator, task_id: str) -> Export:
    """The export the task started (its payload's fileName names the task)."""
    found = [e for e in emulator.exports.values() if (e.payload or {}).get("fileName") == f"{task_id}.zip"]
    assert len(found) == 1, f"task {task_id} started {len(found)} exports"
    return found[0]


def _aborted_ids(emulator: OracleCommerceEmulator) -> list[str]:
    """The export ids of every abort request the emulator received, in order."""
    return [
        r.path.removeprefix(f"{PROCESS}/").removesuffix("/abort")
        for r in emulator.requests
        if r.method == "POST" and r.path.startswith(f"{PROCESS}/") and r.path.endswith("/abort")
    ]


def _index_of_last(emulator: OracleCommerceEmulator, method: str, path: str) -> int:
    indexes = [i for i, r in enumerate(emulator.requests) if (r.method, r.path) == (method, path)]
    assert indexes, f"no {method} {path} reached the emulator"
    return indexes[-1]


def _segment(output: str, task_id: str) -> str:
    """The log lines of one task of a ``dag.test()`` run (all its runs, deferrals included)."""
    start = output.index(f"[DAG TEST] starting task_id={task_id} ")
    end = output.rfind(f"[DAG TEST] end task task_id={task_id} ")
    return output[start : end if end > start else None]


def _markers(variables: list[str], dag_id: str) -> list[str]:
    """Start markers of this DAG's runs left in the Variables (a timeout is final: none may be)."""
    return [v for v in variables if v.startswith(f"airflow_provider_exports.started.{dag_id}.")]


def _timeout_message(export: Export) -> str:
    return (
        f"Timed out waiting for export {export.export_id!r}; last seen: export {export.export_id!r}, "
        "vendor state 'processing', progress 5%"
    )


# ---- cancel_on_timeout -------------------------------------------------------------------------


def test_a_worker_wait_timeout_cancels_only_when_asked(
    occ_emulator: OracleCommerceEmulator, run_dag: Any
) -> None:
    occ_emulator.script_next(STUCK)
    occ_emulator.script_next(STUCK)
    result = _run(occ_emulator, run_dag, "start_timeout_sync")

    assert result.tasks == {"sync_cancel": "failed", "sync_keep": "failed"}, result.output[-4000:]
    cancel, keep = _export_of(occ_emulator, "sync_cancel"), _export_of(occ_emulator, "sync_keep")
    for task_id, export in (("sync_cancel", cancel), ("sync_keep", keep)):
        segment = _segment(result.output, task_id)
        assert "AirflowSensorTimeout" in segment, segment[-3000:]
        assert _timeout_message(export) in segment
        assert "deferred" not in result.transitions[task_id]
        assert export.polls >= 2, "the task waited, polling, before it timed out"
    # Only the task with cancel_on_timeout=True asked OCC to abort, once, after its last poll.
    assert _aborted_ids(occ_emulator) == [cancel.export_id]
    assert cancel.cancelled and not keep.cancelled
    abort_at = _index_of_last(occ_emulator, "POST", f"{PROCESS}/{cancel.export_id}/abort")
    assert abort_at > _index_of_last(occ_emulator, "GET", f"{PROCESS}/{cancel.export_id}")
    assert f"asked Oracle Commerce Cloud to cancel export {cancel.export_id!r}: accepted" in _segment(
        result.output, "sync_cancel"
    )
    assert "cancel export" not in _segment(result.output, "sync_keep")
    assert not _markers(result.variables, "start_timeout_sync")


def test_a_triggerer_wait_timeout_cancels_only_when_asked(
    occ_emulator: OracleCommerceEmulator, run_dag: Any
) -> None:
    occ_emulator.script_next(STUCK)
    occ_emulator.script_next(STUCK)
    result = _run(occ_emulator, run_dag, "start_timeout_deferred")

    assert result.tasks == {"deferred_cancel": "failed", "deferred_keep": "failed"}, result.output[-4000:]
    cancel, keep = _export_of(occ_emulator, "deferred_cancel"), _export_of(occ_emulator, "deferred_keep")
    for task_id, export in (("deferred_cancel", cancel), ("deferred_keep", keep)):
        assert "deferred" in result.transitions[task_id], result.transitions
        segment = _segment(result.output, task_id)
        # The trigger's timeout event, with the last state it saw, fails the resumed task.
        assert "AirflowSensorTimeout" in segment, segment[-3000:]
        assert _timeout_message(export) in segment
        assert export.polls >= 2, "the trigger polled after the worker's first poll"
    assert _aborted_ids(occ_emulator) == [cancel.export_id]
    assert cancel.cancelled and not keep.cancelled
    abort_at = _index_of_last(occ_emulator, "POST", f"{PROCESS}/{cancel.export_id}/abort")
    assert abort_at > _index_of_last(occ_emulator, "GET", f"{PROCESS}/{cancel.export_id}")
    assert f"asked Oracle Commerce Cloud to cancel export {cancel.export_id!r}: accepted" in _segment(
        result.output, "deferred_cancel"
    )
    assert "cancel export" not in _segment(result.output, "deferred_keep")
    assert not _markers(result.variables, "start_timeout_deferred")


def test_the_sensor_poke_timeout_says_what_it_last_saw(
    occ_emulator: OracleCommerceEmulator, run_dag: Any
) -> None:
    occ_emulator.script_next(STUCK)
    result = _run(occ_emulator, run_dag, "sensor_poke_timeout")

    assert result.tasks == {"start": "success", "wait": "failed"}, result.output[-4000:]
    export = _export_of(occ_emulator, "sensor_start")
    segment = _segment(result.output, "wait")
    assert "AirflowSensorTimeout" in segment, segment[-3000:]
    assert f"Last seen: export {export.export_id!r}, vendor state 'processing', progress 5%" in segment
    assert export.polls >= 3, "the sensor poked several times before it timed out"
    # The sensor does not own the export: it never cancels it.
    assert _aborted_ids(occ_emulator) == [] and not export.cancelled


# ---- on_kill -----------------------------------------------------------------------------------


def _wait_for(
    what: str, run: RunningDag, done: Callable[[], bool], seconds: float = DEADLINE_SECONDS
) -> None:
    """Poll ``done()`` until it is true; fail (showing the run's output) if the run ends first
    or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while not done():
        if not run.running() and not done():
            pytest.fail(f"the DAG run ended before {what}:\n{run.output[-6000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {seconds} s:\n{run.output[-6000:]}")
        time.sleep(0.05)


def test_sigterm_mid_wait_cancels_the_started_export(
    occ_emulator: OracleCommerceEmulator, airflow_env: AirflowEnv
) -> None:
    """The real kill path: Airflow's task runner turns SIGTERM into ``on_kill()``."""
    occ_emulator.script_next(STUCK)
    with airflow_env.start_dag("start_killed", dag_file=DAG_FILE, env=_env(occ_emulator)) as run:

        def started_and_polled() -> bool:
            if not occ_emulator.exports:
                return False
            (export_id,) = occ_emulator.exports
            return bool(occ_emulator.requests_to(f"{PROCESS}/{export_id}"))

        _wait_for("start and status poll", run, started_and_polled)
        (export_id,) = occ_emulator.exports
        assert _aborted_ids(occ_emulator) == []
        run.send_signal(signal.SIGTERM)
        # on_kill runs as the signal arrives; without it the wait would go on for minutes.
        _wait_for("abort request", run, lambda: bool(_aborted_ids(occ_emulator)), seconds=30)
        result = run.wait(DEADLINE_SECONDS)
    output = result.output

    assert _aborted_ids(occ_emulator) == [export_id], output[-4000:]
    export = occ_emulator.exports[export_id]
    assert export.cancelled
    assert (export.payload or {}).get("fileName") == "killed.zip"
    # on_kill only asked; the task itself then saw the export aborted and failed on that verdict.
    assert result.tasks == {"killed": "failed"}, output[-4000:]
    assert f"Export {export_id!r} did not succeed, vendor state 'aborted'" in output
    assert not _markers(result.variables, "start_killed")


def test_execution_timeout_cancels_the_started_export(
    occ_emulator: OracleCommerceEmulator, run_dag: Any
) -> None:
    """Airflow calls ``on_kill()`` when a task runs past its ``execution_timeout``."""
    occ_emulator.script_next(STUCK)
    result = _run(occ_emulator, run_dag, "start_execution_timeout")

    assert result.tasks == {"timed_out": "failed"}, result.output[-4000:]
    assert "AirflowTaskTimeout" in result.output
    export = _export_of(occ_emulator, "timed_out")
    assert export.polls >= 2, "the task was waiting when it timed out"
    assert _aborted_ids(occ_emulator) == [export.export_id]
    assert export.cancelled
    assert not _markers(result.variables, "start_execution_timeout")
