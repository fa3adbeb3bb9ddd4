"""pytest fixtures: vendor emulators on loopback and connections pointing at them.

Installed as a pytest plugin with the package, so a user's DAG tests can write::

    def test_my_dag(occ_emulator, export_conn):
        conn_id = export_conn(occ_emulator)   # sets AIRFLOW_CONN_<ID> for this test
        ...
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_exports.testing import emulator_class
from airflow_provider_exports.testing.emulator import Emulator
from airflow_provider_exports.vendors import VENDORS


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Emulator]]:
    """Start an emulator for a connection type (``make_emulator("personium", token_ttl=5)``);
    every emulator started is stopped after the test."""
    started: list[Emulator] = []

    def _make(conn_type: str, **kwargs: Any) -> Emulator:
        emulator = emulator_class(conn_type)(**kwargs).start()
        started.append(emulator)
        return emulator

    yield _make
    for emulator in started:
        emulator.stop()


def _vendor_fixture(conn_type: str, doc: str) -> Any:
    @pytest.fixture
    def _fixture(make_emulator: Callable[..., Emulator]) -> Emulator:
        return make_emulator(conn_type)

    _fixture.__doc__ = doc
    return _fixture


# One fixture per vendor (occ_emulator, iics_emulator, personium_emulator, dataarts_emulator,
# workspace_emulator), named in vendors.VENDORS.
for _vendor in VENDORS:
    globals()[_vendor.fixture] = _vendor_fixture(
        _vendor.conn_type, f"A {_vendor.hook_name} emulator on 127.0.0.1."
    )


@pytest.fixture
def export_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Define an Airflow connection to an emulator via ``AIRFLOW_CONN_*``; returns its id.

    Keyword arguments override connection fields (``password="wrong"``) or, with ``extra=``,
    the extras.
    """

    def _define(emulator: Emulator, conn_id: str | None = None, **overrides: Any) -> str:
        conn_id = conn_id or f"{emulator.vendor}_test"
        name, _ = emulator.connection_env(conn_id)
        conn = emulator.connection()
        if "extra" in overrides:
            conn["extra"] = {**conn.get("extra", {}), **overrides.pop("extra")}
        monkeypatch.setenv(name, json.dumps({**conn, **overrides}))
        return conn_id

    return _define
