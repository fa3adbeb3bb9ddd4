"""What the wire tests share: a fast retry policy, the two runners, a hook on an emulator, and
polling a status with either runner.

Imported as ``from wire_support import ...``: pytest puts this folder on ``sys.path`` (it has no
``__init__.py``). Clearing the credential cache before each test is in ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_exports.hooks import hook_class_for
from airflow_provider_exports.hooks.base import ExportHook
from airflow_provider_exports.status import ExportStatus
from airflow_provider_exports.testing.emulator import Emulator
from airflow_provider_exports.transport import RetryPolicy
from airflow_provider_exports.transport.aio import pooled_session

#: Retries short enough for loopback; a file whose tests need other values passes its own policy.
FAST = RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.05, connect_timeout=2.0, read_timeout=5.0)
RUNNERS = pytest.mark.parametrize("runner", ["requests", "aiohttp"])


def wire_hook(
    emulator: Emulator,
    conn_id: str = "wire",
    *,
    fields: Mapping[str, Any] | None = None,
    policy: RetryPolicy = FAST,
    hook_params: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> ExportHook:
    """A hook on ``emulator``: its connection (or ``fields`` instead) with ``overrides`` on top.

    A dict ``extra`` is JSON-encoded; the hook class comes from the connection's type;
    ``hook_params`` go to the hook as its keyword arguments.
    """
    data = {**(emulator.connection() if fields is None else fields), **overrides}
    if isinstance(data.get("extra"), dict):
        data["extra"] = json.dumps(data["extra"])
    connection = Connection(conn_id=conn_id, **data)
    hook: ExportHook = hook_class_for(data["conn_type"])(
        conn_id, connection=connection, retry_policy=policy, **(hook_params or {})
    )
    return hook


def poll_statuses(hook: ExportHook, export_id: str, runner: str, limit: int = 10) -> list[ExportStatus]:
    """Poll until the export is terminal (at most ``limit`` polls) with one runner: ``requests``
    (``get_status``) or ``aiohttp`` (``aget_status`` in one pooled session, as the triggerer)."""
    if runner == "requests":
        seen = []
        for _ in range(limit):
            seen.append(hook.get_status(export_id))
            if seen[-1].is_terminal:
                break
        return seen

    async def _poll() -> list[ExportStatus]:
        async with pooled_session():
            seen = []
            for _ in range(limit):
                seen.append(await hook.aget_status(export_id))
                if seen[-1].is_terminal:
                    break
            return seen

    return asyncio.run(_poll())


def poll_status(hook: ExportHook, export_id: str, runner: str) -> ExportStatus:
    """One status call with one runner."""
    return poll_statuses(hook, export_id, runner, limit=1)[0]
