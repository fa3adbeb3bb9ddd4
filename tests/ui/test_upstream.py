"""Airflow bugs the UI tests work around, checked so the workaround goes when Airflow fixes them."""

from __future__ import annotations

import pytest

from airflow_provider_exports.testing import emulator_class

from .support import ApiServer


@pytest.mark.xfail(
    strict=True,
    reason="apache/airflow#73298: Airflow 3.3.2's Test button sends port 0 for a connection without a "
    "port and the API rejects it with 400; when this passes, drop _portless_test_workaround",
)
def test_upstream_port_zero_bug(api_server: ApiServer) -> None:
    emulator = emulator_class("oracle_commerce")().start()
    try:
        conn = emulator.connection()
        created, body = api_server.request(
            "POST",
            "/api/v2/connections",
            {"connection_id": "upstream_port_zero", **conn},
        )
        assert created == 201, body
        # Exactly what the Connections list's Test button sends for this connection.
        status, body = api_server.request(
            "POST",
            "/api/v2/connections/test",
            {
                "connection_id": "upstream_port_zero",
                "conn_type": conn["conn_type"],
                "description": "",
                "extra": "{}",
                "host": conn["host"],
                "login": "",
                "password": "***",
                "port": 0,
                "schema": "",
            },
        )
        assert status == 200, body
    finally:
        emulator.stop()
