"""Redirects are followed by the runners, not the HTTP clients, so that every hop goes through
the same origin check before credentials are put on it."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urljoin

from airflow_provider_exports.transport.model import Request, Response

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def next_hop(response: Response, request: Request) -> Request | None:
    """The request to send after a redirect response, or None if it is not one.

    ``request`` is the request as the operation built it, before credentials were added:
    prepare() adds them again only where the new URL's origin allows it.
    """
    location = response.header("Location")
    if response.status not in REDIRECT_STATUSES or not location:
        return None
    base = replace(request, url=urljoin(response.url, location))
    if response.status == 303 or (response.status in (301, 302) and request.method == "POST"):
        return replace(base, method="GET", body=None)
    return base
