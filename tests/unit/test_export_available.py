"""The watcher's pure parts: which exports a listing delivers (new, again after
``redeliver_after`` unless acknowledged), the stored record, and the two vendors' listing parsers
fed with their documented answers (shared/seeds/004; the Personium 505 page's sample)."""

from __future__ import annotations

import datetime
import re

import pytest

from airflow_provider_exports.available import AvailableExport, Deliveries, matches
from airflow_provider_exports.errors import ExportConfigError
from airflow_provider_exports.hooks.huawei.workspace import parse_available
from airflow_provider_exports.hooks.personium import parse_snapshot_listing
from airflow_provider_exports.triggers.export_available import (
    ACK_PREFIX,
    ExportAvailableTrigger,
    acknowledge_download,
    export_events,
    safe_file_name,
)

A = AvailableExport("a", "a.zip", 10, version="v1")
B = AvailableExport("b", "b.zip", 20, version="v1")


def test_a_listing_delivers_each_export_once() -> None:
    record = Deliveries()
    new, again = record.due([A, B, A], now=100.0, redeliver_after=None)
    assert (new, again) == ([A, B], [])
    for export in new:
        record.mark(export, 100.0)
    assert record.due([A, B], now=10_000.0, redeliver_after=None) == ([], [])


def test_an_export_made_again_under_the_same_name_is_new() -> None:
    record = Deliveries()
    record.mark(A, 1.0)
    remade = AvailableExport("a", "a.zip", 10, version="v2")
    assert record.due([remade], now=2.0, redeliver_after=None) == ([remade], [])


def test_an_unacknowledged_export_is_delivered_again_after_redeliver_after_only() -> None:
    record = Deliveries()
    record.mark(A, 100.0)
    assert record.due([A], now=159.9, redeliver_after=60.0) == ([], [])
    assert record.due([A], now=160.0, redeliver_after=60.0) == ([], [A])
    record.acknowledged.add(A.key)
    assert record.due([A], now=1_000.0, redeliver_after=60.0) == ([], [])


def test_exports_that_leave_the_listing_are_forgotten_with_their_acknowledgement() -> None:
    record = Deliveries()
    record.mark(A, 1.0)
    record.mark(B, 1.0)
    record.acknowledged.add(A.key)
    assert record.forget_unlisted([B]) == [A.key]
    assert set(record.delivered) == {B.key} and record.acknowledged == set()


def test_the_record_survives_a_round_trip_through_json_and_rejects_foreign_values() -> None:
    record = Deliveries(delivered={A.key: 5.0}, acknowledged={A.key}, started=True)
    assert Deliveries.from_json(record.to_json()) == record
    for foreign in (None, "x", {"version": 99, "delivered": {A.key: 1.0}}, {"delivered": {}}):
        assert Deliveries.from_json(foreign) == Deliveries()
    assert Deliveries.from_json({"version": 1, "delivered": {"k": True, "j": 2}}).delivered == {"j": 2.0}


def test_delivery_keys_differ_by_id_and_version_and_hold_no_name() -> None:
    keys = {A.key, B.key, AvailableExport("a", "a.zip", version="v2").key}
    assert len(keys) == 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", key) for key in keys)


def test_available_export_json_round_trip() -> None:
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    export = AvailableExport("t-1", "users.xlsx", None, moment, "")
    assert AvailableExport.from_json(export.to_json()) == export


def test_name_pattern_matches_the_whole_file_name() -> None:
    assert matches(A, None)
    assert matches(A, re.compile(r"a\.zip"))
    assert not matches(A, re.compile(r"a"))


# ---- Workspace: GET /v2/{project_id}/export-tasks items (shared/seeds/004) ----------------------


def _item(**overrides: object) -> dict[str, object]:
    item: dict[str, object] = {
        "task_id": "string",
        "file_name": "string",
        "status": "SUCCESS",
        "fail_reason": "string",
        "error_code": "string",
        "create_time": "2022-03-28'T'00:00:00.000Z",
        "end_time": "2022-03-28'T'00:00:00.000Z",
        "is_download": False,
    }
    item.update(overrides)
    return item


