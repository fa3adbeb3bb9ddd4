"""``ExportHook``: what every vendor hook offers, built on the vendor's pure operations."""

from __future__ import annotations

import abc
import asyncio
import hashlib
import json
import logging
import time
import weakref
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any, ClassVar, Protocol

from airflow.sdk import BaseHook, Connection
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_provider_exports.errors import ExportConfigError, ExportError
from airflow_provider_exports.progress import TransferProgress
from airflow_provider_exports.status import ExportStatus
from airflow_provider_exports.transport import Authenticator, Endpoint, Op, Request, RetryPolicy
from airflow_provider_exports.transport.network import Network

if TYPE_CHECKING:  # imported on first use: a DAG file's import needs neither aiohttp nor requests
    from airflow_provider_exports.transport import AsyncTransport, SyncTransport

log = logging.getLogger(__name__)


#: Secrets this process has registered with the masker already.
_MASKED: set[str] = set()
#: Connections whose verify=false this process has warned about.
_UNVERIFIED_WARNED: set[str] = set()


def _mask(secret: str) -> None:
    """Register a secret with Airflow's log masker (redacts it in every log line).

    Once per process and value: the masker is process-wide, and in the triggerer each call is a
    message to its supervisor (three per wait before; see docs/benchmarks.md).
    """
    if secret in _MASKED:
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - older SDKs
        return
    mask_secret(secret)
    _MASKED.add(secret)


def retry_policy_from(settings: Mapping[str, Any] | None) -> RetryPolicy:
    """A RetryPolicy from JSON settings (task ``hook_params={"retry": {...}}``)."""
    if not settings:
        return RetryPolicy()
    known = set(RetryPolicy.__dataclass_fields__)
    unknown = set(settings) - known
    if unknown:
        raise ExportConfigError(f"unknown retry settings {sorted(unknown)}; use {sorted(known)}")
    return RetryPolicy(**settings)


