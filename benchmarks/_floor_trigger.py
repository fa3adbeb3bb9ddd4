"""The least a polling trigger can do with aiohttp: one shared keep-alive session, a GET, a JSON
parse, a sleep. No Airflow connection lookup, no retries, no logging, no status model.

``triggerer_scale.py --floor`` runs it as a reference side: the gap between it and
``ExportStatusTrigger`` is what our code adds to a poll; the rest is aiohttp, TLS, asyncio and
the triggerer, which every aiohttp-based trigger pays.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from airflow.triggers.base import BaseTrigger, TriggerEvent

_SESSIONS: dict[int, aiohttp.ClientSession] = {}


def _session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    session = _SESSIONS.get(id(loop))
    if session is None or session.closed:
        connector = aiohttp.TCPConnector(limit=100, keepalive_timeout=75)
        session = _SESSIONS[id(loop)] = aiohttp.ClientSession(connector=connector, trust_env=False)
    return session


class FloorTrigger(BaseTrigger):
    def __init__(self, url: str, token: str, interval: float) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.url = url
        self.token = token
        self.interval = interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{__name__}.FloorTrigger", {"url": self.url, "token": self.token, "interval": self.interval}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        session = _session()
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        while True:
            async with session.get(self.url, headers=headers) as response:
                body = json.loads(await response.read())
            if body.get("progress") in ("succeeded", "failed", "aborted"):
                yield TriggerEvent({"status": body["progress"]})  # type: ignore[no-untyped-call]
                return
            await asyncio.sleep(self.interval)
