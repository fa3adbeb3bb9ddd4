"""Emulator helpers for waits on a real Airflow stack: hold exports, release them, count polls."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from airflow_provider_exports.testing.emulator import Emulator, Step

#: Where the OCC emulator serves an export's status.
STATUS_PATH = "/ccadmin/v1/exportProcess/"
#: What the two HTTP clients send: requests (workers) and aiohttp (the triggerer).
WORKER_AGENT = "python-requests"
TRIGGERER_AGENT = "aiohttp"


def hold_exports(emulator: Emulator, export_ids: Iterable[str]) -> None:
    """Register exports that stay ``processing`` until :func:`release_exports` (the last step sticks)."""
    for export_id in export_ids:
        emulator.add_export(export_id, Step("pending"), Step("processing", 10))


def release_exports(emulator: Emulator, export_ids: Iterable[str]) -> None:
    """Let each export finish: its next poll sees 90 %, the one after that ``succeeded``."""
    with emulator.lock:
        for export_id in export_ids:
            export = emulator.exports[export_id]
            served = [export.script[min(i, len(export.script) - 1)] for i in range(export.polls)]
            export.script = [*served, Step("processing", 90), Step("succeeded", 100)]


def polled_to_the_end(emulator: Emulator, export_id: str) -> bool:
    """Whether the export's last scripted state (its terminal one) has been served to a poll."""
    with emulator.lock:
        export = emulator.exports[export_id]
        return export.polls >= len(export.script)


def polls_by_agent(emulator: Emulator, export_ids: Iterable[str]) -> dict[str, Counter[str]]:
    """Status polls per export, split by client (``worker`` = requests, ``triggerer`` = aiohttp)."""
    wanted = set(export_ids)
    counts: dict[str, Counter[str]] = {"worker": Counter(), "triggerer": Counter(), "other": Counter()}
    with emulator.lock:
        records = list(emulator.requests)
    for record in records:
        if not record.path.startswith(STATUS_PATH):
            continue
        export_id = record.path[len(STATUS_PATH) :]
        if export_id not in wanted:
            continue
        agent = record.headers.get("User-Agent", "")
        kind = "worker" if WORKER_AGENT in agent else "triggerer" if TRIGGERER_AGENT in agent else "other"
        counts[kind][export_id] += 1
    return counts
