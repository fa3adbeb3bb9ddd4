"""start_from_trigger at scale: N deferrable waits through Airflow's real scheduler on PostgreSQL.

Each variant gets a fresh stack (PostgreSQL, api-server, scheduler with the LocalExecutor,
dag-processor, two triggerers; ``tests/stack/airflow_stack.py``) and the OCC emulator in this
process, with every export held ``processing`` (nothing finishes during the measurement):

- ``default``: ``scale_mapped``, one sensor mapped over N exports, one DAG run; a worker polls
  each export once, then defers the sensor.
- ``sft_small_dags``: ``scale_start_from_trigger`` (sensors with ``start_from_trigger=True``;
  separate tasks, as Airflow 3.3 does not start mapped tasks in the triggerer) with N/10 tasks,
  10 DAG runs.
- ``sft_one_dag`` (opt-in, slow): the same with N tasks in one DAG run. The triggerer
  deserializes the task's whole DAG for every wait it starts, so this costs the triggerers
  O(N) per wait, O(N²) in all.

Measured from the first DAG run's start (``dag_run.start_date``): the time until every sensor is
deferred (the newest ``trigger.created_date``) and until a triggerer has polled every wait (its
trigger log has a ``Waiting:`` line); CPU seconds of each component's process tree over that
window (the scheduler's includes the LocalExecutor's task processes; PostgreSQL is measured
too); the peak memory of each tree.

    python benchmarks/scale_start_from_trigger.py             # N = 1,000: default, sft_small_dags
    python benchmarks/scale_start_from_trigger.py --quick     # N = 20, a smoke test
    python benchmarks/scale_start_from_trigger.py --variants default sft_small_dags sft_one_dag
"""

from __future__ import annotations

import json
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common as c

sys.path.insert(0, str(c.ROOT / "tests"))

from stack.airflow_stack import AirflowStack, ResourceMonitor, StackOptions
from stack.exports import hold_exports, polls_by_agent

from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator

DAGS = c.ROOT / "tests" / "scale" / "dags"
TRIGGERERS = ("triggerer-0", "triggerer-1")
MB = 1024 * 1024


@dataclass(frozen=True)
class Variant:
    """A way to run N waits: ``runs`` DAG runs of ``dag_id`` with N / runs sensors each."""

    name: str
    dag_id: str
    prefix: str
    runs: int
    describe: str


VARIANTS = {
    v.name: v
    for v in (
        Variant("default", "scale_mapped", "m-", 1, "1 run, 1 sensor mapped over N"),
        Variant("sft_small_dags", "scale_start_from_trigger", "s-", 10, "10 runs of N/10 sensors"),
        Variant("sft_one_dag", "scale_start_from_trigger", "s-", 1, "1 run of N sensors"),
    )
}
DEFAULT_VARIANTS = ["default", "sft_small_dags"]


def _polling(stack: AirflowStack, dag_id: str, done: set[Path]) -> int:
    """How many waits a triggerer has polled: trigger log files with a ``Waiting:`` line."""
    folder = stack.home / "logs" / f"dag_id={dag_id}"
    for path in folder.glob("**/attempt=1.log.trigger.*.log"):
        if path.parent not in done and "Waiting: " in path.read_text(errors="replace"):
            done.add(path.parent)
    return len(done)


