"""Guards for two costs the benchmarks found (docs/benchmarks.md): per-poll environment lookups
in the triggerer's HTTP runner, and HTTP stacks imported by every DAG file that uses the sensor."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from airflow_provider_exports.hooks import aexport_hook
from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator
from airflow_provider_exports.transport import aio
from airflow_provider_exports.transport.auth import CREDENTIALS


def test_importing_the_sensor_loads_no_http_stack() -> None:
    code = (
        "import sys, airflow_provider_exports.sensors.export_status, "
        "airflow_provider_exports.operators.download; "
        "print([m for m in ('aiohttp', 'requests') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"


def test_pooled_session_reads_no_environment_per_request() -> None:
    async def trust() -> bool:
        async with aio.pooled_session() as session:
            return session.trust_env

    assert asyncio.run(trust()) is False


def test_proxy_variables_are_still_honoured(
    occ_emulator: OracleCommerceEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY points at the emulator; the connection names a host that does not resolve, so
    the status can only be read through the proxy."""
    CREDENTIALS.clear()
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", occ_emulator.url)
    conn = {**occ_emulator.connection(), "host": "http://occ.invalid"}
    monkeypatch.setenv("AIRFLOW_CONN_OCC_PROXIED", json.dumps(conn))
    occ_emulator.add_export("p1", "succeeded")

    async def status() -> str:
        hook = await aexport_hook("occ_proxied")
        async with aio.pooled_session():
            return (await hook.aget_status("p1")).vendor_state or ""

    try:
        assert asyncio.run(status()) == "succeeded"
    finally:
        CREDENTIALS.clear()
    assert any(r.path == "/ccadmin/v1/exportProcess/p1" for r in occ_emulator.requests)
    assert os.environ["HTTP_PROXY"] == occ_emulator.url