def test_workspace_lists_finished_tasks_not_downloaded_yet() -> None:
    export = parse_available(_item())
    assert export is not None
    assert (export.export_id, export.name, export.size) == ("string", "string", None)
    assert export.finished_at == datetime.datetime(2022, 3, 28, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize(
    "overrides",
    [
        {"status": "CREATING"},
        {"status": "FAIL"},
        {"status": "EXPIRED"},
        {"is_download": True},
        {"task_id": ""},
    ],
)
def test_workspace_leaves_out_what_a_server_ignoring_the_filters_sends(overrides: dict[str, object]) -> None:
    assert parse_available(_item(**overrides)) is None


# ---- Personium: PROPFIND {CellURL}__snapshot, Depth 1 (505 page sample, one file per response) --

LISTING = b"""<multistatus xmlns="DAV:">
  <response><href>https://unit.example/cell1/__snapshot</href><propstat><prop>
    <creationdate>2017-02-15T01:52:34.635+0000</creationdate>
    <getlastmodified>Wed, 15 Feb 2017 01:52:34 GMT</getlastmodified>
    <resourcetype><collection/></resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat></response>
  <response><href>https://unit.example/cell1/__snapshot/CellExport_2017_01.zip</href><propstat><prop>
    <creationdate>2017-02-15T01:52:34.635+0000</creationdate>
    <getcontentlength>2000000</getcontentlength>
    <getcontenttype>application/zip</getcontenttype>
    <getlastmodified>Wed, 15 Feb 2017 01:52:34 GMT</getlastmodified>
    <resourcetype/><acl xmlns:p="urn:x-personium:xmlns"/></prop>
    <status>HTTP/1.1 200 OK</status></propstat></response>
  <response><href>https://unit.example/cell1/__snapshot/broken.error</href><propstat><prop>
    <creationdate>2017-02-15T01:52:34.635+0000</creationdate>
    <getcontentlength>90</getcontentlength>
    <getlastmodified>Wed, 15 Feb 2017 01:52:34 GMT</getlastmodified>
    <resourcetype/></prop><status>HTTP/1.1 200 OK</status></propstat></response>
  <response><href>https://unit.example/cell1/__snapshot/writing.zip</href><propstat><prop>
    <creationdate>2017-02-16T01:00:00.000+0000</creationdate>
    <getcontentlength>0</getcontentlength>
    <getlastmodified>Thu, 16 Feb 2017 01:00:00 GMT</getlastmodified>
    <resourcetype/></prop><status>HTTP/1.1 200 OK</status></propstat></response>
  <response><href>https://unit.example/cell1/__snapshot/running_now.zip</href><propstat><prop>
    <creationdate>2017-02-16T01:00:00.000+0000</creationdate>
    <getcontentlength>512</getcontentlength>
    <getlastmodified>Thu, 16 Feb 2017 01:00:09 GMT</getlastmodified>
    <resourcetype/></prop><status>HTTP/1.1 200 OK</status></propstat></response>
</multistatus>"""


def test_personium_lists_finished_snapshots_only() -> None:
    [export] = parse_snapshot_listing(LISTING, running="running_now")
    assert (export.export_id, export.name, export.size) == (
        "CellExport_2017_01",
        "CellExport_2017_01.zip",
        2000000,
    )
    assert export.finished_at == datetime.datetime(2017, 2, 15, 1, 52, 34, tzinfo=datetime.timezone.utc)
    assert "Wed, 15 Feb 2017 01:52:34 GMT" in export.version


def test_personium_lists_a_snapshot_once_its_export_is_no_longer_running() -> None:
    names = [e.export_id for e in parse_snapshot_listing(LISTING)]
    assert names == ["CellExport_2017_01", "running_now"]


# ---- the trigger's arguments and the download side's helper --------------------------------------


def test_trigger_refuses_bad_arguments_when_the_dag_is_parsed() -> None:
    with pytest.raises(ExportConfigError, match="regular expression"):
        ExportAvailableTrigger(conn_id="c", name_pattern="(")
    with pytest.raises(ExportConfigError, match="poll_interval"):
        ExportAvailableTrigger(conn_id="c", poll_interval=0)


def test_watchers_differing_only_in_name_pattern_share_one_listing() -> None:
    one = ExportAvailableTrigger(conn_id="ws", poll_interval=5, name_pattern="users_.*")
    other = ExportAvailableTrigger(conn_id="ws", poll_interval=5, name_pattern="desktops_.*")
    assert one.shared_stream_key() == other.shared_stream_key()
    assert one.state_key != other.state_key
    for different in (
        ExportAvailableTrigger(conn_id="ws2", poll_interval=5),
        ExportAvailableTrigger(conn_id="ws", poll_interval=6),
        ExportAvailableTrigger(conn_id="ws", poll_interval=5, file_name="x.xlsx"),
    ):
        assert different.shared_stream_key() != one.shared_stream_key()


def test_trigger_kwargs_round_trip_and_hold_no_secret() -> None:
    trigger = ExportAvailableTrigger(conn_id="ws", poll_interval=5, hook_params={"retry": {"attempts": 2}})
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_exports.triggers.export_available.ExportAvailableTrigger"
    assert ExportAvailableTrigger(**kwargs).serialize() == (path, kwargs)
    assert set(kwargs) == {
        "conn_id",
        "poll_interval",
        "name_pattern",
        "file_name",
        "redeliver_after",
        "ignore_existing",
        "recheck_after",
        "hook_params",
    }


class _Event:
    def __init__(self, extra: object) -> None:
        self.extra = extra


def test_export_events_reads_each_export_once_from_triggering_events() -> None:
    one = {"export_id": "a", "delivery_key": "k1"}
    two = {"export_id": "b", "delivery_key": "k2"}
    events = {
        "asset1": [_Event({"from_trigger": True, "payload": one}), _Event({"payload": one})],
        "asset2": [_Event({"payload": two}), _Event({}), _Event(None), _Event({"payload": {"x": 1}})],
    }
    assert export_events(events) == [one, two]
    assert export_events(None) == []


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"name": "users_20261201.xlsx"}, "users_20261201.xlsx"),
        ({"name": "../../etc/passwd"}, "passwd"),
        ({"name": "..\\evil name.zip"}, "_evil_name.zip"),
        ({"name": ".hidden"}, "hidden"),
        ({"name": "", "export_id": "t-1"}, "t-1"),
        ({"name": "..."}, "export"),
    ],
)
def test_safe_file_name_is_one_plain_path_segment(payload: dict[str, str], expected: str) -> None:
    assert safe_file_name(payload) == expected


