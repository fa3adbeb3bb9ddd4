"""Vendor hooks, and the lookup from a connection's type to its hook class."""

from __future__ import annotations

import functools
from typing import Any

from airflow_provider_exports.errors import ExportConfigError


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
