"""Waits starting together share one connection lookup; each secret is masked once per process."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from airflow.sdk import BaseHook, Connection

from airflow_provider_exports.hooks import base


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the lookups that reach Airflow; the first one for 'flaky' fails."""
    seen: list[str] = []

    async def aget_connection(conn_id: str) -> Connection:
        seen.append(conn_id)
        await asyncio.sleep(0.01)  # concurrent callers arrive while it runs
        if conn_id == "flaky" and seen.count("flaky") == 1:
            raise RuntimeError("secrets backend unavailable")
        return Connection(conn_id=conn_id, conn_type="oracle_commerce", host="h.example", password="pw-1234")

    monkeypatch.setattr(BaseHook, "aget_connection", staticmethod(aget_connection))
    return seen


def test_concurrent_waits_share_one_lookup(lookups: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> list[Connection]:
        return await asyncio.gather(*(base.alookup_connection("occ") for _ in range(50)))

    conns = asyncio.run(main())
    assert lookups == ["occ"]
    assert {c.host for c in conns} == {"h.example"}


def test_lookup_is_made_again_after_the_window(lookups: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "CONNECTION_REUSE_SECONDS", 0.5)

    async def main() -> None:
        await base.alookup_connection("occ")
        await base.alookup_connection("occ")  # within the window: shared
        await asyncio.sleep(0.6)
        await base.alookup_connection("occ")  # after it: looked up again

    asyncio.run(main())
    assert lookups == ["occ", "occ"]


def test_a_failed_lookup_is_not_reused(lookups: list[str]) -> None:
    async def main() -> Any:
        with pytest.raises(RuntimeError, match="unavailable"):
            await base.alookup_connection("flaky")
        return await base.alookup_connection("flaky")

    assert asyncio.run(main()).conn_id == "flaky"
    assert lookups == ["flaky", "flaky"]


def test_each_secret_is_masked_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow.sdk.log

    masked: list[str] = []
    monkeypatch.setattr(airflow.sdk.log, "mask_secret", masked.append)
    monkeypatch.setattr(base, "_MASKED", set())
    for _ in range(3):
        base._mask("secret-value-1")
    base._mask("secret-value-2")
    assert masked == ["secret-value-1", "secret-value-2"]


def test_waiters_look_up_themselves_when_the_first_caller_is_cancelled(lookups: list[str]) -> None:
    async def main() -> list[Connection]:
        first = asyncio.ensure_future(base.alookup_connection("occ"))
        await asyncio.sleep(0)  # the first caller's lookup is under way
        others = [asyncio.ensure_future(base.alookup_connection("occ")) for _ in range(3)]
        await asyncio.sleep(0)
        first.cancel()
        return await asyncio.gather(*others)

    conns = asyncio.run(main())
    assert [c.conn_id for c in conns] == ["occ"] * 3
    assert lookups == ["occ", "occ"]  # the cancelled one, then one shared by the three waiters