class _Store:
    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def set(self, key: str, value: object) -> None:
        self.values[key] = value


class _Stores:
    def __init__(self, inlets: dict[str, _Store]) -> None:
        self.inlets = inlets

    def __getitem__(self, asset: str) -> _Store:
        return self.inlets[asset]


class _Task:
    def __init__(self, export_id: str) -> None:
        self.export_id = export_id


def test_acknowledge_download_records_only_the_task_s_own_export_of_vendors_that_mark_nothing() -> None:
    snapshots, other = _Store(), _Store()
    events = {
        "snapshots": [
            _Event({"payload": {"vendor": "personium", "export_id": "nightly_1", "delivery_key": "k1"}}),
            _Event({"payload": {"vendor": "personium", "export_id": "nightly_2", "delivery_key": "k2"}}),
        ],
        "workspace": [
            _Event({"payload": {"vendor": "huawei_workspace", "export_id": "nightly_1", "delivery_key": "w"}})
        ],
        "not_an_inlet": [
            _Event({"payload": {"vendor": "personium", "export_id": "nightly_1", "delivery_key": "k3"}})
        ],
    }
    context = {
        "task": _Task("nightly_1"),
        "triggering_asset_events": events,
        "asset_state_store": _Stores({"snapshots": snapshots, "workspace": other}),
    }
    acknowledge_download(context)
    assert list(snapshots.values) == [ACK_PREFIX + "k1"]
    assert other.values == {}  # Workspace drops a downloaded task from its listing itself
