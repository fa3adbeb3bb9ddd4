"""What the sync and async runners share: credential handling, URL resolution, redaction.

The runners only add the I/O: sending a prepared request and sleeping between attempts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from urllib.parse import quote, urlencode

from airflow_provider_exports.errors import ExportAuthError, ExportError
from airflow_provider_exports.transport.auth import CREDENTIALS, Credential, CredentialCache, Endpoint
from airflow_provider_exports.transport.model import Request, Response, resolve_url
from airflow_provider_exports.transport.retry import RetryPolicy

log = logging.getLogger(__name__)

SecretSink = Callable[[str], None]
# Reserved characters and '%' stay as they are: existing escapes (such as '%2E%2E' for an id
# '..') must reach the server unchanged, never decoded.
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


class Redactor:
    """Replaces known secret values in text; the last line of defence for messages."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        for secret in secrets:
            # Very short values would redact ordinary words; they are not real secrets anyway.
            if secret and len(secret) >= 4:
                self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def scrub_exception(self, exc: BaseException) -> None:
        """Rewrite an exception's message in place if it contains a secret."""
        text = str(exc)
        clean = self.scrub(text)
        if clean != text:
            exc.args = (clean,)


class Engine:
    """Credential and URL logic around one endpoint; subclassed by the two runners."""

    def __init__(
        self,
        endpoint: Endpoint,
        policy: RetryPolicy | None = None,
        *,
        cache: CredentialCache = CREDENTIALS,
        secret_sink: SecretSink | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.policy = policy or RetryPolicy()
        self.cache = cache
        self.redactor = Redactor(endpoint.auth.secrets())
        self._secret_sink = secret_sink

    @property
    def vendor(self) -> str:
        return self.endpoint.auth.vendor

    def cached_credential(self) -> Credential | None:
        cred = self.cache.get(self.endpoint.cache_key)
        if cred is not None and cred.fresh(self.endpoint.auth.refresh_margin):
            return cred
        return None

    def store(self, credential: Credential) -> Credential:
        self.redactor.add(credential.token, credential.refresh_token)
        if self._secret_sink is not None:
            for secret in (credential.token, credential.refresh_token):
                if secret:
                    self._secret_sink(secret)
        self.cache.put(self.endpoint.cache_key, credential)
        return credential

    def stale_credential(self) -> Credential | None:
        """The expired credential, if any, for a refresh grant."""
        return self.cache.get(self.endpoint.cache_key)

    def prepare(self, request: Request, credential: Credential | None) -> tuple[Request, bool]:
        """Resolve the URL and add credentials where they may go; says whether it added them."""
        url = resolve_url(request.url, self.endpoint.base_for(credential))
        if request.params:
            # Query goes into the URL before auth, so request signers see exactly what is sent.
            url += ("&" if "?" in url else "?") + urlencode(request.params, quote_via=quote)
        # Vendor links may hold characters that need quoting; existing %-escapes stay as they are.
        request = replace(request, url=quote(url, safe=_URL_SAFE), params=())
        if request.authenticate and credential is not None:
            if self.endpoint.may_authenticate(url, credential):
                return self.endpoint.auth.apply(request, credential), True
            log.info(
                "Not sending %s credentials to %s: another origin than the connection's "
                "(set allow_cross_origin_auth on the connection to allow it).",
                self.vendor,
                request.safe_target,
            )
        return request, False

    def rejected(self, response: Response, authed: bool) -> bool:
        return authed and self.endpoint.auth.is_rejected(response)

    def invalidate(self, credential: Credential | None) -> None:
        if credential is not None:
            self.cache.invalidate(self.endpoint.cache_key, credential)

    def auth_failure(self, response: Response) -> ExportAuthError:
        return ExportAuthError(
            self.vendor,
            response.request.safe_target,
            status=response.status,
            message="credentials rejected again after a fresh login; check the connection "
            f"(response: {response.snippet() or '<empty>'})",
        )

    def scrubbed(self, exc: BaseException) -> BaseException:
        if isinstance(exc, ExportError):
            self.redactor.scrub_exception(exc)
        return exc