class ExportSettings(Protocol):
    """What a hook reads from its connection, once: one frozen dataclass per vendor (secrets in
    fields with ``repr=False``). The hook's transport is built on it, and the operations read
    what they need (a project id, a login URL...) from :attr:`ExportHook.settings`."""

    @property
    def base_url(self) -> str:
        """The API's base URL."""
        ...

    def authenticator(self, vendor: str) -> Authenticator:
        """How calls are authenticated (``vendor`` names the hook's vendor in messages)."""
        ...


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class ExportHook(BaseHook, abc.ABC):
    """A vendor's export API: start an export, read its status, download it, fetch its log.

    Subclasses read a connection into frozen settings (``read_settings``) and describe each call
    as a pure operation (``*_op`` methods); neither does I/O. This class looks the connection up,
    reads its settings once (kept as ``settings``, which the operations read), and runs the
    operations with ``requests`` (``get_status`` ...) or ``aiohttp`` (``aget_status``, for the
    triggerer).

    :param conn_id: the Airflow connection to use.
    :param options: vendor options that are not secrets (e.g. which Personium job to watch);
        ``retry={"attempts": 5, "backoff": 1.0, ...}`` tunes the retry policy (see RetryPolicy).
    """

    conn_name_attr = "conn_id"
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]
    #: Human name of the vendor, used in messages.
    vendor: ClassVar[str]
    #: Extra fields that hold secrets (masked in logs, never echoed).
    secret_extras: ClassVar[tuple[str, ...]] = ()
    #: Whether the vendor lets us cancel an export.
    supports_cancel: ClassVar[bool] = False

    def __init__(
        self,
        conn_id: str,
        *,
        connection: Connection | None = None,
        retry_policy: RetryPolicy | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        retry = options.pop("retry", None)
        self._retry_settings = retry
        self.options = options
        self.retry_policy = retry_policy or retry_policy_from(retry)
        self._connection = connection
        self._settings: ExportSettings | None = None
        self._sync: SyncTransport | None = None
        self._async: AsyncTransport | None = None

    # ---- what a vendor provides (pure) ---------------------------------------------------------

    @abc.abstractmethod
    def read_settings(self, conn: Connection) -> ExportSettings:
        """Read a connection into this vendor's settings: a frozen value, every field checked
        (an :class:`ExportConfigError` names the field). Pure: it looks nothing up and keeps
        nothing; the hook keeps the result (:attr:`settings`)."""

    @abc.abstractmethod
    def start_op(self, payload: Mapping[str, Any]) -> Op[str]:
        """Start an export; returns its id."""

    @abc.abstractmethod
    def status_op(self, export_id: str) -> Op[ExportStatus]:
        """Read an export's status."""

    @abc.abstractmethod
    def download_op(self, export_id: str) -> Op[Request]:
        """Find the finished export's file; returns the request that streams it."""

    @abc.abstractmethod
    def log_op(self, export_id: str) -> Op[str]:
        """Fetch the export's log (or the vendor's closest equivalent) as text."""

    @abc.abstractmethod
    def check_op(self) -> Op[str]:
        """One cheap read-only call after login; returns what a person should read on success."""

    def cancel_op(self, export_id: str) -> Op[bool]:
        """Cancel the export; returns whether the vendor accepted."""
        raise ExportConfigError(f"{self.vendor} exports cannot be cancelled through the API")

    def trigger_hook_params(self) -> dict[str, Any]:
        """The ``hook_params`` for a trigger that continues this hook's wait.

        The options as given, plus anything learned while polling that a fresh hook in the
        triggerer needs (non-secret and JSON-serializable). By default, the options as given.
        """
        params = dict(self.options)
        if self._retry_settings is not None:
            params["retry"] = self._retry_settings
        return params

    # ---- connection ------------------------------------------------------------------------------

    def extra(self, conn: Connection, name: str, default: Any = None) -> Any:
        """An extra field, by its plain name or the form's ``extra__<type>__<name>`` name."""
        extras = conn.extra_dejson or {}
        for key in (name, f"extra__{self.conn_type}__{name}"):
            value = extras.get(key)
            if value not in (None, ""):
                return value
        return default

    def authenticator(self, conn: Connection) -> Authenticator:
        """How this connection authenticates (read afresh, kept nowhere)."""
        return self.read_settings(conn).authenticator(self.vendor)

    def base_url(self, conn: Connection) -> str:
        """The API's base URL for this connection (read afresh, kept nowhere)."""
        return self.read_settings(conn).base_url

    def require(self, value: Any, what: str) -> str:
        """A required connection value, or a clear error naming the field."""
        if value in (None, ""):
            raise ExportConfigError(f"Connection {self.conn_id!r} ({self.hook_name}) has no {what}.")
        return str(value)

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = self.get_connection(self.conn_id)
        return self._connection

    async def aconnection(self) -> Connection:
        """The connection, looked up without blocking the event loop."""
        if self._connection is None:
            self._connection = await alookup_connection(self.conn_id)
        return self._connection

    @property
    def settings(self) -> ExportSettings:
        """The connection's settings, read once (:meth:`read_settings`) and kept for the operations.

        Read from the connection the hook holds: the one handed to it, or the one its calls
        (``get_status``, ``aget_status``, ``start_export``...) look up before anything else, the
        async ones without blocking. Never looks a connection up itself.
        """
        if self._settings is not None:
            return self._settings
        if self._connection is None:
            raise ExportConfigError(
                f"{self.hook_name} hook for {self.conn_id!r}: the connection has not been looked up "
                "yet, so its settings are unknown. Use the hook's methods (get_status, aget_status, "
                "start_export, ...), which look it up first, or pass connection=."
            )
        return self._resolve(self._connection)

    def _resolve(self, conn: Connection) -> ExportSettings:
        """The settings of ``conn``, read once and kept for the operations."""
        if self._settings is None:
            self._settings = self.read_settings(conn)
        return self._settings

    def _endpoint(self, conn: Connection) -> Endpoint:
        settings = self._resolve(conn)
        auth = settings.authenticator(self.vendor)
        network = self.network(conn)
        secrets = (conn.password, *(self.extra(conn, k) for k in self.secret_extras), *auth.secrets())
        for secret in (*secrets, *network.secrets()):
            if secret:
                _mask(str(secret))
        return Endpoint(
            base_url=settings.base_url.rstrip("/"),
            auth=auth,
            cache_key=self._fingerprint(conn),
            allow_cross_origin_auth=_truthy(self.extra(conn, "allow_cross_origin_auth", False)),
            network=network,
        )

    def network(self, conn: Connection) -> Network:
        """The connection's TLS trust and proxy options (``verify``, ``ca_bundle``, ``proxy``,
        ``no_proxy`` in its extra); ``verify=false`` is logged once per connection and process."""
        network = Network.from_extras(
            lambda name: self.extra(conn, name), f"connection {conn.conn_id!r} ({self.hook_name})"
        )
        if not network.verify and conn.conn_id not in _UNVERIFIED_WARNED:
            _UNVERIFIED_WARNED.add(conn.conn_id)
            log.warning(
                "Connection %r: verify=false, so TLS certificates are not checked: anyone on the "
                "network path can read and change this traffic, credentials included. To trust a "
                "corporate or private CA, set ca_bundle instead.",
                conn.conn_id,
            )
        return network

    def _fingerprint(self, conn: Connection) -> str:
        material = json.dumps(
            [
                self.conn_type,
                conn.conn_id,
                conn.host,
                conn.login,
                conn.password,
                conn.port,
                conn.extra_dejson,
            ],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(material.encode()).hexdigest()

    def sync_transport(self) -> SyncTransport:
        if self._sync is None:
            from airflow_provider_exports.transport.sync import SyncTransport

            self._sync = SyncTransport(self._endpoint(self.connection), self.retry_policy, secret_sink=_mask)
        return self._sync

    async def async_transport(self) -> AsyncTransport:
        if self._async is None:
            from airflow_provider_exports.transport.aio import AsyncTransport

            conn = await self.aconnection()
            self._async = AsyncTransport(self._endpoint(conn), self.retry_policy, secret_sink=_mask)
        return self._async

    def get_conn(self) -> SyncTransport:
        """The sync transport (Airflow's hook convention)."""
        return self.sync_transport()

    # ---- the public API --------------------------------------------------------------------------

    def start_export(self, payload: Mapping[str, Any]) -> str:
        """Start an export and return its id."""
        return self.sync_transport().run(self.start_op(payload))

    def get_status(self, export_id: str) -> ExportStatus:
        """The export's current status."""
        return self.sync_transport().run(self.status_op(export_id))

    async def aget_status(self, export_id: str) -> ExportStatus:
        """The export's current status, without blocking the event loop."""
        transport = await self.async_transport()
        return await transport.run(self.status_op(export_id))

    def download(self, export_id: str, sink: IO[bytes], progress: TransferProgress | None = None) -> int:
        """Stream the finished export's file into ``sink``; returns the byte count. ``progress``
        (optional) counts the bytes and learns the file's size from the vendor's answer."""
        transport = self.sync_transport()
        request = transport.run(self.download_op(export_id))
        return transport.download(request, sink, progress)

    def fetch_log(self, export_id: str) -> str:
        """The export's log as text."""
        return self.sync_transport().run(self.log_op(export_id))

    def cancel(self, export_id: str) -> bool:
        """Ask the vendor to cancel the export; returns whether it accepted."""
        return self.sync_transport().run(self.cancel_op(export_id))

    async def acancel(self, export_id: str) -> bool:
        """Async :meth:`cancel`, for the triggerer."""
        transport = await self.async_transport()
        return await transport.run(self.cancel_op(export_id))

    def test_connection(self) -> tuple[bool, str]:
        """Log in and make one read-only call; a message a person can act on, never a secret."""
        try:
            message = self.sync_transport().run(self.check_op())
        except ExportError as exc:
            return False, f"{self.vendor}: {explain(exc)}"
        except Exception as exc:  # noqa: BLE001 - the UI must get a message, not a traceback
            return False, f"{self.vendor}: unexpected {type(exc).__name__}: {exc}"
        return True, message

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()


#: How long waits starting on one event loop share a connection lookup.
CONNECTION_REUSE_SECONDS = 10.0
_LOOKUPS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, tuple[float, asyncio.Future[Connection]]]
] = weakref.WeakKeyDictionary()


