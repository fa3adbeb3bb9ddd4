"""What a run of a vendor's example DAG is checked for, written once for every vendor.

Every example DAG has the same four tasks: ``start_export``, ``wait_for_export`` (a deferrable
sensor), ``download_export`` and ``fetch_export_log`` (which runs whatever the sensor ended with).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from airflow_provider_exports.testing.emulator import Emulator, Export

TASKS = ("start_export", "wait_for_export", "download_export", "fetch_export_log")


def only_export(emulator: Emulator, *, besides: str | None = None) -> Export:
    """The one export the run started; ``besides`` is the id prefix of exports the test seeded."""
    started = [e for e in emulator.exports.values() if not (besides and e.export_id.startswith(besides))]
    assert len(started) == 1, "the DAG must start exactly one export"
    return started[0]


def assert_exported(
    result: Any,
    emulator: Emulator,
    *,
    vendor_state: str,
    log_has: Iterable[str] = (),
    besides: str | None = None,
) -> Export:
    """The happy path: every task succeeded and the sensor deferred; the run started one export
    (:func:`only_export`) and the sensor's return value is its success in ``vendor_state``; the
    downloaded file is the emulator's content, with no partial file left beside it; the log task's
    text holds each of ``log_has``.

    Returns the export.
    """
    assert result.state == "success", result.output[-4000:]
    assert result.tasks == dict.fromkeys(TASKS, "success")
    assert "deferred" in result.transitions["wait_for_export"], result.transitions
    export = only_export(emulator, besides=besides)
    final = result.return_value("wait_for_export")
    assert final["status"] == "success" and final["vendor_state"] == vendor_state
    assert final["export_id"] == export.export_id

    downloaded = Path(result.return_value("download_export"))
    assert downloaded.read_bytes() == export.content
    assert not [p for p in downloaded.parent.iterdir() if p.name.endswith(".part")]
    log_text = result.return_value("fetch_export_log")
    for text in log_has:
        assert text in log_text
    return export


def assert_failed_by_vendor(
    result: Any, emulator: Emulator, *, vendor_state: str, besides: str | None = None
) -> Export:
    """The vendor ended the one export the run started in ``vendor_state``, not a success: the
    sensor failed and said so, the download never ran, the log task still did.

    Returns the export.
    """
    assert result.state == "failed"
    assert result.tasks["wait_for_export"] == "failed"
    assert result.tasks["download_export"] == "upstream_failed"
    assert result.tasks["fetch_export_log"] == "success"
    export = only_export(emulator, besides=besides)
    assert f"Export {export.export_id!r} did not succeed, vendor state '{vendor_state}'" in result.output
    return export
