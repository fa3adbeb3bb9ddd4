"""Credentials: how a vendor logs in (as an operation), how a credential goes on a request, and
a per-process cache so many waits on one connection share one login."""

from __future__ import annotations

import abc
import asyncio
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from airflow_provider_exports.transport.model import Op, Request, Response, no_io, origin
from airflow_provider_exports.transport.network import Network


@dataclass(frozen=True, repr=False)
class Credential:
    """A login result. ``token`` and ``refresh_token`` are secrets and never printed."""

    token: str
    expires_at: float | None = None
    base_url: str | None = None
    refresh_token: str | None = None

    def fresh(self, margin: float) -> bool:
        """Whether it is still good for at least ``margin`` seconds."""
        return self.expires_at is None or time.time() + margin < self.expires_at

    def __repr__(self) -> str:
        return f"Credential(expires_at={self.expires_at!r}, base_url={self.base_url!r})"


class Authenticator(abc.ABC):
    """One vendor's way of authenticating, as pure code (no I/O)."""

    vendor: str = "vendor"
    #: Renew this many seconds before the credential expires.
    refresh_margin: float = 60.0

    @abc.abstractmethod
    def login(self, previous: Credential | None) -> Op[Credential]:
        """Obtain a credential; ``previous`` allows a refresh grant instead of a new login."""

    @abc.abstractmethod
    def apply(self, request: Request, credential: Credential) -> Request:
        """Put the credential on a request whose URL is already absolute."""

    def is_rejected(self, response: Response) -> bool:
        """Whether the server refused the credential (so one fresh login may help)."""
        return response.status == 401

    def secrets(self) -> Iterable[str]:
        """The connection's secret values, for redaction."""
        return ()


class NoAuth(Authenticator):
    """For endpoints that need no credentials (tests, public links)."""

    def login(self, previous: Credential | None) -> Op[Credential]:
        return no_io(Credential(token=""))

    def apply(self, request: Request, credential: Credential) -> Request:
        return request


class CredentialCache:
    """Credentials per connection fingerprint, shared by every hook in the process.

    Keys are hashes of the connection's fields, so a changed password gets a new login and no
    secret is kept in a key. Locks make concurrent waits on one connection log in once.
    """

    def __init__(self) -> None:
        self._creds: dict[str, Credential] = {}
        self._thread_lock = threading.Lock()
        self._sync_locks: dict[str, threading.Lock] = {}
        self._async_locks: dict[tuple[int, str], asyncio.Lock] = {}

    def get(self, key: str) -> Credential | None:
        return self._creds.get(key)

    def put(self, key: str, credential: Credential) -> None:
        self._creds[key] = credential

    def invalidate(self, key: str, credential: Credential) -> None:
        """Drop ``credential`` unless another caller already replaced it."""
        if self._creds.get(key) is credential:
            del self._creds[key]

    def sync_lock(self, key: str) -> threading.Lock:
        with self._thread_lock:
            return self._sync_locks.setdefault(key, threading.Lock())

    def async_lock(self, key: str) -> asyncio.Lock:
        loop_id = id(asyncio.get_running_loop())
        with self._thread_lock:
            return self._async_locks.setdefault((loop_id, key), asyncio.Lock())

    def clear(self) -> None:
        self._creds.clear()


CREDENTIALS = CredentialCache()


@dataclass(frozen=True)
class Endpoint:
    """Where a hook talks to and what it may send credentials to."""

    base_url: str
    auth: Authenticator
    cache_key: str
    #: Send credentials to any origin (e.g. a download link on a CDN); off by default.
    allow_cross_origin_auth: bool = False
    #: TLS trust and proxy (the connection's, else the environment's).
    network: Network = field(default_factory=Network)

    def may_authenticate(self, url: str, credential: Credential | None) -> bool:
        """Credentials go only to the connection's origin or the one its login named."""
        if self.allow_cross_origin_auth:
            return True
        allowed = {origin(self.base_url)}
        if credential is not None and credential.base_url:
            allowed.add(origin(credential.base_url))
        return origin(url) in allowed

    def base_for(self, credential: Credential | None) -> str:
        """The base URL path-only requests are joined to."""
        if credential is not None and credential.base_url:
            return credential.base_url
        return self.base_url
