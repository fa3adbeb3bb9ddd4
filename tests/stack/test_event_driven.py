"""Event-driven pipelines on a real stack (issue 20): example_dags/huawei_workspace_watch.py and
personium_watch.py, as shipped, with four more watchers on the same Workspace account
(event_dags/more_workspace_watchers.py).

Three exports appear in each emulator, one after another, without any start call. Each must give
exactly one DAG run of its asset's DAG, which downloads that export (hashes match the emulator's
file). The only triggerer is SIGKILLed after the second exports were delivered, the third ones
appear while it is dead, and it is restarted: the third ones are delivered once, the first two
never again (the Personium snapshots are still listed; only the watcher's record in the asset
state store keeps them from firing again). The five Workspace watchers cost one listing request
per interval at the emulator.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from airflow_provider_exports.testing.emulator import Export, Recorded
from airflow_provider_exports.testing.huawei import WorkspaceEmulator
from airflow_provider_exports.testing.personium import PersoniumEmulator
from stack.airflow_stack import AirflowStack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
INTERVAL = 2.0
WATCH_DAGS = {"huawei_workspace_watch": "workspace", "personium_watch": "personium"}


@pytest.fixture
def workspace() -> Iterator[WorkspaceEmulator]:
    emu = WorkspaceEmulator()
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def personium() -> Iterator[PersoniumEmulator]:
    emu = PersoniumEmulator()
    emu.start()
    yield emu
    emu.stop()


def _until(what: str, check: Callable[[], bool], stack: AirflowStack, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        stack.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{stack.diagnostics()}")
        time.sleep(1)


def _listings(workspace: WorkspaceEmulator) -> list[Recorded]:
    """The watchers' listing requests (the downloads' status lookups filter by task_id instead)."""
    path = f"/v2/{workspace.project_id}/export-tasks"
    with workspace.lock:
        records = list(workspace.requests)
    return [r for r in records if r.path == path and "status=SUCCESS" in r.raw_path]


def _propfinds(personium: PersoniumEmulator) -> int:
    with personium.lock:
        return sum(1 for r in personium.requests if r.method == "PROPFIND" and r.path.endswith("/__snapshot"))


def _runs(stack: AirflowStack, dag_id: str) -> list[dict[str, Any]]:
    return stack.query(
        "SELECT id, run_id, state, run_type FROM dag_run WHERE dag_id = :d ORDER BY id", d=dag_id
    )


def _finished(stack: AirflowStack, dag_id: str, count: int) -> bool:
    runs = _runs(stack, dag_id)
    assert len(runs) <= count, f"{dag_id}: {len(runs)} runs, expected at most {count}: {runs}"
    return len(runs) == count and all(r["state"] in ("success", "failed") for r in runs)


def _payloads(stack: AirflowStack, run_pk: int) -> list[dict[str, Any]]:
    rows = stack.query(
        "SELECT e.extra FROM asset_event e JOIN dagrun_asset_event r ON r.event_id = e.id "
        "WHERE r.dag_run_id = :id ORDER BY e.id",
        id=run_pk,
    )
    extras = [json.loads(r["extra"]) if isinstance(r["extra"], str) else r["extra"] for r in rows]
    return [extra["payload"] for extra in extras]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.timeout(900)
def test_watched_exports_each_run_their_dag_once_across_a_triggerer_kill(
    airflow_stack: Callable[..., AirflowStack],
    workspace: WorkspaceEmulator,
    personium: PersoniumEmulator,
    tmp_path: Path,
) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    for name in ("huawei_workspace_watch.py", "personium_watch.py"):
        shutil.copy(ROOT / "example_dags" / name, dags / name)
    shutil.copy(Path(__file__).with_name("event_dags") / "more_workspace_watchers.py", dags)
    downloads = tmp_path / "downloads"
    stack = airflow_stack(
        dags,
        database="sqlite",
        triggerers=1,
        parallelism=4,
        env={
            "AIRFLOW_CONN_HUAWEI_WORKSPACE_DEFAULT": json.dumps(workspace.connection()),
            "AIRFLOW_CONN_PERSONIUM_DEFAULT": json.dumps(personium.connection()),
            "EXPORTS_WATCH_INTERVAL": str(INTERVAL),
            "EXPORTS_DOWNLOAD_DIR": str(downloads),
        },
    )
    for dag_id in (*WATCH_DAGS, "more_workspace_watchers"):
        stack.wait_for_dag(dag_id)
    # Six watchers (five on the Workspace account, one on the cell), and both accounts listed.
    _until("the six watcher triggers", lambda: len(stack.triggers()) == 6, stack)
    _until("the first listings", lambda: len(_listings(workspace)) >= 2 and _propfinds(personium) >= 2, stack)
    first_listings = (len(_listings(workspace)), time.monotonic())

    made: dict[str, list[tuple[str, bytes]]] = {"workspace": [], "personium": []}

    def _appear(round_no: int) -> None:
        export: Export = workspace.console_export("users", ready_after=1.0)
        made["workspace"].append((export.export_id, export.content))
        name = f"nightly_{round_no}"
        made["personium"].append((name, personium.appear_snapshot(name)))

    def _round_done(count: int) -> bool:
        return all(_finished(stack, dag_id, count) for dag_id in WATCH_DAGS)

    for round_no in (1, 2):
        _appear(round_no)
        _until(f"round {round_no}'s DAG runs to finish", lambda n=round_no: _round_done(n), stack)

    # SIGKILL the only triggerer (as a lost machine), make the third exports appear while it is
    # dead, then start it again: a new job takes the six watchers over.
    old_pid = stack.triggerer(0).pid
    assert old_pid is not None
    old_tree = psutil.Process(old_pid).children(recursive=True)
    at_kill = (len(_listings(workspace)), time.monotonic())
    dead_job = stack.kill_triggerer(0)
    _, survivors = psutil.wait_procs(old_tree, timeout=30)
    assert all(p.status() == psutil.STATUS_ZOMBIE for p in survivors), survivors
    _appear(3)
    new_job = stack.restart_triggerer(0).job_id
    assert new_job is not None and new_job != dead_job
    _until(
        "the restarted triggerer to take the watchers over",
        lambda: {t["triggerer_id"] for t in stack.triggers()} == {new_job},
        stack,
    )
    taken_over = (len(_listings(workspace)), time.monotonic())
    _until("round 3's DAG runs to finish", lambda: _round_done(3), stack)

    # Nothing more fires: the first two rounds' snapshots are still in the cell's snapshot area,
    # and the restarted triggerer keeps listing them.
    propfinds = _propfinds(personium)
    _until("five more listings of the cell", lambda: _propfinds(personium) >= propfinds + 5, stack)
    for dag_id in WATCH_DAGS:
        runs = _runs(stack, dag_id)
        assert [(r["state"], r["run_type"]) for r in runs] == [("success", "asset_triggered")] * 3, runs

    # Each run was made for one event, of its own export, and downloaded exactly that file.
    for dag_id, vendor in WATCH_DAGS.items():
        expected = dict(made[vendor])
        delivered = []
        for run in _runs(stack, dag_id):
            [payload] = _payloads(stack, run["id"])
            delivered.append(payload["export_id"])
            assert (
                payload["conn_id"]
                == f"{'huawei_workspace' if vendor == 'workspace' else 'personium'}_default"
            )
            assert payload["redelivered"] is False and payload["finished_at"]
            folder = downloads / vendor
            files = (
                list((folder / payload["export_id"]).iterdir())
                if vendor == "workspace"
                else [folder / payload["name"]]
            )
            [path] = files
            assert _sha256(path.read_bytes()) == _sha256(expected[payload["export_id"]]), (dag_id, run)
            if vendor == "personium":
                assert payload["size"] == len(expected[payload["export_id"]])
        assert delivered == [export_id for export_id, _ in made[vendor]], (dag_id, delivered)
    # Workspace marked each downloaded task, so its watcher's record is empty again; the cell's
    # snapshots stay listed, each recorded as delivered and acknowledged by its download task.
    assert all(workspace.exports[task_id].extra.get("downloaded") for task_id, _ in made["workspace"])
    records = {
        row["name"]: json.loads(row["value"])
        for row in stack.query(
            "SELECT a.name, s.key, s.value FROM asset_state_store s JOIN asset a ON a.id = s.asset_id "
            "WHERE s.key LIKE 'airflow_provider_exports.watch.%'"
        )
    }
    assert records["huawei_workspace_exports"]["delivered"] == {}, records
    personium_keys = {
        p["delivery_key"] for r in _runs(stack, "personium_watch") for p in _payloads(stack, r["id"])
    }
    assert set(records["personium_snapshots"]["delivered"]) == personium_keys, records
    acks = stack.query("SELECT key FROM asset_state_store WHERE key LIKE 'airflow_provider_exports.acked.%'")
    assert {row["key"].rpartition(".")[2] for row in acks} == personium_keys, acks

    # Five watchers, one account: one listing per interval, before the kill and after the restart.
    after_restart = (len(_listings(workspace)), time.monotonic())
    for label, (count0, t0), (count1, t1) in (
        ("before the kill", first_listings, at_kill),
        ("after the restart", taken_over, after_restart),
    ):
        per_interval = (count1 - count0) / ((t1 - t0) / INTERVAL)
        print(
            f"Workspace listings {label}: {count1 - count0} in {t1 - t0:.1f} s "
            f"= {per_interval:.2f} per {INTERVAL} s interval"
        )
        # One shared listing per interval is at most 1 (a listing takes a little time too, and the
        # machine is busy); five separate ones would be about 5.
        assert 0.4 <= per_interval <= 1.1, (label, count1 - count0, t1 - t0)

    # No credential in the events or the trigger rows.
    secrets = workspace.secrets() | personium.secrets()
    rows = stack.query("SELECT kwargs FROM trigger") + stack.query("SELECT extra FROM asset_event")
    text = json.dumps(rows, default=str)
    assert not [s for s in secrets if s and s in text]
