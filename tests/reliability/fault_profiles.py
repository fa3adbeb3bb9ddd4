"""What the fault matrix needs to know about each vendor's emulator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_exports.testing.emulator import Emulator, Export, Step, make_zip


@dataclass(frozen=True)
class Profile:
    """A vendor as the matrix drives it.

    ``register`` makes an export that goes through ``steps`` (one per status poll) and, when
    finished, serves ``content``; ``status_marker``/``file_marker`` are substrings of that
    export's status and download requests, so faults hit only that export.
    """

    conn_type: str
    running: tuple[str | Step, ...]
    succeeded: str | Step
    failed: Step
    register: Callable[[Emulator, str, list[str | Step], bytes], Export]
    status_marker: Callable[[str], str]
    file_marker: Callable[[str], str] | None
    hook_params: dict[str, Any] = field(default_factory=dict)
    #: Ids for the path-safety row (vendors whose ids travel in the query may skip some).
    odd_ids: tuple[str, ...] = ("a/../b", "%2F", "with space", "ünïcode", "..")


def _occ_register(emulator: Emulator, export_id: str, steps: list[str | Step], content: bytes) -> Export:
    return emulator.add_export(export_id, *steps, content=content, file_name="export.zip")


PROFILES: dict[str, Profile] = {
    "oracle_commerce": Profile(
        conn_type="oracle_commerce",
        running=("pending", Step("processing", 40)),
        succeeded=Step("succeeded", 100),
        failed=Step("failed", message="Profile repository unavailable", code="EXPORT_IO"),
        register=_occ_register,
        status_marker=lambda export_id: f"/ccadmin/v1/exportProcess/{export_id}",
        file_marker=lambda export_id: f"/file/export/{export_id}/",
    ),
}


def sample_zip(tag: str) -> bytes:
    """A valid export archive, distinct per row."""
    return make_zip({"content.json": f'{{"row": "{tag}"}}', "data.csv": f"id,row\n1,{tag}\n" * 2000})
