"""The two-triggerer scenario, shared by the scale tests and ``scripts/scale_demo.py``.

Exports are held ``processing`` in the emulator until the scenario releases them, so a
triggerer is always killed mid-wait, whatever the machine's speed: start a DAG run, wait until
every sensor is deferred and polled by a triggerer, SIGKILL one triggerer, wait until the
survivor owns (and polls) every trigger, release the exports, wait for the run to end.

Which triggerer holds which waits before the kill is arranged, not left to chance: Airflow
promises no balance. Each triggerer claims up to ``[triggerer] max_trigger_to_select_per_loop``
(50) unowned triggers per loop (``Trigger.assign_unassigned``) and keeps them while it
heartbeats, so a triggerer that a loaded machine does not schedule for a few seconds leaves all
of them to the other (200/0 in a ``make test``; a 9 s SIGSTOP of one triggerer does the same).
So the triggerer to be killed runs with a capacity of half the waits, alone until it holds that
many; only then does the survivor (capacity for all of them) start and claim the rest. Both
hold waits at the kill, and the survivor can take every one of them over.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stack.airflow_stack import AirflowStack, StackOptions
from stack.exports import hold_exports, polls_by_agent, release_exports

from airflow_provider_exports.testing.emulator import Emulator

DAGS = Path(__file__).with_name("dags")
#: A triggerer that missed heartbeats for this long counts as dead (default 30 s).
HEALTH_CHECK_THRESHOLD = 10
#: The triggerer ``run_scenario`` kills unless told otherwise.
KILL_INDEX = 0


def killed_capacity(n: int) -> int:
    """The capacity of the triggerer the scenario kills, for ``n`` waits: half of them (at least
    one), so that it fills up and leaves the others to the survivor."""
    return max(1, n // 2)


def scale_options(connection: Mapping[str, Any], n: int, poke_interval: float) -> StackOptions:
    """The scale setup (tests and ``make scale-demo``): PostgreSQL, LocalExecutor, two triggerers
    that notice a dead peer within ``HEALTH_CHECK_THRESHOLD`` seconds, the scale DAGs. The
    triggerer to be killed starts with the capacity ``run_scenario`` gives it (no restart)."""
    return StackOptions(
        dags_folder=DAGS,
        database="postgres",
        triggerers=2,
        triggerer_capacities={KILL_INDEX: killed_capacity(n)},
        parallelism=16,
        triggerer_heartbeat_sec=2,
        triggerer_health_check_threshold=HEALTH_CHECK_THRESHOLD,
        env={
            "AIRFLOW_CONN_OCC_SCALE": json.dumps(dict(connection)),
            "SCALE_N": str(n),
            "SCALE_POKE_INTERVAL": str(poke_interval),
        },
    )


@dataclass
class ScenarioResult:
    """What happened in one run of the scenario (times in seconds from the DAG run's start)."""

    dag_id: str
    run_id: str
    state: str
    n: int
    all_deferred_after: float
    takeover_after_kill: float
    finished_after: float
    dead_job: int
    survivor_job: int
    triggers_per_job_before_kill: dict[int, int]
    moved_triggers: int
    #: Seconds from the run's start until the triggerer to be killed held its capacity of the
    #: run's triggers and the survivor was started.
    survivor_started_after: float = 0.0
    task_instances: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    xcoms: dict[tuple[str, int], Any] = field(default_factory=dict)

    def summary(self) -> str:
        per_job = ", ".join(f"job {j}: {c}" for j, c in sorted(self.triggers_per_job_before_kill.items()))
        return (
            f"{self.dag_id}: {self.n} waits, survivor started after {self.survivor_started_after:.1f}s, "
            f"all deferred after {self.all_deferred_after:.1f}s; "
            f"triggers before the kill: {per_job}; SIGKILLed job {self.dead_job}, its "
            f"{self.moved_triggers} triggers moved to job {self.survivor_job} in "
            f"{self.takeover_after_kill:.1f}s; run {self.state} after {self.finished_after:.1f}s"
        )


def _sensor_tis(stack: AirflowStack, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    return [ti for ti in stack.task_instances(dag_id, run_id) if ti["task_id"].startswith("wait")]


def _wait(
    what: str, check: Callable[[], bool], timeout: float, stack: AirflowStack, interval: float = 1
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check_alive()
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}\n{stack.diagnostics()}")


def run_scenario(
    stack: AirflowStack,
    emulator: Emulator,
    dag_id: str,
    export_ids: list[str],
    *,
    kill_index: int = KILL_INDEX,
    timeout: float = 600,
    say: Callable[[str], None] = lambda _: None,
) -> ScenarioResult:
    """Run the scenario (see the module docstring) on a stack with two triggerers."""
    survivor_index = 1 - kill_index
    n = len(export_ids)
    capacity = killed_capacity(n)
    survivor_capacity = max(n, stack.options.triggerer_capacity)
    # The triggerer to be killed runs alone, with room for half the waits (a triggerer killed
    # by an earlier scenario, or started with another capacity, is started again) ...
    doomed = stack.triggerer(kill_index)
    if not doomed.alive() or doomed.capacity != capacity:
        doomed = stack.restart_triggerer(kill_index, capacity=capacity)
        say(f"started triggerer {kill_index} (job {doomed.job_id}) with capacity {capacity}")
    if stack.triggerer(survivor_index).alive():
        stack.stop_triggerer(survivor_index)
        say(f"stopped triggerer {survivor_index} until triggerer {kill_index} holds {capacity} waits")
    doomed_job = doomed.job_id
    hold_exports(emulator, export_ids)
    stack.wait_for_dag(dag_id)
    run_id = stack.trigger_dag(dag_id)
    started = time.monotonic()
    say(f"started {dag_id} run {run_id}")

    def _owners() -> Counter[int | None]:
        tis = {ti["trigger_id"] for ti in _sensor_tis(stack, dag_id, run_id)} - {None}
        return Counter(t["triggerer_id"] for t in stack.triggers() if t["id"] in tis)

    def _doomed_full() -> bool:
        owners = _owners()
        say(f"  triggers of the run per triggerer job: {dict(owners)}")
        return owners[doomed_job] >= capacity

    # ... until it holds that many of the run's triggers; then the survivor starts and claims
    # the rest (the other one, full, claims no more).
    full = f"triggerer job {doomed_job} to hold {capacity} of the run's triggers"
    try:
        _wait(full, _doomed_full, timeout, stack, interval=2)
    except TimeoutError as exc:
        raise TimeoutError(f"triggers of the run per triggerer job: {dict(_owners())}; {exc}") from exc
    survivor_job = stack.start_triggerer(survivor_index, capacity=survivor_capacity).job_id
    assert survivor_job is not None
    survivor_started_after = time.monotonic() - started
    say(f"started triggerer {survivor_index} (job {survivor_job}) with capacity {survivor_capacity}")

    def _all_waiting() -> bool:
        tis = _sensor_tis(stack, dag_id, run_id)
        bad = [ti for ti in tis if ti["state"] in ("failed", "upstream_failed", "up_for_retry")]
        if bad:
            raise AssertionError(f"sensors failed before the kill: {bad[:5]}")
        deferred = sum(ti["state"] == "deferred" for ti in tis)
        polled = polls_by_agent(emulator, export_ids)["triggerer"]
        say(f"  {deferred}/{len(export_ids)} deferred, {len(polled)} polled by a triggerer")
        return deferred == len(export_ids) and len(polled) == len(export_ids)

    _wait("every sensor deferred and polled by a triggerer", _all_waiting, timeout, stack, interval=3)
    all_deferred_after = time.monotonic() - started
    tis = {ti["trigger_id"] for ti in _sensor_tis(stack, dag_id, run_id)}
    before = {t["id"]: t["triggerer_id"] for t in stack.triggers() if t["id"] in tis}
    per_job = Counter(before.values())
    say(f"triggers per triggerer job before the kill: {dict(per_job)}")

    dead_job = stack.kill_triggerer(kill_index)
    killed_at = time.monotonic()
    moved = sorted(t for t, job in before.items() if job == dead_job)
    say(f"SIGKILLed triggerer {kill_index} (job {dead_job}) holding {len(moved)} triggers")

    def _taken_over() -> bool:
        owners = Counter(t["triggerer_id"] for t in stack.triggers() if t["id"] in tis)
        return set(owners) == {survivor_job}

    _wait("the survivor to own every trigger", _taken_over, timeout, stack)
    takeover = time.monotonic() - killed_at
    say(f"triggerer job {survivor_job} owns all triggers {takeover:.1f}s after the kill")

    snapshot = polls_by_agent(emulator, export_ids)["triggerer"]

    def _survivor_polls_all() -> bool:
        now = polls_by_agent(emulator, export_ids)["triggerer"]
        return all(now[e] > snapshot[e] for e in export_ids)

    _wait("the survivor to poll every export", _survivor_polls_all, timeout, stack)
    release_exports(emulator, export_ids)
    say("released the exports")
    state = stack.wait_for_run(dag_id, run_id, timeout)
    finished_after = time.monotonic() - started
    xcoms = {
        (row["task_id"], row["map_index"]): row["value"]
        for row in stack.query(
            "SELECT task_id, map_index, value FROM xcom "
            "WHERE dag_id = :d AND run_id = :r AND key = 'return_value'",
            d=dag_id,
            r=run_id,
        )
    }
    result = ScenarioResult(
        dag_id=dag_id,
        run_id=run_id,
        state=state,
        n=len(export_ids),
        all_deferred_after=all_deferred_after,
        takeover_after_kill=takeover,
        finished_after=finished_after,
        dead_job=dead_job,
        survivor_job=survivor_job,
        triggers_per_job_before_kill=dict(per_job),
        moved_triggers=len(moved),
        survivor_started_after=survivor_started_after,
        task_instances=_sensor_tis(stack, dag_id, run_id),
        history=stack.task_instance_history(dag_id, run_id),
        xcoms=xcoms,
    )
    say(result.summary())
    return result
