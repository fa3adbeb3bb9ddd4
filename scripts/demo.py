"""The demo: run every example DAG on real Airflow (SQLite) against the vendor emulators.

For each vendor: start its emulator (a separate process on 127.0.0.1), store the Airflow
connection in the metadata DB, run ``airflow dags test <dag>`` and show the export being started,
waited on (deferred to the trigger), downloaded and its log fetched. Re-runnable: the demo's
Airflow home and downloads live under ``.demo/`` and are reset on each run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_exports.vendors import VENDORS

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / ".demo"
BIN = Path(sys.executable).parent
HIGHLIGHTS = (
    "Started ",
    "Deferring",
    "running trigger in line",
    "vendor state",
    "succeeded (vendor state",
    "Downloaded export",
    "Log of ",
    "did not succeed",
)


@dataclass(frozen=True)
class Demo:
    conn_type: str
    conn_id: str
    dag_id: str


DEMOS = [Demo(vendor.conn_type, vendor.default_conn_id, vendor.example_dag) for vendor in VENDORS]


def airflow_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(DEMO / "airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "example_dags"),
        EXPORTS_DOWNLOAD_DIR=str(DEMO / "downloads"),
        EXPORTS_POKE_INTERVAL="2",
    )
    return env


def airflow(*args: str, check: bool = True, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(BIN / "airflow"), *args], env=airflow_env(), capture_output=True, text=True, cwd=ROOT
    )
    if check and proc.returncode != 0:
        sys.exit(f"airflow {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    if not quiet:
        print(proc.stdout)
    return proc


def start_emulator(conn_type: str) -> tuple[subprocess.Popen[bytes], dict[str, object]]:
    info_file = DEMO / f"{conn_type}.emulator.json"
    info_file.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_exports.testing",
            "serve",
            conn_type,
            "--info-file",
            str(info_file),
        ],
        stdout=subprocess.DEVNULL,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 30
    while not info_file.exists() or not info_file.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the {conn_type} emulator did not start")
        time.sleep(0.1)
    return proc, json.loads(info_file.read_text())


def run_demo(demo: Demo) -> Path | None:
    print(f"\n=== {demo.dag_id}: {demo.conn_type} emulator ===", flush=True)
    emulator, info = start_emulator(demo.conn_type)
    try:
        print(f"emulator listening at {info['url']}")
        airflow("connections", "delete", demo.conn_id, check=False)
        airflow("connections", "add", demo.conn_id, "--conn-json", json.dumps(info["connection"]))
        print(f"connection {demo.conn_id!r} stored in the metadata DB")
        started = time.time()
        proc = subprocess.Popen(
            [str(BIN / "airflow"), "dags", "test", demo.dag_id],
            env=airflow_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        log_path = DEMO / f"{demo.dag_id}.log"
        assert proc.stdout is not None
        with log_path.open("w") as log:
            for line in proc.stdout:
                log.write(line)
                if any(h in line for h in HIGHLIGHTS):
                    print("  " + _short(line), flush=True)
        code = proc.wait()
        outputs = sorted(
            p for p in (DEMO / "downloads").rglob("*") if p.is_file() and p.stat().st_mtime >= started - 1
        )
        final = _final_state(log_path)
        print(f"DAG run: {final}  (full log: {log_path.relative_to(ROOT)})")
        if code != 0 or final != "success" or not outputs:
            return None
        for path in outputs:
            print(f"downloaded: {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")
        return outputs[-1]
    finally:
        emulator.terminate()
        emulator.wait(10)


def _short(line: str) -> str:
    line = line.rstrip()
    for marker in ("[info     ] ", "[warning  ] ", "INFO - ", "WARNING - "):
        if marker in line:
            line = line.split(marker, 1)[1]
    line = re.sub(r" \[[\w.]+\] loc=\S+$", "", line)
    return line[:220]


def _final_state(log_path: Path) -> str:
    text = log_path.read_text()
    for line in reversed(text.splitlines()):
        if "DagRun Finished" in line and "state=" in line:
            return line.split("state=", 1)[1].split(",", 1)[0]
    return "unknown"


def main() -> int:
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir(parents=True)
    print("Preparing Airflow (SQLite) in .demo/airflow ...", flush=True)
    airflow("db", "migrate")
    results = {demo.dag_id: run_demo(demo) for demo in DEMOS}
    print("\n=== summary ===")
    for dag_id, path in results.items():
        print(f"{dag_id:28} {'OK  ' + str(path) if path else 'FAILED'}")
    return 0 if results and all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
