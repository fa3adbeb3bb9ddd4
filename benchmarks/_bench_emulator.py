"""The Oracle Commerce emulator as the benchmarks run it.

Differences from the test emulator, all on the server side and the same for every client:

* no request log and no fault queue (the middleware only passes requests on), so a long run does
  not grow the server's memory or CPU per request;
* every accepted TCP connection is counted (``opened``; ``peak_open`` at once);
* the time each status poll arrives is kept per export (``poll_times``);
* a client that sends ``X-Until-Done: 1`` gets the same JSON status body, but with HTTP 404 while
  the export runs: that is the only "not yet" that ``HttpSensorTrigger`` understands;
* exports with ``extra["etag"]`` serve ``content`` (any buffer, e.g. a memory-mapped file) with
  that precomputed ETag instead of hashing the whole file on every request.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

from aiohttp import web

from airflow_provider_exports.testing.emulator import Export, Handler
from airflow_provider_exports.testing.oracle_commerce import OracleCommerceEmulator

TERMINAL = frozenset({"succeeded", "failed", "aborted"})
UNTIL_DONE = "X-Until-Done"


class BenchEmulator(OracleCommerceEmulator):
    def __init__(self, **kw: Any) -> None:
        kw.setdefault("token_ttl", 3600.0)
        super().__init__(**kw)
        self.opened = 0
        self.open_now = 0
        self.peak_open = 0
        self.poll_times: dict[str, list[float]] = defaultdict(list)
        self.status_polls = 0
        self.logins = 0

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        return await handler(request)

    def start(self) -> BenchEmulator:
        super().start()
        assert self._runner is not None and self._loop is not None
        server = self._runner.server
        assert server is not None
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            self.opened += 1
            self.open_now += 1
            self.peak_open = max(self.peak_open, self.open_now)
            made(handler, transport)

        def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
            self.open_now -= 1
            lost(handler, exc)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]
        return self

    def reset_counters(self) -> None:
        self.opened = self.peak_open = self.status_polls = self.logins = 0
        self.open_now = 0
        self.poll_times.clear()

    async def _login(self, request: web.Request) -> web.Response:
        self.logins += 1
        return await super()._login(request)

    async def _status(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        self.poll_times[token].append(time.monotonic())
        self.status_polls += 1
        response = await super()._status(request)
        export = self.exports.get(token)
        if request.headers.get(UNTIL_DONE) and response.status == 200 and export is not None:
            seen = export.script[min(export.polls - 1, len(export.script) - 1)]
            if seen.state not in TERMINAL:
                response.set_status(404)
        return response

    async def _file(self, request: web.Request) -> web.StreamResponse:
        export = self.exports.get(request.match_info["token"])
        if export is None or "etag" not in export.extra or request.match_info["name"] != export.file_name:
            return await super()._file(request)
        return await serve_buffer(request, export)


async def serve_buffer(request: web.Request, export: Export) -> web.StreamResponse:
    """``serve_bytes`` with a precomputed ETag (Content-Length, Accept-Ranges, 256 KiB writes)."""
    data = memoryview(export.content)  # type: ignore[arg-type]
    headers = {
        "Content-Type": "application/zip",
        "Content-Length": str(len(data)),
        "Accept-Ranges": "bytes",
        "ETag": str(export.extra["etag"]),
        "Content-Disposition": f'attachment; filename="{export.file_name}"',
    }
    response = web.StreamResponse(status=200, headers=headers)
    await response.prepare(request)
    chunk = 256 * 1024
    for offset in range(0, len(data), chunk):
        await response.write(data[offset : offset + chunk])
    await response.write_eof()
    return response
