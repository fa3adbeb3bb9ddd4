"""One place that talks HTTP: vendor operations run by a sync (requests) or async (aiohttp) runner."""

from typing import TYPE_CHECKING, Any

from airflow_provider_exports.transport.auth import Authenticator, Credential, Endpoint
from airflow_provider_exports.transport.model import Op, Request, Response, json_request, no_io, path_segment
from airflow_provider_exports.transport.retry import RetryPolicy

if TYPE_CHECKING:
    from airflow_provider_exports.transport.aio import AsyncTransport, pooled_session
    from airflow_provider_exports.transport.sync import SyncTransport

# The runners are imported on first use: a DAG file that imports a sensor needs neither aiohttp
# nor requests (together most of its import time; see docs/benchmarks.md).
_LAZY = {
    "AsyncTransport": "airflow_provider_exports.transport.aio",
    "pooled_session": "airflow_provider_exports.transport.aio",
    "SyncTransport": "airflow_provider_exports.transport.sync",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AsyncTransport",
    "Authenticator",
    "Credential",
    "Endpoint",
    "Op",
    "Request",
    "Response",
    "RetryPolicy",
    "SyncTransport",
    "json_request",
    "no_io",
    "path_segment",
    "pooled_session",
]
