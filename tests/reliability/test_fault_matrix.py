"""The fault matrix: every fault row, for every implemented vendor, on real Airflow.

One ``dag.test()`` run holds every selected vendor's rows: a task group per vendor, one
independent task per row, each on its own export (and where the vendor reports one export per
account, as Personium's cell does, on its own connection). ``dag.test()`` runs the tasks (and
their triggers) one after the other, so each row's log is the stretch between its
``[DAG TEST] starting`` and ``end task`` lines, and a row's phrases must appear there. Each
vendor's results table is written to ``test-output/reliability/<vendor>.json`` (its rows' log
beside it) and printed; ``scripts/reliability_table.py`` turns the tables into Markdown.
"""

from __future__ import annotations

import email.utils
import itertools
import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from fault_profiles import ODD_IDS, PROFILES, START_ROWS, Profile, sample_zip

from airflow_provider_exports.testing import DagRunError, Fault, emulator_class, run_dag
from airflow_provider_exports.testing.emulator import Emulator, Recorded, Step, make_zip

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DAGS = Path(__file__).with_name("dags")
DAG_FILE = DAGS / "fault_matrix.py"
OUTPUT = ROOT / "test-output" / "reliability"
FAST_RETRY = {"attempts": 6, "backoff": 0.1, "backoff_max": 0.5, "read_timeout": 1.5, "connect_timeout": 2.0}
SEGMENT = re.compile(
    r"\[DAG TEST\] starting task_id=(?P<task>\S+) .*?\[DAG TEST\] end task task_id=(?P=task) ", re.S
)
RETRY_WAIT = re.compile(r"HTTP 429; retrying in (?P<seconds>\d+(?:\.\d+)?)s")
MAINTENANCE_PAGE = "<!DOCTYPE html><html><h1>Down for maintenance</h1></html>"