def measure(variant: Variant, n: int, args: Any) -> dict[str, Any]:
    per_run = n // variant.runs
    export_ids = [f"{variant.prefix}{i:04d}" for i in range(per_run)]  # shared by the runs
    emulator = OracleCommerceEmulator()
    emulator.start()
    hold_exports(emulator, export_ids)
    options = StackOptions(
        dags_folder=DAGS,
        triggerers=2,
        parallelism=args.parallelism,
        env={
            "AIRFLOW_CONN_OCC_SCALE": json.dumps(emulator.connection()),
            "SCALE_N": str(per_run),
            "SCALE_POKE_INTERVAL": str(args.poke_interval),
        },
        # Parse each DAG file once: re-parsing a 1,000-task file every 30 s is noise here.
        settings={("dag_processor", "min_file_process_interval"): "3600"},
    )
    stack = AirflowStack(options)
    try:
        stack.start()
        stack.wait_for_dag(variant.dag_id)
        time.sleep(args.settle)  # let start-up work finish before the window opens
        with ResourceMonitor(stack) as monitor:
            cpu_start = monitor.cpu_seconds()
            started = time.monotonic()
            run_ids = [stack.trigger_dag(variant.dag_id) for _ in range(variant.runs)]
            cpu_deferred = cpu_polling = None
            deferred_wall = polling_wall = None
            polled: set[Path] = set()
            deadline = started + args.timeout
            next_log_check = 0.0
            while cpu_polling is None or cpu_deferred is None:
                now = time.monotonic()
                if now > deadline:
                    raise TimeoutError(f"{variant.name}: not all {n} waits deferred and polling")
                stack.check_alive()
                if cpu_deferred is None:
                    deferred = stack.query(
                        "SELECT count(*) AS n FROM task_instance WHERE dag_id = :d AND state = 'deferred'",
                        d=variant.dag_id,
                    )[0]["n"]
                    if deferred == n:
                        cpu_deferred, deferred_wall = monitor.cpu_seconds(), now - started
                # Reading the trigger logs costs this process CPU: every 2 s is close enough.
                if cpu_polling is None and now >= next_log_check:
                    next_log_check = now + 2.0
                    if _polling(stack, variant.dag_id, polled) == n:
                        cpu_polling, polling_wall = monitor.cpu_seconds(), time.monotonic() - started
                time.sleep(0.5)
            monitor.sample()
        times = stack.query(
            "SELECT min(dr.start_date) AS run_start, max(t.created_date) AS last_trigger "
            "FROM dag_run dr JOIN task_instance ti ON ti.dag_id = dr.dag_id AND ti.run_id = dr.run_id "
            "JOIN trigger t ON t.id = ti.trigger_id WHERE dr.dag_id = :d",
            d=variant.dag_id,
        )[0]
        polls = polls_by_agent(emulator, export_ids)
        result = {
            "variant": variant.name,
            "layout": variant.describe,
            "dag_id": variant.dag_id,
            "runs": len(run_ids),
            "n": n,
            "deferred_after_s": round((times["last_trigger"] - times["run_start"]).total_seconds(), 2),
            "deferred_seen_after_s": round(deferred_wall or 0.0, 2),
            "all_polling_after_s": round(polling_wall or 0.0, 2),
            "worker_polls": sum(polls["worker"].values()),
            "cpu_s_until_deferred": _delta(cpu_start, cpu_deferred),
            "cpu_s_until_all_polling": _delta(cpu_start, cpu_polling),
            "peak_rss_mb": {k: round(v / MB) for k, v in monitor.peak_rss.items()},
            "peak_pss_mb": {k: round(v / MB) for k, v in monitor.peak_pss.items()},
        }
        result["cpu_s_outside_triggerers"] = round(
            sum(v for k, v in result["cpu_s_until_deferred"].items() if k not in TRIGGERERS), 2
        )
        result["cpu_s_triggerers_until_all_polling"] = round(
            sum(v for k, v in result["cpu_s_until_all_polling"].items() if k in TRIGGERERS), 2
        )
        return result
    finally:
        stack.stop()
        emulator.stop()


