"""How often a wait logs its progress: state changes at once, progress alone at most every 30 s."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_exports.status import ExportState, ExportStatus
from airflow_provider_exports.triggers import export_status as module
from airflow_provider_exports.triggers.export_status import ProgressLog


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, *args: Any) -> None:
        self.lines.append(msg % args)


def status(vendor_state: str, progress: int | None, state: ExportState = ExportState.RUNNING) -> ExportStatus:
    return ExportStatus(export_id="e1", vendor_state=vendor_state, state=state, progress=progress)


def test_progress_lines_are_throttled_but_state_changes_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    out = Lines()
    log = ProgressLog(out)

    def poll(at: float, st: ExportStatus) -> None:
        now[0] = 1000.0 + at
        log(st)

    poll(0, status("pending", None, ExportState.PENDING))  # first: logged
    poll(5, status("processing", 10))  # state change: logged
    poll(10, status("processing", 20))  # progress only, 5 s later: not logged
    poll(15, status("processing", 30))  # not logged
    poll(36, status("processing", 40))  # progress only, 31 s after the last line: logged
    poll(41, status("processing", 40))  # unchanged: not logged
    poll(97, status("processing", 40))  # unchanged, 61 s after the last line: heartbeat
    poll(98, status("succeeded", 100, ExportState.SUCCEEDED))  # terminal: logged
    assert [line.split(", ", 1)[1] for line in out.lines] == [
        "vendor state 'pending'",
        "vendor state 'processing', progress 10%",
        "vendor state 'processing', progress 40%",
        "vendor state 'processing', progress 40%",
        "vendor state 'succeeded', progress 100%",
    ]
