"""Watching for finished exports over loopback: the Workspace and Personium listing operations
(both runners), and ExportAvailableTrigger run as the triggerer runs a watcher (one event loop,
the async generator) against the emulators.

The trigger's delivery record is kept in ``MemoryStore``, a stand-in with the asset state
store's async API (the real store needs a triggerer's supervisor; tests/stack uses it).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from wire_support import RUNNERS, wire_hook

from airflow_provider_exports.available import AvailableExport
from airflow_provider_exports.hooks.base import ExportHook
from airflow_provider_exports.testing import Fault
from airflow_provider_exports.testing.huawei import WorkspaceEmulator
from airflow_provider_exports.testing.personium import PersoniumEmulator
from airflow_provider_exports.transport.aio import pooled_session
from airflow_provider_exports.triggers.export_available import ACK_PREFIX, ExportAvailableTrigger

FAST_RETRY = {"attempts": 3, "backoff": 0.01, "backoff_max": 0.05}


def _listed(hook: ExportHook, runner: str, **filters: Any) -> list[AvailableExport]:
    op = hook.available_op(**filters)  # type: ignore[attr-defined]
    if runner == "requests":
        result: list[AvailableExport] = hook.sync_transport().run(op)
        return result

    async def _run() -> list[AvailableExport]:
        async with pooled_session():
            transport = await hook.async_transport()
            found: list[AvailableExport] = await transport.run(op)
            return found

    return asyncio.run(_run())


# ---- listing operations ------------------------------------------------------------------------


@RUNNERS
def test_workspace_lists_finished_tasks_not_downloaded_over_several_pages(
    workspace_emulator: WorkspaceEmulator, runner: str
) -> None:
    finished = [workspace_emulator.console_export("users") for _ in range(130)]
    workspace_emulator.console_export("users", ready_after=60)  # still CREATING
    workspace_emulator.add_export("failed-1", "FAIL")
    hook = wire_hook(workspace_emulator, "ws_list")
    hook.download(finished[0].export_id, io.BytesIO())
    listed = _listed(hook, runner)
    assert [e.export_id for e in listed] == [e.export_id for e in finished[1:]]
    assert all(e.finished_at is not None and e.size is None for e in listed)
    path = f"/v2/{workspace_emulator.project_id}/export-tasks"
    pages = [
        r.raw_path for r in workspace_emulator.requests if r.path == path and "is_download" in r.raw_path
    ]
    assert len(pages) == 2 and all("status=SUCCESS" in p and "is_download=false" in p for p in pages)
    one = finished[7]
    assert [e.export_id for e in _listed(hook, runner, file_name=one.file_name)] == [one.export_id]


@RUNNERS
def test_workspace_listing_checks_the_items_of_a_server_that_ignores_the_filters(
    make_emulator: Callable[..., Any], runner: str
) -> None:
    emulator: WorkspaceEmulator = make_emulator("huawei_workspace", ignore_filters=True)
    ready = emulator.console_export("users")
    emulator.console_export("users", ready_after=60)
    emulator.add_export("failed-1", "FAIL")
    assert [e.export_id for e in _listed(wire_hook(emulator, "ws_nofilter"), runner)] == [ready.export_id]


@RUNNERS
def test_personium_lists_snapshots_but_not_the_one_being_written_nor_error_files(
    personium_emulator: PersoniumEmulator, runner: str
) -> None:
    data = personium_emulator.appear_snapshot("nightly_1")
    personium_emulator.snapshots["broken.error"] = b'{"code": "PR500-SV-0000"}'
    # An export running now: its {Name}.zip is in the area while it is written.
    personium_emulator.begin_export("running_1", "exportation in progress")
    personium_emulator.snapshots["running_1.zip"] = b"partial"
    hook = wire_hook(personium_emulator, "pers_list")
    [export] = _listed(hook, runner)
    assert (export.export_id, export.name, export.size) == ("nightly_1", "nightly_1.zip", len(data))
    assert export.finished_at is not None and abs(export.finished_at.timestamp() - time.time()) < 60
    # While that export runs, the listed snapshot still downloads (the cell runs one at a time).
    if runner == "requests":
        sink = io.BytesIO()
        hook.download("nightly_1", sink)
        assert sink.getvalue() == data


# ---- the trigger -------------------------------------------------------------------------------


class MemoryStore:
    """The single-asset async API of Airflow's asset state store, in memory (values go through
    JSON, as they do to the metadata DB)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.dumps(value)

    async def adelete(self, key: str) -> None:
        self.values.pop(key, None)