def _delta(before: dict[str, float], after: dict[str, float] | None) -> dict[str, float]:
    assert after is not None
    return {k: round(after[k] - before.get(k, 0.0), 2) for k in after}


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, help="waits per variant (default 1,000; 20 with --quick)")
    p.add_argument(
        "--variants",
        nargs="+",
        choices=sorted(VARIANTS),
        default=DEFAULT_VARIANTS,
        help=f"default: {' '.join(DEFAULT_VARIANTS)} (sft_one_dag takes ~6 min more for N = 1,000)",
    )
    p.add_argument("--parallelism", type=int, default=16, help="[core] parallelism (LocalExecutor)")
    p.add_argument("--poke-interval", type=float, default=5.0)
    p.add_argument("--settle", type=float, default=5.0, help="idle seconds before each measurement")
    p.add_argument("--timeout", type=float, default=1200.0, help="seconds per variant")
    args = p.parse_args()
    # SIGTERM (and SIGINT, which a shell's background job ignores) stop the stacks cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    n = args.n or (20 if args.quick else 1000)
    began = time.monotonic()
    info = c.machine()
    print(c.load_line(info), flush=True)
    results = []
    for name in args.variants:
        variant = VARIANTS[name]
        print(f"==> {name}: {n} waits, {variant.describe}", flush=True)
        results.append(measure(variant, n, args))
        print(json.dumps(results[-1]), flush=True)

    def mem(r: dict[str, Any], *names: str) -> str:
        rss = max(r["peak_rss_mb"].get(n, 0) for n in names)
        pss = max(r["peak_pss_mb"].get(n, 0) for n in names)
        return f"{rss}/{pss}"

    rows = [
        [
            r["variant"],
            r["n"],
            r["runs"],
            r["deferred_after_s"],
            r["all_polling_after_s"],
            r["cpu_s_outside_triggerers"],
            r["cpu_s_until_deferred"].get("scheduler"),
            r["cpu_s_until_deferred"].get("api-server"),
            r["cpu_s_until_deferred"].get("postgres"),
            r["cpu_s_triggerers_until_all_polling"],
            r["worker_polls"],
            mem(r, "scheduler"),
            mem(r, "api-server"),
            mem(r, *TRIGGERERS),
            mem(r, "postgres"),
            mem(r, "dag-processor"),
        ]
        for r in results
    ]
    headers = [
        "variant",
        "N",
        "runs",
        "deferred s",
        "polling s",
        "CPU out s",
        "sched+wkr",
        "api",
        "pg",
        "trig CPU s",
        "wkr polls",
        "sched MB",
        "api MB",
        "trig MB",
        "pg MB",
        "dagproc MB",
    ]
    print()
    print(c.table(headers, rows))
    print(
        "CPU out: CPU seconds of everything but the triggerers until all were deferred (sched+wkr: "
        "scheduler and its task processes); trig CPU: both triggerers until all waits polled; "
        "MB: peak RSS/PSS of each process tree (RSS counts pages shared by forked workers once per process)\n"
    )
    by = {r["variant"]: r for r in results}
    ratios: dict[str, Any] = {}
    if "default" in by:
        d = by["default"]
        for name in ("sft_small_dags", "sft_one_dag"):
            if name not in by:
                continue
            s = by[name]
            ratios[name] = {
                "deferred_time_default_over_sft": c.ratio(d["deferred_after_s"], s["deferred_after_s"]),
                "cpu_outside_triggerers_default_over_sft": c.ratio(
                    d["cpu_s_outside_triggerers"], s["cpu_s_outside_triggerers"]
                ),
                "all_polling_time_default_over_sft": c.ratio(
                    d["all_polling_after_s"], s["all_polling_after_s"]
                ),
                "triggerer_cpu_sft_over_default": c.ratio(
                    s["cpu_s_triggerers_until_all_polling"], d["cpu_s_triggerers_until_all_polling"]
                ),
            }
            r = ratios[name]
            print(
                f"default / {name}: time until all deferred x{r['deferred_time_default_over_sft']}, "
                f"CPU outside the triggerers x{r['cpu_outside_triggerers_default_over_sft']}, "
                f"time until all polling x{r['all_polling_time_default_over_sft']}; "
                f"triggerer CPU {name} / default x{r['triggerer_cpu_sft_over_default']}"
            )
    targets = evaluate(by)
    after = c.machine()
    elapsed = time.monotonic() - began
    path = c.write_result(
        args.results_dir,
        "scale_start_from_trigger",
        {
            "benchmark": "scale_start_from_trigger",
            "quick": args.quick,
            "settings": {
                "n": n,
                "parallelism": args.parallelism,
                "poke_interval_s": args.poke_interval,
                "triggerers": 2,
                "database": "postgres",
                "executor": "LocalExecutor",
            },
            "machine_before": info,
            "machine_after": after,
            "results": results,
            "ratios": ratios,
            "targets": targets,
            "elapsed_s": round(elapsed, 1),
        },
        quick=args.quick,
    )
    print(c.load_line(info) + " (before); " + c.load_line(after).split(": ", 1)[1] + " (after)")
    print(summary_line(by, n) + f" [{elapsed:.0f} s, {path}]")


def evaluate(by: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the docs claim for start_from_trigger, checked against this run (default vs each)."""
    out: dict[str, Any] = {}
    d = by.get("default")
    if d is None:
        return out
    for name in ("sft_small_dags", "sft_one_dag"):
        s = by.get(name)
        if s is None:
            continue
        out[f"{name}_defers_sooner"] = {
            "default_s": d["deferred_after_s"],
            "sft_s": s["deferred_after_s"],
            "met": s["deferred_after_s"] < d["deferred_after_s"],
        }
        out[f"{name}_less_cpu_outside_triggerers"] = {
            "default_s": d["cpu_s_outside_triggerers"],
            "sft_s": s["cpu_s_outside_triggerers"],
            "met": s["cpu_s_outside_triggerers"] < d["cpu_s_outside_triggerers"],
        }
        out[f"{name}_no_worker_polls"] = {"sft": s["worker_polls"], "met": s["worker_polls"] == 0}
    return out


def summary_line(by: dict[str, dict[str, Any]], n: int) -> str:
    parts = []
    for name, r in by.items():
        trig_rss = max(r["peak_rss_mb"].get(t, 0) for t in TRIGGERERS)
        parts.append(
            f"{name}: all deferred after {r['deferred_after_s']} s, all polling after "
            f"{r['all_polling_after_s']} s, {r['cpu_s_outside_triggerers']} CPU s outside the "
            f"triggerers, triggerer peak RSS {trig_rss} MB"
        )
    return f"SUMMARY scale_start_from_trigger: N={n}; " + "; ".join(parts)


if __name__ == "__main__":
    main()
