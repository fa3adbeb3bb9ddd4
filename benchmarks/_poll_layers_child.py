"""The measuring process of ``poll_layers.py``: thread CPU per poll of each layer of the poll path.

Reads a JSON spec (connection from ``AIRFLOW_CONN_*``, the emulator's URL and a token for the
bare GET) and writes ``{"us_per_poll": {layer: [one value per round]}}``, the layers in order
from the bare GET up. Each measurement runs every poller once untimed (connections open, caches
warm), then ``polls`` more polls each, timed.
``send`` has the runner execute ``Send`` commands prepared beforehand; ``call`` drives the engine's
``exchange`` program (credentials, redirects, retries); every other layer builds its own.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from airflow_provider_exports.hooks import aexport_hook
from airflow_provider_exports.transport.aio import pooled_session
from airflow_provider_exports.transport.engine import Send

Poll = Callable[[str], Awaitable[Any]]


async def measure(
    make_poll: Callable[[aiohttp.ClientSession], Awaitable[Poll]], ids: list[str], polls: int
) -> float:
    """Microseconds of this thread's CPU per poll, ``len(ids)`` pollers at once."""
    async with pooled_session() as session:
        poll = await make_poll(session)

        async def poller(export_id: str, times: int) -> None:
            for _ in range(times):
                await poll(export_id)

        await asyncio.gather(*(poller(i, 1) for i in ids))
        gc.collect()  # a full collection in the timed part would add ~25 µs/poll to one layer
        began = time.thread_time()
        await asyncio.gather(*(poller(i, polls) for i in ids))
        return (time.thread_time() - began) / (len(ids) * polls) * 1e6


def layers(spec: dict[str, Any]) -> dict[str, Callable[[aiohttp.ClientSession], Awaitable[Poll]]]:
    conn_id: str = spec["conn_id"]

    async def bare_get(session: aiohttp.ClientSession) -> Poll:
        headers = {"Authorization": f"Bearer {spec['token']}", "Accept": "application/json"}

        async def poll(export_id: str) -> Any:
            url = f"{spec['base_url']}/ccadmin/v1/exportProcess/{export_id}"
            async with session.get(url, headers=headers) as response:
                return json.loads(await response.read())

        return poll

    async def send(session: aiohttp.ClientSession) -> Poll:
        hook = await aexport_hook(conn_id)
        transport = await hook.async_transport()
        credential = await transport.drive(transport.credential(), session)
        prepared = {i: transport.prepare(next(hook.status_op(i)), credential)[0] for i in spec["export_ids"]}

        async def poll(export_id: str) -> Any:
            return await transport.execute(Send(prepared[export_id]), session)

        return poll

    async def call(session: aiohttp.ClientSession) -> Poll:
        hook = await aexport_hook(conn_id)
        transport = await hook.async_transport()

        async def poll(export_id: str) -> Any:
            return await transport.drive(transport.exchange(next(hook.status_op(export_id))), session)

        return poll

    async def run(session: aiohttp.ClientSession) -> Poll:
        hook = await aexport_hook(conn_id)
        transport = await hook.async_transport()

        async def poll(export_id: str) -> Any:
            return await transport.run(hook.status_op(export_id))

        return poll

    async def aget_status(session: aiohttp.ClientSession) -> Poll:
        hook = await aexport_hook(conn_id)
        return hook.aget_status

    return {"aiohttp GET": bare_get, "send": send, "call": call, "run": run, "aget_status": aget_status}


def main(spec_path: str) -> None:
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())
    by_name = layers(spec)
    names = list(by_name)
    out: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(spec["rounds"]):
        # Rotate the order, so a change in the machine's speed does not favour one layer.
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            out[name].append(asyncio.run(measure(by_name[name], spec["export_ids"], spec["polls"])))
    Path(spec["out"]).write_text(json.dumps({"us_per_poll": out}))


if __name__ == "__main__":
    main(sys.argv[1])