class RetryAfterDate(Mapping[str, str]):
    """A ``Retry-After`` HTTP date ``seconds`` after the moment the header is sent.

    Rows run one after the other, so a date fixed when the matrix is built would be long past
    when its row runs; the emulator reads the headers when it answers.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __getitem__(self, key: str) -> str:
        if key != "Retry-After":
            raise KeyError(key)
        return email.utils.formatdate(time.time() + self.seconds, usegmt=True)

    def __iter__(self) -> Iterator[str]:
        return iter(("Retry-After",))

    def __len__(self) -> int:
        return 1


@dataclass
class Row:
    """One fault row: its tasks, what to inject, what must happen."""

    name: str
    expect: str  # "success" or "failed"
    tasks: list[dict[str, Any]] = field(default_factory=list)
    must_say: list[str] = field(default_factory=list)
    #: The retry after the 429 must have waited at least this long (Retry-After honoured).
    min_retry_wait: float | None = None
    #: For path-safety rows: the odd id, which must reach the emulator intact.
    odd_id: str | None = None
    #: For rows the vendor refuses before any request: no request may reach the emulator.
    refused: bool = False
    #: For a cut download: the request that resumed it must start at a byte past 0 (Range),
    #: and match this marker.
    resume_marker: str | None = None
    #: Connections (JSON form) of this row's own, by conn_id.
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)


def _build_rows(profile: Profile, emulator: Emulator, out: Path, *, prefix: str) -> list[Row]:
    """The rows of one vendor; a row's own connection is called ``{prefix}_{row}``."""
    rows: list[Row] = []
    running = list(profile.running)
    retry_params = {**profile.hook_params, "retry": FAST_RETRY}

    def own_connection(row: Row, export_id: str) -> Row:
        conn = profile.row_connection(emulator, row.name, export_id) if profile.row_connection else None
        if conn is not None:
            conn_id = f"{prefix}_{row.name}"
            row.connections[conn_id] = conn
            for task in row.tasks:
                task["conn_id"] = conn_id
        return row

    def must_say(name: str, common: list[str]) -> list[str]:
        return list(profile.must_say.get(name, common))

    def wait_row(
        name: str,
        faults: list[Fault],
        steps: list[str | Step] | None = None,
        expect: str = "success",
        say: list[str] | None = None,
        export_id: str | None = None,
        **task: Any,
    ) -> Row:
        export_id = export_id or f"{name}-x1"
        profile.register(emulator, export_id, steps or [*running, profile.succeeded], b"")
        if faults:
            marker = profile.status_marker(export_id)
            # "pass" lets the sensor's first, synchronous poll through: the faults hit the trigger.
            emulator.inject(Fault("pass", contains=marker), *[_aim(f, marker) for f in faults])
        spec = {"task_id": name, "kind": "wait", "export_id": export_id, "hook_params": retry_params, **task}
        return own_connection(Row(name, expect, [spec], must_say(name, say or [])), export_id)

    def start_row(name: str, fault: Fault, say: list[str]) -> Row:
        export_id = f"{name}-x1"
        if profile.start_prepare is not None:
            profile.start_prepare(emulator, export_id)
        # Rows without their own start path (all but Personium's cells) meet their fault in turn:
        # the start rows run one after the other (see "after" below), each sending one start.
        emulator.inject(
            _aim(fault, profile.start_marker(export_id), method=profile.start_method),
        )
        spec = {
            "task_id": name,
            "kind": "start",
            "payload": profile.start_payload(export_id),
            "hook_params": retry_params,
        }
        return own_connection(Row(name, "failed", [spec], must_say(name, say)), export_id)

    def download_row(
        name: str,
        faults: list[Fault],
        content: bytes,
        expect: str = "success",
        say: list[str] | None = None,
        export_id: str | None = None,
        **task: Any,
    ) -> Row:
        export_id = export_id or f"{name}-x1"
        profile.register(emulator, export_id, [profile.succeeded], content)
        assert profile.file_marker is not None
        marker = profile.file_marker(export_id)
        if faults:
            # Every download GETs the file; a PROPFIND or a status check on the same URL goes first.
            preflight = [Fault("pass", method="GET", contains=marker)] * profile.download_preflight
            emulator.inject(*preflight, *[_aim(f, marker, method="GET") for f in faults])
        spec = {
            "task_id": name,
            "kind": "download",
            "export_id": export_id,
            "destination": str(out / name / "export.zip"),
            "hook_params": retry_params,
            **task,
        }
        return own_connection(Row(name, expect, [spec], must_say(name, say or [])), export_id)

    rows += [
        wait_row(
            "retry_after_seconds",
            [Fault("status", status=429, headers={"Retry-After": "1"})],
            say=["HTTP 429"],
        ),
        wait_row(
            "retry_after_http_date",
            [Fault("status", status=429, headers=RetryAfterDate(2))],
            say=["HTTP 429"],
        ),
        wait_row(
            "5xx_burst",
            [Fault("status", status=s) for s in (502, 503, 504, 503)],
            say=["HTTP 502", "HTTP 504"],
        ),
        wait_row("connection_reset", [Fault("drop"), Fault("drop")], say=["connection dropped"]),
        wait_row("connect_refused", [Fault("refuse", seconds=1.0)], say=["connection refused"]),
        wait_row("server_hangs", [Fault("hang", seconds=5.0)], say=["read timed out"]),
        wait_row(
            "html_error_page_200",
            [
                Fault(
                    "body",
                    body=MAINTENANCE_PAGE,
                    content_type="text/html",
                )
            ],
            expect="failed",
            say=["expected JSON, got an HTML page", "Down for maintenance"],
        ),
        wait_row(
            "malformed_json",
            [Fault("body", body='{"status": ', content_type="application/json")],
            expect="failed",
            say=["malformed JSON"],
        ),
        wait_row(
            "empty_body",
            [Fault("body", body="", content_type="application/json")],
            expect="failed",
            say=["<empty body>"],
        ),
        wait_row(
            "unknown_state",
            [],
            steps=[*running, "mystery-state", profile.succeeded],
            say=["unknown export state 'mystery-state'"],
        ),
        wait_row("unknown_state_override", [], steps=["mystery-state-2"], success_states=["mystery-state-2"]),
        wait_row(
            "token_expires_mid_wait",
            [Fault("expire_auth")],
            say=["rejected the credential; logging in again once"],
        ),
        wait_row(
            "repeated_401",
            [Fault("expire_auth"), Fault("expire_auth")],
            expect="failed",
            say=["rejected again after a fresh login"],
        ),
        wait_row(
            "sensor_timeout",
            [],
            steps=[running[-1]],
            timeout=1,
            expect="failed",
            say=["Timed out waiting for export", "last seen"],
        ),
    ]
    rows[0].min_retry_wait = 1.0
    # An HTTP date has whole seconds: "2 s from now" is 1-2 s away when the client reads it.
    rows[1].min_retry_wait = 0.9
    for name in profile.odd_ids:
        odd = ODD_IDS[name]
        if profile.refuses_odd_ids is not None:
            spec = {"task_id": name, "kind": "wait", "export_id": odd, "hook_params": retry_params}
            row = Row(name, "failed", [spec], [profile.refuses_odd_ids], refused=True)
        elif profile.odd_id_kind == "download":
            row = download_row(name, [], sample_zip(name), export_id=odd)
        else:
            row = wait_row(name, [], export_id=odd)
        row.odd_id = odd
        rows.append(row)
    if profile.file_marker is not None:
        good = sample_zip("cut")
        # Incompressible and several of the sync runner's reads (CHUNK, 512 KiB) long: the reads
        # completed before the cut reach the client, so the retry resumes from there, not zero.
        large = make_zip({"content.json": '{"row": "resume"}', "data.bin": os.urandom(2 * 1024 * 1024)})
        evil = make_zip({"ok.txt": "fine", "../../escaped.txt": "owned"})
        corrupt = bytearray(sample_zip("corrupt"))
        corrupt[60:120] = bytes(60)
        cut = download_row("download_cut_halfway", [Fault("truncate", after_bytes=len(large) // 2)], large)
        cut.resume_marker = profile.file_marker("download_cut_halfway-x1")
        rows += [
            cut,
            download_row("download_corrupt_zip", [], bytes(corrupt), expect="failed", say=["zip archive"]),
            download_row(
                "download_cut_every_time",
                [Fault("truncate", after_bytes=100)] * 6,
                good,
                expect="failed",
                say=["download cut after"],
            ),
            download_row(
                "zip_with_parent_paths",
                [],
                evil,
                expect="failed",
                extract_to=str(out / "extracted"),
                say=["refusing to extract zip member with an unsafe path"],
            ),
        ]
    # The start call answers what its docs do not describe: the start task must fail at once,
    # naming the vendor, the call, the status, the content type and what came back.
    ok = profile.start_status
    missing = profile.start_without_id
    start_rows = [
        start_row(
            "start_html_page_200",
            Fault("status", status=200, body=MAINTENANCE_PAGE, content_type="text/html"),
            say=["HTTP 200", "an HTML page (text/html)", "Down for maintenance"],
        ),
        start_row(
            "start_malformed_json",
            Fault("status", status=ok, body='{"status": ', content_type="application/json"),
            say=[f"HTTP {ok}", "malformed JSON (application/json)", '{"status":'],
        ),
        start_row(
            "start_2xx_without_id",
            Fault("status", status=ok, body=missing, content_type="application/json"),
            say=[f"HTTP {ok}", profile.start_id, " ".join(missing.split())[:40] or "an empty body"],
        ),
    ]
    assert [row.name for row in start_rows] == list(START_ROWS)
    for before, row in itertools.pairwise(start_rows):
        row.tasks[0]["after"] = before.tasks[0]["task_id"]
    rows += start_rows
    return rows


def _aim(fault: Fault, marker: str, **overrides: str) -> Fault:
    return Fault(**{**fault.__dict__, "contains": marker, **overrides})


@dataclass
class VendorRun:
    """One vendor's part of the matrix: its emulator, rows and shared connection."""

    profile: Profile
    emulator: Emulator
    rows: list[Row]
    conn_id: str

    @property
    def group(self) -> str:
        return self.profile.conn_type


@dataclass
class MatrixRun:
    """The one DAG run that holds every selected vendor's rows."""

    vendors: dict[str, VendorRun]
    state: str
    tasks: dict[str, str | None]
    xcom: dict[str, Any]
    output: str
    seconds: float


def _selected_vendors(request: pytest.FixtureRequest) -> list[str]:
    """The vendors whose matrix test was selected (``-k personium`` runs Personium's rows only)."""
    chosen = {
        str(item.callspec.params["conn_type"])
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.originalname == "test_fault_matrix"
        and hasattr(item, "callspec")
    }
    return sorted(chosen) or sorted(PROFILES)


@pytest.fixture(scope="module")
def matrix(
    request: pytest.FixtureRequest, airflow_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MatrixRun]:
    """Every selected vendor's rows in ONE ``dag.test()`` run, one task group per vendor.

    Tasks run one after the other in ``dag.test()`` whatever the DAG's shape, so one run per
    vendor would only add an Airflow start and a first-task warm-up per vendor (10-20 s each on
    a busy 2-core machine) to the same row times.
    """
    base = tmp_path_factory.mktemp("fault-matrix")
    vendors: dict[str, VendorRun] = {}
    env: dict[str, str] = {}
    try:
        for conn_type in _selected_vendors(request):
            profile = PROFILES[conn_type]
            emulator = emulator_class(conn_type)(**profile.emulator_kwargs).start()
            run = VendorRun(profile, emulator, [], f"matrix_{conn_type}")
            vendors[conn_type] = run
            run.rows = _build_rows(profile, emulator, base / conn_type, prefix=run.conn_id)
            name, value = emulator.connection_env(run.conn_id)
            env[name] = value
            for row in run.rows:
                env.update(
                    {f"AIRFLOW_CONN_{cid.upper()}": json.dumps(c) for cid, c in row.connections.items()}
                )
        spec = {
            "groups": [
                {
                    "group_id": run.group,
                    "conn_id": run.conn_id,
                    "hook_params": run.profile.hook_params,
                    "tasks": [t for row in run.rows for t in row.tasks],
                }
                for run in vendors.values()
            ]
        }
        env.update(
            {
                "FAULT_MATRIX_SPEC": json.dumps(spec),
                "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
                "EXPORTS_DOWNLOAD_DIR": str(base / "downloads"),
            }
        )
        OUTPUT.mkdir(parents=True, exist_ok=True)
        try:
            result = run_dag("fault_matrix", dag_file=DAG_FILE, env=env, timeout=900, cwd=ROOT)
        except DagRunError as exc:
            (OUTPUT / "fault_matrix.log").write_text(str(exc))
            raise
        (OUTPUT / "fault_matrix.log").write_text(result.output)
        yield MatrixRun(vendors, result.state, result.tasks, result.xcom, result.output, result.seconds)
    finally:
        for run in vendors.values():
            run.emulator.stop()


@pytest.mark.parametrize("conn_type", sorted(PROFILES))
def test_fault_matrix(conn_type: str, matrix: MatrixRun) -> None:
    run = matrix.vendors[conn_type]
    segments = {
        m["task"].removeprefix(f"{run.group}."): m.group(0)
        for m in SEGMENT.finditer(matrix.output)
        if m["task"].startswith(f"{run.group}.")
    }
    table: dict[str, str] = {}
    problems: list[str] = [f"fault never served: {f}" for f in run.emulator.faults]
    for row in run.rows:
        states = {matrix.tasks.get(f"{run.group}.{t['task_id']}") for t in row.tasks}
        found = _check_row(row, states, segments.get(row.name, ""), run.emulator, run.profile)
        problems += found
        table[row.name] = "FAIL" if found else _passed(run.profile.notes.get(row.name))
    # The whole run's output: no vendor's credential may show up anywhere in it.
    leaks = [
        where
        for secret in run.emulator.secrets()
        for where, text in (("task/trigger output", matrix.output), ("XCom", json.dumps(matrix.xcom)))
        if secret in text
    ]
    problems += [f"a credential leaked into the {where}" for where in leaks]
    table["no_secret_in_output_or_xcom"] = "FAIL" if leaks else "pass"
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / f"{conn_type}.log").write_text("\n".join(segments.values()))
    (OUTPUT / f"{conn_type}.json").write_text(json.dumps(table, indent=2))
    print(
        f"\nfault matrix, {conn_type} (the DAG run of {len(matrix.vendors)} vendors took "
        f"{matrix.seconds:.0f} s):\n" + "\n".join(f"  {k:32} {v}" for k, v in table.items())
    )
    assert not problems, "\n".join(problems) + "\n" + "\n".join(segments.values())[-5000:]


def _passed(note: str | None) -> str:
    return f"pass ({note})" if note else "pass"


def _check_row(
    row: Row, states: set[str | None], segment: str, emulator: Emulator, profile: Profile
) -> list[str]:
    """What is wrong with a row's outcome (nothing: it passed)."""
    problems: list[str] = []
    if states != {row.expect}:
        problems.append(f"{row.name}: expected {row.expect}, got {states}")
    if not segment:
        problems.append(f"{row.name}: no log of the task in the output")
    for phrase in row.must_say:
        if phrase not in segment:
            problems.append(f"{row.name}: the task's log lacks {phrase!r}")
    if row.min_retry_wait is not None:
        waits = [float(m["seconds"]) for m in RETRY_WAIT.finditer(segment)]
        if not waits or min(waits) < row.min_retry_wait:
            problems.append(
                f"{row.name}: the retry after the 429 waited {waits}, not >= {row.min_retry_wait}s"
            )
    if row.odd_id is not None:
        problems += _odd_id_problems(row, emulator, profile)
    if row.tasks[0]["kind"] == "download":
        problems += _download_problems(row, Path(row.tasks[0]["destination"]), emulator)
    if row.resume_marker is not None:
        problems += _resume_problems(row, emulator)
    return problems


def _resume_problems(row: Row, emulator: Emulator) -> list[str]:
    """A cut download was resumed: a later GET asked for the rest (``Range: bytes=N-``, N > 0)."""
    marker = row.resume_marker
    assert marker is not None
    with emulator.lock:
        ranges = [
            r.headers.get("Range", "")
            for r in emulator.requests
            if r.method == "GET" and (marker in r.raw_path or marker in r.path)
        ]
    starts = [int(m[1]) for value in ranges if (m := re.fullmatch(r"bytes=(\d+)-", value))]
    if not any(start > 0 for start in starts):
        return [f"{row.name}: the download was not resumed from the cut (Range headers: {ranges})"]
    return []


def _odd_id_problems(row: Row, emulator: Emulator, profile: Profile) -> list[str]:
    """The odd id reached the emulator as exactly one path segment / one query value (or, if the
    vendor refuses it, nothing reached the emulator at all)."""
    odd = row.odd_id
    assert odd is not None
    with emulator.lock:
        requests = list(emulator.requests)
    if row.refused:
        # The shared connection is used by the refused rows only.
        prefix = urlsplit(str(emulator.connection()["host"])).path.rstrip("/") + "/"
        sent = [r.raw_path for r in requests if r.path.startswith(prefix)]
        return [f"{row.name}: requests reached the emulator for refused id {odd!r}: {sent}"] if sent else []
    problems = []
    if profile.id_in_path and not any(odd in _path_segments(r) for r in requests):
        problems.append(f"{row.name}: no request had {odd!r} as one path segment")
    if profile.id_query and not any((profile.id_query, odd) in _query_pairs(r) for r in requests):
        problems.append(f"{row.name}: no request had {profile.id_query}={odd!r} as one query value")
    return problems


def _path_segments(request: Recorded) -> list[str]:
    return [unquote(s) for s in urlsplit(request.raw_path).path.split("/")]


def _query_pairs(request: Recorded) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(request.raw_path).query, keep_blank_values=True)


def _download_problems(row: Row, destination: Path, emulator: Emulator) -> list[str]:
    leftovers = [p.name for p in destination.parent.glob(".*.part")] if destination.parent.exists() else []
    if leftovers:
        return [f"{row.name}: temp files left behind: {leftovers}"]
    export = emulator.exports[row.tasks[0]["export_id"]]
    if row.expect == "success":
        if not destination.exists() or destination.read_bytes() != export.content:
            return [f"{row.name}: downloaded bytes differ from what the emulator served"]
        return []
    if row.tasks[0].get("extract_to"):
        escaped = destination.parents[2] / "escaped.txt"
        if escaped.exists() or any(Path(row.tasks[0]["extract_to"]).rglob("*.txt")):
            return [f"{row.name}: something was extracted"]
        return []
    if destination.exists():
        return [f"{row.name}: a file appeared at the destination"]
    return []
