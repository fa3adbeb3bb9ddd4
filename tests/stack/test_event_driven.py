"""Event-driven pipelines on a real stack (issue 20): example_dags/huawei_workspace_watch.py and
personium_watch.py, as shipped, with four more watchers on the same Workspace account
(event_dags/more_workspace_watchers.py), on PostgreSQL.

Exports appear in each emulator, one after another, without any start call. Each must give
exactly one DAG run of its asset's DAG, which downloads that export (hashes match the emulator's
file). First with one triggerer: it is SIGKILLed after the second exports were delivered, the
third ones appear while it is dead, and it is restarted: the third ones are delivered once, the
first two never again (the Personium snapshots are still listed; only the watcher's record in the
asset state store keeps them from firing again). Then with two: a second triggerer joins, the
first (holding every watcher) is SIGKILLed, the fourth exports appear, and the survivor takes the
watchers over and delivers them once. The five Workspace watchers cost one listing request per
interval at the emulator, on each triggerer that held them."""

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


def _until(what: str, check: Callable[[], bool], stack: AirflowStack) -> None:
    stack.wait_until(what, check, timeout=180)


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


def _kill(stack: AirflowStack, index: int) -> int:
    """SIGKILL triggerer ``index`` and its children (as a lost machine); its job id."""
    pid = stack.triggerer(index).pid
    assert pid is not None
    tree = psutil.Process(pid).children(recursive=True)
    dead_job = stack.kill_triggerer(index)
    _, survivors = psutil.wait_procs(tree, timeout=30)
    assert all(p.status() == psutil.STATUS_ZOMBIE for p in survivors), survivors
    return dead_job


class Scenario:
    """The stack, the two emulators, and what the test made appear in them."""

    def __init__(
        self,
        stack: AirflowStack,
        workspace: WorkspaceEmulator,
        personium: PersoniumEmulator,
        downloads: Path,
    ) -> None:
        self.stack = stack
        self.workspace = workspace
        self.personium = personium
        self.downloads = downloads
        self.made: dict[str, list[tuple[str, bytes]]] = {"workspace": [], "personium": []}

    def appear(self, round_no: int) -> None:
        """One new export in each emulator, made outside the API (no start call)."""
        export: Export = self.workspace.console_export("users", ready_after=1.0)
        self.made["workspace"].append((export.export_id, export.content))
        name = f"nightly_{round_no}"
        self.made["personium"].append((name, self.personium.appear_snapshot(name)))

    def round_done(self, count: int) -> bool:
        return all(_finished(self.stack, dag_id, count) for dag_id in WATCH_DAGS)

    def wait_round(self, count: int) -> None:
        _until(f"{count} finished DAG runs per asset", lambda: self.round_done(count), self.stack)

    def watchers_on(self, job_id: int) -> None:
        _until(
            f"triggerer job {job_id} to hold the six watchers",
            lambda: [t["triggerer_id"] for t in self.stack.triggers()] == [job_id] * 6,
            self.stack,
        )

    def nothing_more_fires(self, count: int) -> None:
        """Five more listings of the cell (whose earlier snapshots stay listed) start no run."""
        propfinds = _propfinds(self.personium)
        _until(
            "five more listings of the cell", lambda: _propfinds(self.personium) >= propfinds + 5, self.stack
        )
        for dag_id in WATCH_DAGS:
            runs = _runs(self.stack, dag_id)
            assert [(r["state"], r["run_type"]) for r in runs] == [("success", "asset_triggered")] * count, (
                runs
            )

    def check_downloads(self) -> None:
        """Each run was made for one event, of its own export, and downloaded exactly that file."""
        for dag_id, vendor in WATCH_DAGS.items():
            expected = dict(self.made[vendor])
            delivered = []
            for run in _runs(self.stack, dag_id):
                [payload] = _payloads(self.stack, run["id"])
                delivered.append(payload["export_id"])
                conn_type = "huawei_workspace" if vendor == "workspace" else "personium"
                assert (payload["vendor"], payload["conn_id"]) == (conn_type, f"{conn_type}_default")
                assert payload["redelivered"] is False and payload["finished_at"]
                folder = self.downloads / vendor
                if vendor == "workspace":
                    [path] = list((folder / payload["export_id"]).iterdir())
                else:
                    path = folder / payload["name"]
                    assert payload["size"] == len(expected[payload["export_id"]])
                assert _sha256(path.read_bytes()) == _sha256(expected[payload["export_id"]]), (dag_id, run)
            assert delivered == [export_id for export_id, _ in self.made[vendor]], (dag_id, delivered)

    def listing_rate(
        self, label: str, since: tuple[int, float], until: tuple[int, float] | None = None
    ) -> None:
        """Five watchers, one account: about one listing per interval from ``since`` to ``until``
        (marks; ``until`` defaults to now)."""
        count0, t0 = since
        count1, t1 = until or self.mark()
        per_interval = (count1 - count0) / ((t1 - t0) / INTERVAL)
        print(
            f"Workspace listings {label}: {count1 - count0} in {t1 - t0:.1f} s "
            f"= {per_interval:.2f} per {INTERVAL} s interval"
        )
        # One shared listing per interval is at most 1 (plus one at a window's edge); five
        # separate ones would be about 5. A loaded machine runs the triggerer's loop late, so
        # fewer is fine, but it must be listing.
        assert per_interval >= 0.3 and count1 - count0 <= (t1 - t0) / INTERVAL + 1, (label, count1 - count0)

    def mark(self) -> tuple[int, float]:
        return len(_listings(self.workspace)), time.monotonic()


