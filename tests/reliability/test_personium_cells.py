"""The Personium emulator's cells: several on one server, each with its own tokens, ``__export``
status and snapshot area (the fault matrix gives each Personium row its own cell)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from airflow.sdk import Connection

from airflow_provider_exports.hooks.personium import PersoniumHook
from airflow_provider_exports.status import ExportState
from airflow_provider_exports.testing import Step
from airflow_provider_exports.testing.personium import PersoniumEmulator
from airflow_provider_exports.transport import RetryPolicy

FAST = RetryPolicy(attempts=3, backoff=0.01, backoff_max=0.05)


@pytest.fixture
def unit() -> Iterator[PersoniumEmulator]:
    emulator = PersoniumEmulator(cells=["cell-b"])
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def _hook(conn: dict[str, Any], conn_id: str) -> PersoniumHook:
    fields = dict(conn)
    extra = fields.pop("extra", None)
    connection = Connection(conn_id=conn_id, extra=json.dumps(extra) if extra else None, **fields)
    return PersoniumHook(conn_id, connection=connection, retry_policy=FAST)


def _token(unit: PersoniumEmulator, cell: str) -> str:
    resp = requests.post(
        f"{unit.cell_url_of(cell)}__token",
        data={"grant_type": "password", "username": unit.username, "password": unit.password},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


def test_exports_on_two_cells_are_independent(unit: PersoniumEmulator) -> None:
    unit.add_cell("cell-c")
    running = Step("exportation in progress", 50)
    unit.begin_export("snap_b", running, Step("ready"), cell="cell-b")
    unit.begin_export("snap_c", running, running, running, Step("ready"), cell="cell-c")
    hook_b = _hook(unit.connection(cell="cell-b"), "cells_b")
    hook_c = _hook(unit.connection(cell="cell-c"), "cells_c")

    # Each cell's __export names its own export only.
    assert hook_b.get_status("snap_b").state is ExportState.RUNNING
    assert hook_c.get_status("snap_c").state is ExportState.RUNNING
    assert hook_b.get_status("snap_b").state is ExportState.SUCCEEDED
    assert hook_c.get_status("snap_c").state is ExportState.RUNNING
    # snap_c is not cell-b's export: cell-b (ready, no such snapshot) says it has not started.
    assert hook_b.get_status("snap_c").state is ExportState.PENDING
    assert set(unit.cells["cell-b"].snapshots) == {"snap_b.zip"}
    assert unit.cells["cell-c"].snapshots == {} and unit.snapshots == {}


def test_tokens_belong_to_their_cell(unit: PersoniumEmulator) -> None:
    token = _token(unit, "cell-b")
    headers = {"Authorization": f"Bearer {token}"}

    assert requests.get(f"{unit.cell_url_of('cell-b')}__export", headers=headers, timeout=10).ok
    other = requests.get(f"{unit.cell_url}__export", headers=headers, timeout=10)
    assert other.status_code == 401 and other.json()["code"] == "PR401-AU-0002"
    assert unit.cells["cell-b"].tokens.issued == 1 and unit.tokens.issued == 0
    assert token in unit.secrets()

    unit.expire_credentials()
    expired = requests.get(f"{unit.cell_url_of('cell-b')}__export", headers=headers, timeout=10)
    assert expired.status_code == 401


def test_unknown_cell_is_not_found(unit: PersoniumEmulator) -> None:
    resp = requests.post(
        f"{unit.cell_url_of('nowhere')}__token",
        data={"grant_type": "password", "username": unit.username, "password": unit.password},
        timeout=10,
    )
    assert resp.status_code == 404
    assert "nowhere" in resp.json()["message"]["value"]


def test_cells_added_while_serving(unit: PersoniumEmulator) -> None:
    assert requests.post(f"{unit.cell_url_of('late')}__token", timeout=10).status_code == 404
    unit.add_cell("late")
    assert _token(unit, "late")
    with pytest.raises(ValueError, match="not a Personium cell name"):
        unit.add_cell("bad/name")
