"""Exceptions raised by the provider.

Every message names the vendor, the method and URL path and what went wrong, and never a
credential: URLs are reduced to their path (queries dropped) before they reach a message.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowFailException


class ExportError(Exception):
    """Base of every error this provider raises."""


class ExportConfigError(ExportError):
    """The connection or the task arguments are incomplete or invalid."""


class ExportRequestError(ExportError):
    """A vendor call failed in a way that retrying the same call will not fix."""

    def __init__(
        self,
        vendor: str,
        what: str,
        *,
        status: int | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        self.vendor = vendor
        self.what = what
        self.status = status
        self.code = code
        self.vendor_message = message
        text = f"{vendor}: {what}"
        if status is not None:
            text += f" answered HTTP {status}"
        if code:
            text += f", code {code}"
        if message:
            text += f": {message}"
        super().__init__(text)


class ExportAuthError(ExportRequestError):
    """The vendor rejected the credentials (after one fresh login)."""


class ExportResponseError(ExportRequestError):
    """The vendor answered with something we cannot read (malformed JSON, an HTML page...)."""


class TransientError(ExportError):
    """A failure worth retrying: 429, 5xx, a reset or refused connection, a timeout.

    ``sent`` says whether the request may have reached the server (a POST is only resent when it
    surely did not, or the server said it did not process it).
    """

    def __init__(
        self,
        what: str,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        sent: bool = True,
    ) -> None:
        self.what = what
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.sent = sent
        super().__init__(f"{what}: {reason}")


class ExportNetworkError(ExportError):
    """The network path to the vendor is wrong in a way retrying will not fix: an untrusted or
    mismatched TLS certificate, no TLS protocol in common, a proxy refusing its credentials (407),
    a host DNS does not know (after one retry). The message names the host, what was seen and the
    connection option that fixes it."""

    def __init__(self, vendor: str, what: str, *, kind: str, host: str, message: str) -> None:
        self.vendor = vendor
        self.what = what
        self.kind = kind
        self.host = host
        super().__init__(f"{vendor}: {what}: {message}")


class ExportFailedError(ExportError):
    """The export itself ended in failure, cancellation or expiry."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event
        parts = [f"Export {event.get('export_id')!r} did not succeed"]
        if event.get("vendor_state"):
            parts.append(f"vendor state {event['vendor_state']!r}")
        if event.get("error_code"):
            parts.append(f"code {event['error_code']}")
        message = event.get("message")
        super().__init__(", ".join(parts) + (f": {message}" if message else ""))


class ExportFinallyFailed(ExportFailedError, AirflowFailException):
    """The vendor reported the export failed, cancelled or expired: the task fails without retries
    (a retry would only read the same verdict again)."""


class MissingExportIdError(ExportConfigError, AirflowFailException):
    """A task was given no export id (``None``, empty or ``"None"``): usually the start task failed
    before it pushed one. Fails without retries: the id will not appear on a retry."""


class DownloadError(ExportError):
    """A download could not be completed and verified; nothing was left at the destination."""
