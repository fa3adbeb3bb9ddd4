"""One place that talks HTTP: vendor operations run by a sync (requests) or async (aiohttp) runner."""

from airflow_provider_exports.transport.aio import AsyncTransport, pooled_session
from airflow_provider_exports.transport.auth import Authenticator, Credential, Endpoint
from airflow_provider_exports.transport.model import Op, Request, Response, json_request, no_io, path_segment
from airflow_provider_exports.transport.retry import RetryPolicy
from airflow_provider_exports.transport.sync import SyncTransport

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
