"""A trigger that only sleeps: what the triggerer itself costs per "poll", with no I/O at all.

``triggerer_scale.py`` runs it as a third side to show how much of a poll's CPU is the
triggerer's own (its main loop, watchdog, timers, logging) rather than the trigger's HTTP.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

#: Set by the harness: called once per "poll", like the aiohttp wrapper for the real triggers.
ON_POLL: list[Any] = []


class IdleTrigger(BaseTrigger):
    def __init__(self, key: str, polls: int, interval: float) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.key = key
        self.polls = polls
        self.interval = interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{__name__}.IdleTrigger", {"key": self.key, "polls": self.polls, "interval": self.interval}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        for poll in range(self.polls):
            for hook in ON_POLL:
                hook(self.key, time.monotonic())
            if poll < self.polls - 1:
                await asyncio.sleep(self.interval)
        yield TriggerEvent({"status": "success"})  # type: ignore[no-untyped-call]
