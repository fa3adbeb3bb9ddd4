"""Vendor hooks, and the one factory from a connection to its hook (its type picks the vendor)."""

from __future__ import annotations

import functools
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_exports.errors import ExportConfigError
from airflow_provider_exports.hooks.base import ExportHook, alookup_connection


@functools.cache
def _hook_paths() -> dict[str, str]:
    from airflow_provider_exports.get_provider_info import get_provider_info

    return {c["connection-type"]: c["hook-class-name"] for c in get_provider_info()["connection-types"]}


def supported_conn_types() -> list[str]:
    """Connection types this provider has a hook for."""
    return sorted(_hook_paths())


def hook_class_for(conn_type: str | None) -> Any:
    """The ExportHook subclass for a connection type (from provider info: one place to add one)."""
    import importlib

    path = _hook_paths().get(conn_type or "")
    if path is None:
        raise ExportConfigError(
            f"Connection type {conn_type!r} is not an export connection; use one of "
            f"{', '.join(supported_conn_types())}."
        )
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def export_hook(conn_id: str, **options: Any) -> ExportHook:
    """The hook for a connection, chosen by the connection's type."""
    conn = BaseHook.get_connection(conn_id)
    hook: ExportHook = hook_class_for(conn.conn_type)(conn_id, connection=conn, **options)
    return hook


async def aexport_hook(conn_id: str, **options: Any) -> ExportHook:
    """Async :func:`export_hook`, for the triggerer (the lookup does not block the event loop)."""
    conn = await alookup_connection(conn_id)
    hook: ExportHook = hook_class_for(conn.conn_type)(conn_id, connection=conn, **options)
    return hook
