"""Limits and checks on response bodies."""

from __future__ import annotations

from collections.abc import Mapping

from airflow_provider_exports.errors import ExportResponseError
from airflow_provider_exports.transport.model import Request

#: Bodies of API calls (not downloads) larger than this are refused rather than held in memory.
MAX_BODY = 32 * 1024 * 1024


def is_json_type(headers: Mapping[str, str]) -> bool:
    """Whether the Content-Type says JSON (``application/json``, ``+json`` types)."""
    value = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    media = value.split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def too_large(vendor: str, request: Request) -> ExportResponseError:
    return ExportResponseError(
        vendor, request.safe_target, message=f"response body larger than {MAX_BODY} bytes"
    )


def wants_body(request: Request, headers: Mapping[str, str]) -> bool:
    """Whether a runner reads an answer's body, as the request's ``read_body`` says."""
    return request.read_body == "all" or (request.read_body == "json-only" and is_json_type(headers))
