"""The status model: state maps, overrides, progress and time parsing."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_exports import status as st
from airflow_provider_exports.hooks.huawei.dataarts import HUAWEI_DATAARTS_STATES
from airflow_provider_exports.hooks.huawei.workspace import HUAWEI_WORKSPACE_STATES
from airflow_provider_exports.hooks.informatica import INFORMATICA_STATES
from airflow_provider_exports.hooks.oracle_commerce import ORACLE_COMMERCE_STATES
from airflow_provider_exports.hooks.personium import PERSONIUM_STATES
from airflow_provider_exports.status import (
    ExportState,
    ExportStatus,
    map_state,
    parse_progress,
    with_overrides,
)


@pytest.mark.parametrize(
    ("state_map", "terminal", "running"),
    [
        (
            ORACLE_COMMERCE_STATES,
            {"succeeded", "failed", "aborted"},
            {"pending", "processing", "paused", "blocked"},
        ),
        # QUEUED: third-party client code; NOT_STARTED: the v3 import pages (docs/informatica_iics.md).
        (INFORMATICA_STATES, {"SUCCESSFUL", "FAILED"}, {"QUEUED", "NOT_STARTED", "IN_PROGRESS"}),
        (HUAWEI_DATAARTS_STATES, {"success", "fail"}, {"importing"}),
        (HUAWEI_WORKSPACE_STATES, {"SUCCESS", "FAIL", "EXPIRED"}, {"CREATING"}),
        (
            PERSONIUM_STATES,
            # __export has no failure state: a failed export is 'ready' + {Name}.error.
            {"import failed"},
            {"importation in progress", "exportation in progress"},
        ),
    ],
)
def test_every_documented_state_is_mapped(state_map, terminal, running) -> None:
    assert set(state_map) == terminal | running
    for name in terminal:
        assert state_map[name] in st.TERMINAL_STATES
    for name in running:
        assert state_map[name] not in st.TERMINAL_STATES


def test_unknown_state_is_not_terminal_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert map_state("Vendor X", "weird-state-1", ORACLE_COMMERCE_STATES) is None
        assert map_state("Vendor X", "weird-state-1", ORACLE_COMMERCE_STATES) is None
    warnings = [r for r in caplog.records if "weird-state-1" in r.getMessage()]
    assert len(warnings) == 1
    assert not ExportStatus("e", "weird-state-1", None).is_terminal


def test_overrides_win_over_the_map() -> None:
    paused = ExportStatus("e", "paused", ExportState.PAUSED)
    assert with_overrides(paused, failure_states=["paused"]).state is ExportState.FAILED
    unknown = ExportStatus("e", "done-ish", None)
    assert with_overrides(unknown, success_states=["done-ish"]).is_success
    assert with_overrides(unknown).state is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("81%", 81),
        ("30", 30),
        (55, 55),
        (99.9, 99),
        ("0%", 0),
        (" 12 % ", 12),
        ("150%", 100),
        (None, None),
        ("", None),
        ("abc", None),
        (True, None),
        ("-5%", None),
    ],
)
def test_parse_progress(value: object, expected: int | None) -> None:
    assert parse_progress(value) == expected


def test_parse_time_accepts_vendor_formats() -> None:
    assert st.parse_time("2016-04-04T20:25:01.982Z").year == 2016  # type: ignore[union-attr]
    assert st.parse_time("2022-03-28'T'00:00:00.000Z").month == 3  # type: ignore[union-attr]
    assert st.parse_time(1469782227619).year == 2016  # type: ignore[union-attr]
    assert st.parse_time("not a date") is None
    assert st.parse_time(None) is None


def test_event_has_no_raw_body() -> None:
    status = ExportStatus("e", "succeeded", ExportState.SUCCEEDED, progress=100, raw={"token": "secret"})
    assert "raw" not in status.to_event()
    assert "secret" not in str(status.to_event())
