"""The fault matrix: every fault row, for every implemented vendor, on real Airflow.

One ``dag.test()`` run per vendor holds one independent task per row (each on its own export),
so a vendor's whole matrix costs one Airflow start. The results table is written to
``test-output/reliability/<vendor>.json`` and printed.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fault_profiles import PROFILES, Profile, sample_zip

from airflow_provider_exports.testing import Fault, emulator_class
from airflow_provider_exports.testing.emulator import Emulator, Step, make_zip

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DAGS = Path(__file__).with_name("dags")
OUTPUT = ROOT / "test-output" / "reliability"
FAST_RETRY = {"attempts": 6, "backoff": 0.2, "backoff_max": 1.0, "read_timeout": 1.5, "connect_timeout": 2.0}


@dataclass
class Row:
    """One fault row: its tasks, what to inject, what must happen."""

    name: str
    expect: str  # "success" or "failed"
    tasks: list[dict[str, Any]] = field(default_factory=list)
    must_say: list[str] = field(default_factory=list)
    check: Callable[[Any, Path], None] | None = None


def _build_rows(profile: Profile, emulator: Emulator, out: Path) -> list[Row]:
    rows: list[Row] = []
    running = list(profile.running)

    def wait_row(
        name: str,
        faults: list[Fault],
        steps: list[str | Step] | None = None,
        expect: str = "success",
        must_say: list[str] | None = None,
        **task: Any,
    ) -> Row:
        export_id = f"{name}-x1"
        profile.register(emulator, export_id, steps or [*running, profile.succeeded], b"")
        marker = profile.status_marker(export_id)
        # "pass" lets the sensor's first, synchronous poll through: the faults hit the trigger.
        emulator.inject(Fault("pass", contains=marker), *[_aim(f, marker) for f in faults])
        spec = {"task_id": name, "kind": "wait", "export_id": export_id, **task}
        spec.setdefault("hook_params", {**profile.hook_params, "retry": FAST_RETRY})
        return Row(name, expect, [spec], must_say or [])

    def download_row(
        name: str,
        faults: list[Fault],
        content: bytes,
        expect: str = "success",
        must_say: list[str] | None = None,
        **task: Any,
    ) -> Row:
        export_id = f"{name}-x1"
        profile.register(emulator, export_id, [profile.succeeded], content)
        assert profile.file_marker is not None
        marker = profile.file_marker(export_id)
        emulator.inject(*[_aim(f, marker) for f in faults])
        destination = out / name / "export.zip"
        spec = {
            "task_id": name,
            "kind": "download",
            "export_id": export_id,
            "destination": str(destination),
            **task,
        }
        spec.setdefault("hook_params", {**profile.hook_params, "retry": FAST_RETRY})
        return Row(name, expect, [spec], must_say or [])

    http_date = email.utils.formatdate(time.time() + 2, usegmt=True)
    rows += [
        wait_row("retry_after_seconds", [Fault("status", status=429, headers={"Retry-After": "1"})]),
        wait_row("retry_after_http_date", [Fault("status", status=429, headers={"Retry-After": http_date})]),
        wait_row("5xx_burst", [Fault("status", status=s) for s in (502, 503, 504, 503)]),
        wait_row("connection_reset", [Fault("drop"), Fault("drop")]),
        wait_row("connect_refused", [Fault("refuse", seconds=2.0)]),
        wait_row("server_hangs", [Fault("hang", seconds=5.0)]),
        wait_row(
            "html_error_page_200",
            [
                Fault(
                    "body",
                    body="<!DOCTYPE html><html><h1>Down for maintenance</h1></html>",
                    content_type="text/html",
                )
            ],
            expect="failed",
            must_say=["expected JSON, got an HTML page", "Down for maintenance"],
        ),
        wait_row(
            "malformed_json",
            [Fault("body", body='{"status": ', content_type="application/json")],
            expect="failed",
            must_say=["malformed JSON"],
        ),
        wait_row(
            "empty_body",
            [Fault("body", body="", content_type="application/json")],
            expect="failed",
            must_say=["<empty body>"],
        ),
        wait_row(
            "unknown_state",
            [],
            steps=[*running, "mystery-state", profile.succeeded],
            must_say=["unknown export state 'mystery-state'"],
        ),
        wait_row("unknown_state_override", [], steps=["mystery-state-2"], success_states=["mystery-state-2"]),
        wait_row("token_expires_mid_wait", [Fault("expire_auth")]),
        wait_row(
            "repeated_401",
            [Fault("expire_auth"), Fault("expire_auth")],
            expect="failed",
            must_say=["rejected again after a fresh login"],
        ),
        wait_row(
            "sensor_timeout",
            [],
            steps=[running[-1]],
            timeout=2,
            expect="failed",
            must_say=["Timed out waiting for export", "last seen"],
        ),
    ]
    for n, odd in enumerate(profile.odd_ids):
        profile.register(emulator, odd, [*running, profile.succeeded], b"")
        rows.append(
            Row(
                f"odd_id_{n}",
                "success",
                [
                    {
                        "task_id": f"odd_id_{n}",
                        "kind": "wait",
                        "export_id": odd,
                        "hook_params": {**profile.hook_params, "retry": FAST_RETRY},
                    }
                ],
            )
        )
    if profile.file_marker is not None:
        good = sample_zip("cut")
        evil = make_zip({"ok.txt": "fine", "../../escaped.txt": "owned"})
        corrupt = bytearray(sample_zip("corrupt"))
        corrupt[60:120] = bytes(60)
        rows += [
            download_row("download_cut_halfway", [Fault("truncate", after_bytes=len(good) // 2)], good),
            download_row(
                "download_corrupt_zip", [], bytes(corrupt), expect="failed", must_say=["zip archive"]
            ),
            download_row(
                "download_cut_every_time",
                [Fault("truncate", after_bytes=100)] * 6,
                good,
                expect="failed",
                must_say=["download cut after"],
            ),
            download_row(
                "zip_with_parent_paths",
                [],
                evil,
                expect="failed",
                extract_to=str(out / "extracted"),
                must_say=["refusing to extract zip member with an unsafe path"],
            ),
        ]
    return rows


def _aim(fault: Fault, marker: str) -> Fault:
    return Fault(**{**fault.__dict__, "contains": marker})


@pytest.mark.parametrize("conn_type", sorted(PROFILES))
def test_fault_matrix(conn_type: str, run_dag: Any, tmp_path: Path) -> None:
    profile = PROFILES[conn_type]
    emulator = emulator_class(conn_type)().start()
    try:
        rows = _build_rows(profile, emulator, tmp_path / "files")
        spec = {
            "conn_id": "matrix_conn",
            "hook_params": profile.hook_params,
            "tasks": [t for row in rows for t in row.tasks],
        }
        name, value = emulator.connection_env("matrix_conn")
        result = run_dag(
            "fault_matrix",
            {name: value, "FAULT_MATRIX_SPEC": json.dumps(spec), "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS)},
            dag_file=str(DAGS / "fault_matrix.py"),
            timeout=900,
        )
        table: dict[str, str] = {}
        problems: list[str] = [f"fault never served: {f}" for f in emulator.faults]
        for row in rows:
            states = {result.tasks.get(t["task_id"]) for t in row.tasks}
            ok = states == {row.expect}
            for phrase in row.must_say:
                if phrase not in result.output:
                    ok = False
                    problems.append(f"{row.name}: output lacks {phrase!r}")
            if row.tasks[0]["kind"] == "download":
                ok = ok and _download_ok(row, Path(row.tasks[0]["destination"]), emulator, problems)
            if not ok:
                problems.append(f"{row.name}: expected {row.expect}, got {states}")
            table[row.name] = "pass" if ok else "FAIL"
        # Path safety: every odd id reached the emulator as one path segment.
        for odd in profile.odd_ids:
            raws = [r.raw_path for r in emulator.requests if odd in r.path or odd in r.raw_path]
            assert raws, f"no request for id {odd!r}"
        for secret in emulator.secrets():
            assert secret not in result.output, "a credential leaked into the task/trigger output"
            assert secret not in json.dumps(result.xcom), "a credential leaked into XCom"
        table["no_secret_in_output_or_xcom"] = "pass"
        OUTPUT.mkdir(parents=True, exist_ok=True)
        (OUTPUT / f"{conn_type}.json").write_text(json.dumps(table, indent=2))
        print(f"\nfault matrix, {conn_type}:\n" + "\n".join(f"  {k:32} {v}" for k, v in table.items()))
        assert not problems, "\n".join(problems) + "\n" + result.output[-5000:]
    finally:
        emulator.stop()


def _download_ok(row: Row, destination: Path, emulator: Emulator, problems: list[str]) -> bool:
    leftovers = [p.name for p in destination.parent.glob(".*.part")] if destination.parent.exists() else []
    if leftovers:
        problems.append(f"{row.name}: temp files left behind: {leftovers}")
        return False
    export = emulator.exports[row.tasks[0]["export_id"]]
    if row.expect == "success":
        if not destination.exists() or destination.read_bytes() != export.content:
            problems.append(f"{row.name}: downloaded bytes differ from what the emulator served")
            return False
        return True
    if row.tasks[0].get("extract_to"):
        escaped = destination.parents[2] / "escaped.txt"
        if escaped.exists() or any(Path(row.tasks[0]["extract_to"]).rglob("*.txt")):
            problems.append(f"{row.name}: something was extracted")
            return False
        return True
    if destination.exists():
        problems.append(f"{row.name}: a file appeared at the destination")
        return False
    return True