@pytest.mark.timeout(900)
def test_watched_exports_each_run_their_dag_once_across_triggerer_kills(
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
    # PostgreSQL, so that a second triggerer can join later (SQLite allows one).
    stack = airflow_stack(
        dags,
        database="postgres",
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
    run = Scenario(stack, workspace, personium, downloads)
    # Six watchers (five on the Workspace account, one on the cell), and both accounts listed.
    _until("the six watcher triggers", lambda: len(stack.triggers()) == 6, stack)
    _until("the first listings", lambda: len(_listings(workspace)) >= 2 and _propfinds(personium) >= 2, stack)
    first_listings = run.mark()

    # ---- one triggerer: 3 exports per vendor, SIGKILL and restart before the third -------------
    for round_no in (1, 2):
        run.appear(round_no)
        run.wait_round(round_no)
    before_kill = run.mark()
    dead_job = _kill(stack, 0)
    run.appear(3)  # while no triggerer runs
    new_job = stack.restart_triggerer(0).job_id
    assert new_job is not None and new_job != dead_job
    run.watchers_on(new_job)
    taken_over = run.mark()
    run.wait_round(3)
    run.nothing_more_fires(3)
    run.check_downloads()
    run.listing_rate("before the kill", first_listings, before_kill)
    run.listing_rate("after the restart", taken_over)

    # Workspace marked each downloaded task, so its watcher's record is empty again; the cell's
    # snapshots stay listed, each recorded as delivered and acknowledged by its download task.
    assert all(workspace.exports[task_id].extra.get("downloaded") for task_id, _ in run.made["workspace"])
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

    # ---- two triggerers: the one holding the watchers dies, the other takes them over ----------
    second = stack.start_triggerer(1).job_id
    assert second is not None
    assert [t["triggerer_id"] for t in stack.triggers()] == [new_job] * 6  # Airflow keeps them there
    _kill(stack, 0)
    run.appear(4)  # while the survivor has not noticed yet
    run.watchers_on(second)  # after [triggerer] triggerer_health_check_threshold (10 s here)
    on_survivor = run.mark()
    run.wait_round(4)
    run.nothing_more_fires(4)
    run.check_downloads()
    run.listing_rate("on the surviving triggerer", on_survivor)
    survivor_log = stack.triggerer(1).log_path.read_text(errors="replace")
    assert "Export watcher on connection 'personium_default': export 'nightly_4'" in survivor_log
    assert "export 'nightly_3'" not in survivor_log  # delivered by the first triggerer, not again

    # No credential in the events or the trigger rows.
    secrets = workspace.secrets() | personium.secrets()
    rows = stack.query("SELECT kwargs FROM trigger") + stack.query("SELECT extra FROM asset_event")
    text = json.dumps(rows, default=str)
    assert not [s for s in secrets if s and s in text]
