"""pytest fixtures: vendor emulators on loopback and connections pointing at them.

Installed as a pytest plugin with the package, so a user's DAG tests can write::

    def test_my_dag(occ_emulator, export_conn):
        conn_id = export_conn(occ_emulator)
        ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from airflow_provider_exports.testing.emulator import Emulator
from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator


@pytest.fixture
def occ_emulator() -> Iterator[OracleCommerceEmulator]:
    """An Oracle Commerce Cloud emulator on 127.0.0.1 (a second port serves as another origin)."""
    with OracleCommerceEmulator() as emulator:
        yield emulator


@pytest.fixture
def export_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Define an Airflow connection to an emulator via ``AIRFLOW_CONN_*``; returns its id."""

    def _define(emulator: Emulator, conn_id: str | None = None, **overrides: object) -> str:
        conn_id = conn_id or f"{emulator.vendor}_test"
        name, _ = emulator.connection_env(conn_id)
        import json

        monkeypatch.setenv(name, json.dumps({**emulator.connection(), **overrides}))
        return conn_id

    return _define
