"""When to retry a call and how long to wait: a frozen policy the engine asks (it never sleeps)."""

from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass

from airflow_provider_exports.errors import TransientError
from airflow_provider_exports.transport.model import Request

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Statuses with which the server says it did not act on the request: safe to resend a POST.
NOT_PROCESSED_STATUSES = frozenset({429, 503})


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), floored at 0."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to retry transient failures of one call.

    Delays grow as ``backoff * 2**(attempt-1)`` with +/-50% jitter, capped at ``backoff_max``;
    a ``Retry-After`` from the server wins (capped at ``retry_after_max``).
    """

    attempts: int = 5
    backoff: float = 1.0
    backoff_max: float = 30.0
    retry_after_max: float = 300.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    def should_retry(self, request: Request, exc: BaseException) -> bool:
        """Whether ``exc`` is worth another attempt of ``request``."""
        if not isinstance(exc, TransientError):
            return False
        if request.idempotent or not exc.sent:
            return True
        return exc.status in NOT_PROCESSED_STATUSES

    def delay(self, attempt: int, exc: BaseException | None) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return min(exc.retry_after, self.retry_after_max)
        # Jitter first, then the cap: no wait is ever longer than backoff_max.
        return min(self.backoff * 2.0 ** (attempt - 1) * random.uniform(0.5, 1.5), self.backoff_max)

    def log_retry(self, request: Request, attempt: int, exc: BaseException | None, pause: float) -> None:
        """The warning for a failed attempt that will be retried."""
        log.warning(
            "%s failed (attempt %d of %d): %s; retrying in %.1fs",
            request.what,
            attempt,
            self.attempts,
            exc,
            pause,
        )