async def alookup_connection(conn_id: str) -> Connection:
    """Look a connection up from async code without blocking the event loop.

    Waits that start on one event loop within ``CONNECTION_REUSE_SECONDS`` share one lookup:
    5,000 waits handed to a triggerer at once made 5,000 identical lookups, ~0.9 ms of CPU each
    (on a real triggerer each is also a round trip to its supervisor). The lookup runs in the
    first caller's own task (its context, as Airflow expects); the others await its result. A
    failed lookup is not reused; an edited connection is seen by waits that start after the window.
    """
    loop = asyncio.get_running_loop()
    lookups = _LOOKUPS.setdefault(loop, {})
    while True:
        now = time.monotonic()
        entry = lookups.get(conn_id)
        if entry is None or now - entry[0] >= CONNECTION_REUSE_SECONDS:
            break
        try:
            return await asyncio.shield(entry[1])
        except _LookupAbandoned:
            continue  # its first caller was cancelled: look it up again
    shared: asyncio.Future[Connection] = loop.create_future()
    lookups[conn_id] = (now, shared)
    try:
        conn = await _lookup_connection(conn_id)
    except BaseException as exc:
        if lookups.get(conn_id, (0.0, None))[1] is shared:
            del lookups[conn_id]
        # Waiters get the same error (or, if this caller was cancelled, look it up themselves).
        shared.set_exception(_LookupAbandoned() if isinstance(exc, asyncio.CancelledError) else exc)
        shared.exception()  # retrieved here: no "exception was never retrieved" warning
        raise
    shared.set_result(conn)
    return conn


