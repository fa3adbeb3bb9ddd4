"""Import cost: what importing our sensor (a DAG file) and our trigger (the triggerer) adds.

Each measurement is a fresh interpreter under ``python -X importtime``; several runs, median.

* DAG side: ``import airflow`` first, then ``import airflow_provider_exports.sensors.export_status``.
  Measured two ways: (a) the same process, the import time of everything the second import
  loads (the top-level entries of ``-X importtime`` after a marker), and (b) the difference of the
  medians of two processes, one with both imports and one with ``import airflow`` alone.
* Triggerer side: ``import airflow.jobs.triggerer_job_runner`` first (the triggerer has it), then
  ``import airflow_provider_exports.triggers.export_status`` and the aiohttp runner its ``run()``
  imports (``airflow_provider_exports.transport.aio``): what the triggerer pays for our trigger.

The peer, measured the same way in the same run: the HTTP provider's ``HttpSensor``
(``airflow.providers.http.sensors.http``) and ``HttpSensorTrigger``
(``airflow.providers.http.triggers.http``).

    python benchmarks/import_cost.py            # 7 runs of each
    python benchmarks/import_cost.py --quick    # 1 run of each
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from typing import Any

import _common as c

MARK = "--bench-mark--"
LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S.*)$")

CASES = {
    "sensor": (
        "airflow",
        "airflow_provider_exports.sensors.export_status",
        "airflow.providers.http.sensors.http",
    ),
    # Our trigger imports its aiohttp runner when it first runs: counted here, as the triggerer
    # pays it (once) all the same.
    "trigger": (
        "airflow.jobs.triggerer_job_runner",
        "airflow_provider_exports.triggers.export_status, airflow_provider_exports.transport.aio",
        "airflow.providers.http.triggers.http",
    ),
}


def measure(base: str, module: str | None, env: dict[str, str]) -> dict[str, Any]:
    """One fresh interpreter: the import time (ms) of ``base``, then of ``module`` after it."""
    code = f"import {base}; import sys; sys.stderr.write({MARK!r} + chr(10))"
    if module:
        code += f"; import {module}"
    began = time.monotonic()
    proc = subprocess.run(
        [c.PYTHON, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    wall = time.monotonic() - began
    if proc.returncode != 0:
        raise RuntimeError(f"{code!r} failed:\n{proc.stderr[-3000:]}")
    before_us = after_us = 0
    own_us = 0
    seen_mark = False
    for line in proc.stderr.splitlines():
        if line.strip() == MARK:
            seen_mark = True
            continue
        match = LINE.match(line)
        if not match:
            continue
        self_us, cumulative_us, indent, name = int(match[1]), int(match[2]), match[3], match[4]
        if seen_mark and name.startswith("airflow_provider_exports"):
            own_us += self_us
        if indent:  # nested: already counted in a top-level entry's cumulative time
            continue
        if seen_mark:
            after_us += cumulative_us
        else:
            before_us += cumulative_us
    return {
        "base_ms": before_us / 1000,
        "added_ms": after_us / 1000,
        "own_modules_ms": own_us / 1000,
        "wall_s": wall,
    }


def main() -> None:
    p = c.parser(__doc__ or "")
    p.add_argument("--runs", type=int, help="runs of each measurement (default 7; quick 1)")
    args = p.parse_args()
    runs = args.runs or (1 if args.quick else 7)
    before = c.machine()
    began = time.monotonic()
    work = c.scratch_dir("bench-import-")
    env = c.airflow_env(work / "airflow-home")
    results: dict[str, Any] = {}
    rows: list[list[Any]] = []
    for case, (base, ours_module, peer_module) in CASES.items():
        samples: dict[str, list[dict[str, Any]]] = {"base": [], "ours": [], "peer": []}
        for run in range(runs):
            order = [("base", None), ("ours", ours_module), ("peer", peer_module)]
            for label, module in order if run % 2 == 0 else order[::-1]:
                samples[label].append(measure(base, module, env))

        def med(label: str, key: str, samples: dict[str, list[dict[str, Any]]] = samples) -> float:
            value = c.median([s[key] for s in samples[label]])
            assert value is not None
            return round(value, 1)

        entry: dict[str, Any] = {"base": base, "runs": runs}
        for label, module in (("ours", ours_module), ("peer", peer_module)):
            entry[label] = {
                "module": module,
                "added_same_process_ms": med(label, "added_ms"),
                "added_by_difference_ms": round(
                    med(label, "base_ms") + med(label, "added_ms") - med("base", "base_ms"), 1
                ),
                "own_modules_ms": med(label, "own_modules_ms") if label == "ours" else None,
            }
        entry["base_alone_ms"] = med("base", "base_ms")
        entry["ratio_same_process"] = c.ratio(
            entry["ours"]["added_same_process_ms"], entry["peer"]["added_same_process_ms"]
        )
        results[case] = entry
        for label in ("ours", "peer"):
            rows.append(
                [
                    f"{case}: {label}",
                    entry[label]["module"],
                    entry["base"],
                    entry["base_alone_ms"],
                    entry[label]["added_same_process_ms"],
                    entry[label]["added_by_difference_ms"],
                    entry[label]["own_modules_ms"],
                ]
            )
        rows.append([f"{case}: ours/peer", "", "", "", entry["ratio_same_process"], None, None])
    shutil.rmtree(work, ignore_errors=True)
    headers = [
        "case",
        "module",
        "after",
        "after alone ms",
        "added ms",
        "added ms (difference)",
        "own modules ms",
    ]
    print(c.table(headers, rows))
    sensor = results["sensor"]["ours"]["added_same_process_ms"]
    trigger = results["trigger"]["ours"]["added_same_process_ms"]
    targets = {"sensor_over_airflow": {"target": "< 50 ms", "ours_ms": sensor, "met": sensor < 50}}
    after = c.machine()
    elapsed = time.monotonic() - began
    result = {
        "benchmark": "import_cost",
        "quick": args.quick,
        "settings": {"runs": runs, "python": c.PYTHON, "method": "python -X importtime, median"},
        "machine_before": before,
        "machine_after": after,
        "cases": results,
        "targets": targets,
        "elapsed_s": round(elapsed, 1),
    }
    path = c.write_result(args.results_dir, "import_cost", result, quick=args.quick)
    print(c.load_lines(before, after))
    verdict = "met" if targets["sensor_over_airflow"]["met"] else "MISSED"
    print(
        f"SUMMARY import_cost: sensor adds {sensor} ms over `import airflow` ({verdict}, target < 50 ms; "
        f"HttpSensor adds {results['sensor']['peer']['added_same_process_ms']} ms); the triggerer pays "
        f"{trigger} ms for the trigger module (HttpSensorTrigger: "
        f"{results['trigger']['peer']['added_same_process_ms']} ms) [{elapsed:.0f} s, {path}]"
    )


if __name__ == "__main__":
    main()
