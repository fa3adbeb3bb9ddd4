"""``make scale-demo``: the provider on Airflow's own distributed runtime, with one command.

Starts PostgreSQL (Debian's ``postgresql`` package, in a temp folder), an api-server, a
scheduler (LocalExecutor), a dag-processor and two triggerers on loopback, plus the Oracle
Commerce Cloud emulator; runs one DAG of N deferrable waits; SIGKILLs one triggerer mid-wait and
shows the other taking its waits over; lets the exports finish and shows every wait succeeding.
Everything it started is stopped at the end (or on Ctrl-C).

    python scripts/scale_demo.py                       # 50 mapped waits
    python scripts/scale_demo.py --n 200 --start-from-trigger
    python scripts/scale_demo.py --hold                # keep it running for the UI, Ctrl-C to stop
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from scale.scenario import run_scenario, scale_options  # noqa: E402
from stack.airflow_stack import SETTINGS_DOC, AirflowStack  # noqa: E402
from stack.exports import polls_by_agent  # noqa: E402

from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="how many waits (default 50)")
    parser.add_argument("--poke-interval", type=float, default=2.0)
    parser.add_argument(
        "--start-from-trigger", action="store_true", help="start the sensors in the triggerer"
    )
    parser.add_argument("--hold", action="store_true", help="keep everything running after the demo")
    args = parser.parse_args()
    # SIGTERM (and SIGINT, which a shell's background job ignores) stop everything cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)

    started = time.monotonic()

    def say(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)

    emulator = OracleCommerceEmulator()
    emulator.start()
    say(f"Oracle Commerce Cloud emulator on {emulator.url}")
    options = scale_options(emulator.connection(), args.n, args.poke_interval)
    stack = AirflowStack(options)
    try:
        say("starting PostgreSQL, api-server, scheduler, dag-processor and two triggerers ...")
        stack.start()
        say(f"up: Airflow UI and REST API on {stack.api_url} (no login), AIRFLOW_HOME {stack.home}")
        say(f"    metadata DB {stack.db_url}; component logs in {stack.logs}")
        for (section, key), value in sorted(stack.settings().items()):
            note = SETTINGS_DOC.get(f"{section}.{key}")
            if note and "secret" not in key and "fernet" not in key:
                say(f"    [{section}] {key} = {value}    # {note}")
        prefix, dag_id = (
            ("s-", "scale_start_from_trigger") if args.start_from_trigger else ("m-", "scale_mapped")
        )
        export_ids = [f"{prefix}{i:04d}" for i in range(args.n)]
        result = run_scenario(stack, emulator, dag_id, export_ids, say=lambda m: say(m.strip()))
        states = Counter((ti["state"], ti["try_number"]) for ti in result.task_instances)
        polls = polls_by_agent(emulator, export_ids)
        say(f"task instances (state, try): {dict(states)}; retried or cleared: {len(result.history)}")
        say(
            f"status polls: {sum(polls['worker'].values())} from workers, "
            f"{sum(polls['triggerer'].values())} from the triggerers"
        )
        ok = result.state == "success" and set(states) == {("success", 1)}
        say("all waits succeeded, none retried" if ok else f"NOT OK: run {result.state}, {dict(states)}")
        if args.hold:
            say(f"holding: open {stack.api_url}; Ctrl-C stops everything")
            while True:
                time.sleep(3600)
        return 0 if ok else 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        say("stopping every component and PostgreSQL ...")
        stack.stop()
        emulator.stop()
        say("stopped")


if __name__ == "__main__":
    sys.exit(main())