class _LookupAbandoned(Exception):
    """The caller doing a shared connection lookup was cancelled before it finished."""


async def _lookup_connection(conn_id: str) -> Connection:
    try:
        return await BaseHook.aget_connection(conn_id)
    except AirflowNotFoundException:
        # Under `airflow dags test` the async lookup cannot see connections stored in the
        # metadata DB while the sync one can; run that one in a thread, off the loop.
        return await asyncio.to_thread(BaseHook.get_connection, conn_id)


def explain(exc: ExportError) -> str:
    """A person-readable cause for a failed connection test."""
    from airflow_provider_exports.errors import (
        ExportAuthError,
        ExportNetworkError,
        ExportRequestError,
        TransientError,
    )

    detail = str(exc)
    if isinstance(exc, (ExportRequestError, ExportNetworkError)):
        # The message test_connection() returns names the vendor already.
        detail = detail.removeprefix(f"{exc.vendor}: ")
    if isinstance(exc, ExportRequestError) and exc.status == 403:
        # Logged in, but not allowed: a wrong project / workspace, or missing permissions.
        return (
            f"access was refused ({detail}). Check the region, project or workspace in the "
            "connection, and the user's permissions there."
        )
    if isinstance(exc, ExportAuthError):
        return f"the credentials were rejected ({detail}). Check the password / key in the connection."
    if isinstance(exc, TransientError):
        return (
            f"could not reach the service ({exc.reason}) after retries. Check the host URL and "
            "that this machine can reach it."
        )
    if isinstance(exc, ExportRequestError) and exc.status == 404:
        return f"{detail}. Check the region, project or workspace in the connection."
    return detail
