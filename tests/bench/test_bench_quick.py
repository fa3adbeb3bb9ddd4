"""The benchmark scripts still work: each runs with ``--quick`` and writes well-formed JSON.

This checks the scripts, not the numbers (those come from ``make bench`` on a quiet machine).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"


def run_quick(script: str, results: Path, *extra: str, timeout: float = 300) -> tuple[dict[str, Any], str]:
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", "--results-dir", str(results), *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(ROOT),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    name = script.removesuffix(".py")
    path = results / f"{name}.quick.json"
    assert path.exists(), proc.stdout[-2000:]
    data = json.loads(path.read_text())
    assert data["benchmark"] == name
    assert data["quick"] is True
    for key in ("machine_before", "machine_after"):
        assert len(data[key]["loadavg_1_5_15"]) == 3
    assert isinstance(data["targets"], dict)
    assert data["elapsed_s"] > 0
    summary = [line for line in proc.stdout.splitlines() if line.startswith(f"SUMMARY {name}:")]
    assert len(summary) == 1, proc.stdout[-2000:]
    return data, proc.stdout


def test_triggerer_scale_quick(tmp_path: Path) -> None:
    if importlib.util.find_spec("airflow.providers.http") is None:
        pytest.skip("the peer needs apache-airflow-providers-http: pip install -e '.[bench]'")
    data, _ = run_quick("triggerer_scale.py", tmp_path, "--floor")
    runs = data["runs"]
    assert {(r["side"], r["tls"]) for r in runs} == {
        ("ours", False),
        ("ours", True),
        ("peer", False),
        ("peer", True),
    }
    polls = data["settings"]["polls_per_wait"]
    assert {(r["side"], r["tls"]) for r in data["floor_reference"]} == {("floor", False), ("floor", True)}
    for run in runs + data["idle_baseline"] + data["floor_reference"]:
        assert run["completed"] == run["n"], run
        assert run["polls"] == run["n"] * polls, run
        assert run["cpu_ms_per_poll"] > 0
        assert run["peak_rss_mib"] > 0
        assert run["lateness_p99_s"] is not None
    for run in runs:
        assert run["server_polls"] == run["n"] * polls, run
        assert run["tcp_opened"] >= 1
    ours = [r for r in runs if r["side"] == "ours"]
    assert all(r["events"] == {"success": r["n"]} for r in ours)
    assert len(data["ratios"]) == 2


def test_download_throughput_quick(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("the peer is curl: apt-get install curl")
    data, _ = run_quick("download_throughput.py", tmp_path)
    size = data["settings"]["bytes"]
    assert data["ours"] and data["curl"]
    assert all(r["bytes"] == size and r["mb_s"] > 0 for r in data["ours"] + data["curl"])
    assert data["ours"][0]["peak_rss_mib"] > 0
    assert data["ratios"]["mb_s"] > 0


def test_import_cost_quick(tmp_path: Path) -> None:
    if importlib.util.find_spec("airflow.providers.http") is None:
        pytest.skip("the peer needs apache-airflow-providers-http: pip install -e '.[bench]'")
    data, _ = run_quick("import_cost.py", tmp_path)
    for case in ("sensor", "trigger"):
        entry = data["cases"][case]
        assert entry["base_alone_ms"] > 0
        assert entry["ours"]["added_same_process_ms"] > 0
        assert entry["peer"]["added_same_process_ms"] > 0


def test_poll_layers_quick(tmp_path: Path) -> None:
    data, _ = run_quick("poll_layers.py", tmp_path)
    rounds = data["settings"]["rounds"]
    layers = data["layers"]
    assert [row["layer"] for row in layers] == ["aiohttp GET", "send", "call", "run", "aget_status"]
    for row in layers:
        assert len(row["us_per_poll_runs"]) == rounds
        assert all(value > 0 for value in row["us_per_poll_runs"])
    assert layers[0]["over_aiohttp_get_us"] == 0