class Watch:
    """A trigger's ``run()`` in a task of the current loop, collecting event payloads."""

    def __init__(self, trigger: ExportAvailableTrigger, store: MemoryStore | None) -> None:
        trigger.asset_state_store = store  # type: ignore[assignment]
        self.trigger = trigger
        self.events: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async for event in self.trigger.run():
            self.events.append(event.payload)

    async def __aenter__(self) -> Watch:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        if self._task.done():
            self._task.result()  # a watcher never ends by itself: surface why it did
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def until(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _watcher(conn_id: str, **kw: Any) -> ExportAvailableTrigger:
    kw.setdefault("poll_interval", 0.1)
    kw.setdefault("hook_params", {"retry": FAST_RETRY})
    return ExportAvailableTrigger(conn_id=conn_id, **kw)


def _listing_count(emulator: WorkspaceEmulator) -> int:
    path = f"/v2/{emulator.project_id}/export-tasks"
    return sum(1 for r in list(emulator.requests) if r.path == path and "status=SUCCESS" in r.raw_path)


def _propfinds(emulator: PersoniumEmulator) -> int:
    return sum(
        1 for r in list(emulator.requests) if r.method == "PROPFIND" and r.path.endswith("/__snapshot")
    )


def test_workspace_watcher_fires_once_per_export_and_a_new_watcher_goes_on_from_the_record(
    workspace_emulator: WorkspaceEmulator, export_conn: Any
) -> None:
    conn_id = export_conn(workspace_emulator)
    store = MemoryStore()

    async def _go() -> None:
        first = workspace_emulator.console_export("users", ready_after=0.3)
        async with Watch(_watcher(conn_id), store) as watch:
            await until("one event", lambda: len(watch.events) == 1)
            seen = _listing_count(workspace_emulator)
            await until("three more listings", lambda: _listing_count(workspace_emulator) >= seen + 3)
            second = workspace_emulator.console_export("desktops")
            await until("two events", lambda: len(watch.events) == 2)
        assert [e["export_id"] for e in watch.events] == [first.export_id, second.export_id]
        event = watch.events[0]
        assert event["vendor"] == "huawei_workspace" and event["conn_id"] == conn_id
        assert event["name"] == first.file_name and event["size"] is None and event["finished_at"]
        assert event["redelivered"] is False
        # Not downloaded yet, so still listed: a new watcher (a restarted triggerer) with the
        # stored record delivers nothing again.
        async with Watch(_watcher(conn_id), store) as again:
            seen = _listing_count(workspace_emulator)
            await until("five listings", lambda: _listing_count(workspace_emulator) >= seen + 5)
            assert again.events == []
        # Without a record, the same two would fire again: the record is what prevents it.
        async with Watch(_watcher(conn_id), None) as forgetful:
            await until("the two again", lambda: len(forgetful.events) == 2)

    asyncio.run(_go())
    secrets = workspace_emulator.secrets()
    stored = json.dumps(store.values)
    assert not [s for s in secrets if s in stored]


def test_a_failed_download_is_delivered_again_and_a_downloaded_export_is_forgotten(
    workspace_emulator: WorkspaceEmulator, export_conn: Any
) -> None:
    conn_id = export_conn(workspace_emulator)
    store = MemoryStore()
    task = workspace_emulator.console_export("users")
    hook = wire_hook(workspace_emulator, "ws_dl")

    async def _go() -> None:
        async with Watch(_watcher(conn_id, redeliver_after=0.5), store) as watch:
            await until("the event", lambda: len(watch.events) == 1)
            # The DAG's download is cut off: Workspace does not mark the task, it stays listed.
            cut = Fault("truncate", after_bytes=10, path_prefix="/v2/", contains="/download")
            workspace_emulator.inject(*[cut] * 10)  # more than the download's attempts
            with pytest.raises(Exception):  # noqa: B017 - any failure of the cut download
                await asyncio.to_thread(hook.download, task.export_id, io.BytesIO())
            with workspace_emulator.lock:
                workspace_emulator.faults.clear()
            await until("the redelivery", lambda: len(watch.events) == 2, timeout=10)
            assert watch.events[1]["export_id"] == task.export_id and watch.events[1]["redelivered"] is True
            # Now it downloads: no longer listed, forgotten, never delivered again.
            await asyncio.to_thread(hook.download, task.export_id, io.BytesIO())
            seen = _listing_count(workspace_emulator)
            await until(
                "listings past redeliver_after", lambda: _listing_count(workspace_emulator) >= seen + 10
            )
            assert len(watch.events) == 2
        [record] = [json.loads(v) for k, v in store.values.items() if not k.startswith(ACK_PREFIX)]
        assert record["delivered"] == {}

    asyncio.run(_go())


def test_personium_watcher_dedupes_by_name_and_modification_and_honours_acknowledgements(
    personium_emulator: PersoniumEmulator, export_conn: Any
) -> None:
    conn_id = export_conn(personium_emulator)
    store = MemoryStore()
    personium_emulator.appear_snapshot("other_backup")  # does not match the pattern

    async def _go() -> None:
        trigger = _watcher(conn_id, name_pattern=r"nightly_\d+\.zip", redeliver_after=0.5)
        async with Watch(trigger, store) as watch:
            personium_emulator.appear_snapshot("nightly_1")
            personium_emulator.appear_snapshot("nightly_2")
            await until("two events", lambda: len(watch.events) == 2)
            assert {e["export_id"] for e in watch.events} == {"nightly_1", "nightly_2"}
            sizes = {name: len(data) for name, data in personium_emulator.snapshots.items()}
            for event in watch.events:
                assert event["vendor"] == "personium" and event["size"] == sizes[event["name"]]
            # The download of nightly_1 is acknowledged (what acknowledge_download writes).
            key = next(e["delivery_key"] for e in watch.events if e["export_id"] == "nightly_1")
            await store.aset(ACK_PREFIX + key, time.time())
            await until("nightly_2 again", lambda: len(watch.events) == 3, timeout=10)
            assert watch.events[2]["export_id"] == "nightly_2" and watch.events[2]["redelivered"]
            seen = _propfinds(personium_emulator)
            await until("listings", lambda: _propfinds(personium_emulator) >= seen + 8)
            assert [e["export_id"] for e in watch.events].count("nightly_1") == 1
            # Deleted and made again under the same name: a new snapshot, a new event.
            await asyncio.sleep(1.1)  # getlastmodified has whole seconds
            personium_emulator.appear_snapshot("nightly_1")
            await until(
                "the new nightly_1", lambda: [e["export_id"] for e in watch.events].count("nightly_1") == 2
            )

    asyncio.run(_go())


def test_ignore_existing_delivers_only_exports_that_appear_later(
    personium_emulator: PersoniumEmulator, export_conn: Any
) -> None:
    conn_id = export_conn(personium_emulator)
    personium_emulator.appear_snapshot("old_1")
    personium_emulator.appear_snapshot("old_2")

    async def _go() -> list[dict[str, Any]]:
        async with Watch(_watcher(conn_id, ignore_existing=True), MemoryStore()) as watch:
            seen = _propfinds(personium_emulator)
            await until("a listing", lambda: _propfinds(personium_emulator) >= seen + 2)
            personium_emulator.appear_snapshot("new_1")
            await until("the event", lambda: len(watch.events) >= 1)
            seen = _propfinds(personium_emulator)
            await until("more listings", lambda: _propfinds(personium_emulator) >= seen + 3)
        return watch.events

    assert [e["export_id"] for e in asyncio.run(_go())] == ["new_1"]


def test_transient_faults_never_end_the_watcher(
    workspace_emulator: WorkspaceEmulator, export_conn: Any, caplog: pytest.LogCaptureFixture
) -> None:
    conn_id = export_conn(workspace_emulator)
    list_path = f"/v2/{workspace_emulator.project_id}/export-tasks"
    # More faults in a row than one listing's retries: whole listings fail, then it recovers.
    workspace_emulator.inject(
        *[Fault("status", status=503, path_prefix=list_path) for _ in range(4)],
        *[Fault("drop", path_prefix=list_path) for _ in range(4)],
        Fault("status", status=429, path_prefix=list_path, headers={"Retry-After": "0"}),
    )
    task = workspace_emulator.console_export("users")

    async def _go() -> list[dict[str, Any]]:
        async with Watch(_watcher(conn_id), MemoryStore()) as watch:
            await until("the event", lambda: len(watch.events) == 1)
        return watch.events

    with caplog.at_level(logging.WARNING, logger="airflow_provider_exports"):
        assert [e["export_id"] for e in asyncio.run(_go())] == [task.export_id]
    assert "listing failed, will list again" in caplog.text


def test_rejected_credentials_stop_listing_with_a_clear_error_and_no_secret(
    personium_emulator: PersoniumEmulator, export_conn: Any, caplog: pytest.LogCaptureFixture
) -> None:
    conn_id = export_conn(personium_emulator, password="revoked-Password-987")
    personium_emulator.appear_snapshot("nightly_1")

    async def _go() -> list[dict[str, Any]]:
        async with Watch(_watcher(conn_id, recheck_after=30), MemoryStore()) as watch:
            await until("the error", lambda: "stopped" in caplog.text)
            grants = len(personium_emulator.grants)
            await asyncio.sleep(1.0)  # ten intervals: no login storm while it waits to recheck
            assert len(personium_emulator.grants) == grants
        return watch.events

    with caplog.at_level(logging.WARNING, logger="airflow_provider_exports"):
        assert asyncio.run(_go()) == []
    [line] = [r.getMessage() for r in caplog.records if "stopped" in r.getMessage()]
    assert f"Export watcher on connection {conn_id!r} stopped" in line and "PR400-AN-0017" in line
    assert "next attempt in 30 s" in line
    assert "revoked-Password-987" not in caplog.text and personium_emulator.password not in caplog.text


def test_five_watchers_of_one_account_share_one_listing_per_interval(
    workspace_emulator: WorkspaceEmulator, export_conn: Any
) -> None:
    """Through Airflow's own SharedStreamManager (as the triggerer runs them): five watchers with
    different name patterns cost one listing per interval; run on their own, five."""
    from airflow.triggers.shared_stream import SharedStreamManager

    conn_id = export_conn(workspace_emulator)
    interval = 0.2
    kinds = ("users", "desktops", "desktop_connections", "user_metrics", "desktop_metrics")
    for kind in kinds:
        workspace_emulator.console_export(kind, file_name=f"{kind}_1.xlsx")

    def _watchers() -> list[ExportAvailableTrigger]:
        return [
            _watcher(conn_id, poll_interval=interval, name_pattern=rf"{kind}_\d+\.xlsx") for kind in kinds
        ]

    async def _collect(watch: list[dict[str, Any]], events: Any) -> None:
        async for event in events:
            watch.append(event.payload)

    async def _measure(shared: bool) -> tuple[int, float, list[list[dict[str, Any]]]]:
        manager = SharedStreamManager()
        triggers = _watchers()
        seen: list[list[dict[str, Any]]] = [[] for _ in triggers]
        tasks = []
        for number, (trigger, watch) in enumerate(zip(triggers, seen, strict=True)):
            trigger.asset_state_store = MemoryStore()  # type: ignore[assignment]
            if shared:
                stream = manager.subscribe(
                    trigger_id=number, trigger=trigger, key=trigger.shared_stream_key()
                )
                events = trigger.filter_shared_stream(stream)
            else:
                events = trigger.run()
            tasks.append(asyncio.create_task(_collect(watch, events)))
        await until("each watcher's own export", lambda: all(len(w) == 1 for w in seen))
        count0, t0 = _listing_count(workspace_emulator), time.monotonic()
        await asyncio.sleep(15 * interval)
        count, elapsed = _listing_count(workspace_emulator) - count0, time.monotonic() - t0
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if shared:
            for number, trigger in enumerate(triggers):
                await manager.unsubscribe(number, trigger.shared_stream_key())
        return count, elapsed, seen

    shared_count, shared_elapsed, seen = asyncio.run(_measure(shared=True))
    assert [[e["name"] for e in watch] for watch in seen] == [[f"{kind}_1.xlsx"] for kind in kinds]
    assert shared_count <= shared_elapsed / interval + 1, (shared_count, shared_elapsed)
    alone_count, alone_elapsed = asyncio.run(_measure(shared=False))[:2]
    print(
        f"five watchers, {interval} s interval: shared {shared_count} listings in {shared_elapsed:.2f} s, "
        f"on their own {alone_count} in {alone_elapsed:.2f} s"
    )
    assert alone_count >= 3 * shared_count * alone_elapsed / shared_elapsed
