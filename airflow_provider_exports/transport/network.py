"""A connection's network options (TLS trust, proxy) and what a network failure means: pure.

Both runners ask this module the same questions (which proxy for this URL, which certificates
to trust) and hand it the failures their library raised; so requests and aiohttp honour one
connection identically, and every network message and fix is written once, here.

A connection's extra may hold:

- ``verify``: ``false`` turns TLS certificate checks off (one warning per connection);
- ``ca_bundle``: the CA certificates to trust, a file path or the PEM text itself;
- ``proxy``: ``http://[user:password@]host:port`` (or ``https://``), for every request;
- ``no_proxy``: hosts reached directly, as in ``NO_PROXY`` (``example.com``, ``.corp``,
  ``10.0.0.0/8``, ``host:8443``, ``*``).

What the connection leaves unset comes from the environment, as requests reads it:
``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` and ``NO_PROXY``; ``REQUESTS_CA_BUNDLE`` or
``CURL_CA_BUNDLE``; else the system trust store (where OpenSSL honours ``SSL_CERT_FILE`` and
``SSL_CERT_DIR``).
"""

from __future__ import annotations

import functools
import os
import re
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, unquote, urlsplit

from airflow_provider_exports.errors import ExportConfigError, ExportNetworkError, TransientError

if TYPE_CHECKING:
    import ipaddress

#: The extra fields every connection type accepts for its network.
NETWORK_EXTRAS = ("verify", "ca_bundle", "proxy", "no_proxy")
_PEM_MARK = "-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class Trust:
    """Which certificates a TLS connection accepts; ``source`` names where that came from."""

    verify: bool = True
    #: A CA file or directory; or the PEM text itself (``ca_pem``); neither: the system store.
    ca_file: str | None = None
    ca_pem: str | None = field(default=None, repr=False)
    source: str = "the system trust store"
    #: Whether the system store (with ``SSL_CERT_FILE``/``SSL_CERT_DIR``) is trusted besides.
    with_system: bool = False


@dataclass(frozen=True)
class Proxy:
    """A forward proxy: its URL without credentials, and the credentials apart."""

    url: str
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    #: Where it was set: "the connection's proxy" or the environment variable's name.
    source: str = "the connection's proxy"

    @classmethod
    def parse(cls, value: str, source: str) -> Proxy:
        """A proxy from its URL (``http://user:password@host:port``); a clear error if invalid."""
        text = value.strip()
        if "://" not in text:
            text = "http://" + text  # as requests and curl read a bare host:port
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ExportConfigError(
                f"{source}: a proxy is an http:// or https:// URL such as "
                f"http://proxy.example:3128, not {_without_credentials(text)!r}"
            )
        try:
            port = parts.port
        except ValueError:
            raise ExportConfigError(f"{source}: the proxy's port is not a number") from None
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        url = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return cls(url, username, password, source)

    def with_credentials(self) -> str:
        """The URL with its credentials in it (what requests takes)."""
        if self.username is None:
            return self.url
        scheme, rest = self.url.split("://", 1)
        userinfo = quote(self.username, safe="") + (
            ":" + quote(self.password, safe="") if self.password is not None else ""
        )
        return f"{scheme}://{userinfo}@{rest}"

    def described(self) -> str:
        """For messages: the URL without credentials, and where it was set."""
        return f"{self.url} (from {self.source})"


@dataclass(frozen=True)
class Route:
    """How one URL is reached: through ``proxy`` or directly."""

    proxy: Proxy | None


@dataclass(frozen=True)
class Network:
    """A connection's network options, read once with the rest of its settings."""

    verify: bool = True
    ca_bundle: str | None = field(default=None, repr=False)
    proxy: Proxy | None = None
    no_proxy: tuple[str, ...] = ()
    #: Names the connection in messages.
    where: str = "the connection"
    #: Each origin's route, decided once per instance (a hook's life): a poll pays a dict lookup.
    _routes: dict[str, Route] = field(default_factory=dict, compare=False, repr=False, hash=False)

    @classmethod
    def from_extras(cls, get: Callable[[str], Any], where: str) -> Network:
        """Read the options from a connection's extra (``get(name)`` returns a value or None)."""
        verify = _boolean(get("verify"), f"{where}: verify")
        ca_bundle = get("ca_bundle")
        if ca_bundle is not None:
            ca_bundle = str(ca_bundle).strip() or None
        if ca_bundle is not None and _PEM_MARK not in ca_bundle and not os.path.exists(ca_bundle):
            raise ExportConfigError(
                f"{where}: ca_bundle {ca_bundle!r} is neither PEM text (-----BEGIN CERTIFICATE-----) "
                f"nor a file on this machine ({socket.gethostname()}); every worker and triggerer "
                "needs it, or put the PEM text itself in the connection's extra"
            )
        proxy_text = get("proxy")
        proxy = None
        if proxy_text not in (None, ""):
            proxy = Proxy.parse(str(proxy_text), f"the proxy of {where}")
        no_proxy = _patterns(str(get("no_proxy") or ""))
        return cls(verify, ca_bundle, proxy, no_proxy, where)

    def secrets(self) -> tuple[str, ...]:
        """Values to mask in logs: the proxy's password and its URL with the password in it."""
        if self.proxy is None or not self.proxy.password:
            return ()
        return (self.proxy.password, self.proxy.with_credentials())

    def trust(self, environ: Mapping[str, str] = os.environ) -> Trust:
        """The certificates to trust: the connection's ``verify``/``ca_bundle``, else the
        environment's bundle, else the system store."""
        if not self.verify:
            return Trust(verify=False, source=f"verify=false on {self.where}")
        if self.ca_bundle is not None:
            source = f"the ca_bundle of {self.where}"
            if _PEM_MARK in self.ca_bundle:
                return Trust(ca_pem=self.ca_bundle, source=source)
            return Trust(ca_file=self.ca_bundle, source=f"{source} ({self.ca_bundle})")
        # The variables of requests users and of OpenSSL users both keep working: a bundle named
        # by REQUESTS_CA_BUNDLE is trusted besides the system store, which honours SSL_CERT_FILE.
        system = "the system trust store"
        for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
            if environ.get(name):
                system = f"{name} ({environ[name]}) and the system trust store"
                break
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            value = environ.get(name)
            if value:
                return Trust(ca_file=value, source=f"{name} ({value}) and {system}", with_system=True)
        return Trust(source=system)

    def route(self, url: str, environ: Mapping[str, str] | None = None) -> Route:
        """Whether ``url`` goes through a proxy, and which: the connection's (minus its
        ``no_proxy``), else the environment's (``os.environ`` unless given; minus ``no_proxy``
        and ``NO_PROXY``)."""
        if environ is not None:
            return self._route(url, environ)
        origin = "/".join(url.split("/", 3)[:3])
        found = self._routes.get(origin)
        if found is None:
            found = self._routes[origin] = self._route(url, os.environ)
        return found

    def _route(self, url: str, environ: Mapping[str, str]) -> Route:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if self.proxy is not None:
            return Route(None if bypassed(host, port, self.no_proxy) else self.proxy)
        return _env_route(parts.scheme, host, port, self.no_proxy, _env_proxy_settings(environ))


def _env_proxy_settings(environ: Mapping[str, str]) -> tuple[str | None, ...]:
    # Lower case first, as curl and requests read them.
    def var(name: str) -> str | None:
        return environ.get(name.lower()) or environ.get(name.upper()) or None

    return (var("https_proxy"), var("http_proxy"), var("all_proxy"), var("no_proxy"))


@functools.lru_cache(maxsize=1024)
def _env_route(
    scheme: str, host: str, port: int, no_proxy: tuple[str, ...], env: tuple[str | None, ...]
) -> Route:
    https, http, every, env_no_proxy = env
    name, value = ("HTTPS_PROXY", https) if scheme == "https" else ("HTTP_PROXY", http)
    if not value and every:
        name, value = "ALL_PROXY", every
    if not value or value.lower().startswith("socks"):
        return Route(None)
    if bypassed(host, port, no_proxy + _patterns(env_no_proxy or "")):
        return Route(None)
    return Route(Proxy.parse(value, name))


def _patterns(text: str) -> tuple[str, ...]:
    return tuple(p.strip().lower() for p in text.replace(" ", ",").split(",") if p.strip())


def bypassed(host: str, port: int, patterns: tuple[str, ...]) -> bool:
    """Whether ``host:port`` is reached directly by a ``NO_PROXY`` list: ``*``; a domain and its
    subdomains (``example.com``, ``.example.com``, ``*.example.com``); an IP or a network
    (``10.0.0.0/8``); any of these with ``:port`` for that port only."""
    host = host.strip("[]").lower().rstrip(".")
    address = _ip(host)
    for pattern in patterns:
        if pattern == "*":
            return True
        name, _, only_port = _split_port(pattern)
        if only_port is not None and only_port != port:
            continue
        if address is not None and "/" in name:
            import ipaddress

            try:
                if address in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = name.removeprefix("*").lstrip(".").strip("[]").rstrip(".")
        if name and (host == name or (address is None and host.endswith("." + name))):
            return True
    return False


def _split_port(pattern: str) -> tuple[str, str, int | None]:
    if pattern.startswith("["):  # [::1]:8443
        name, _, rest = pattern[1:].partition("]")
        return name, "", int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    name, sep, port = pattern.rpartition(":")
    if sep and port.isdigit() and ":" not in name:
        return name, sep, int(port)
    return pattern, "", None


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not host or not (host[0].isdigit() or ":" in host):
        return None  # a name: no need to import ipaddress for it
    import ipaddress

    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _boolean(value: Any, what: str) -> bool:
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ExportConfigError(f"{what} is true or false, not {value!r}")


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


# ---- failures ------------------------------------------------------------------------------------

ProblemKind = Literal["certificate", "hostname", "protocol", "proxy_auth", "unknown_host"]

# OpenSSL reasons for "no TLS in common": a version or cipher mismatch, or TLS spoken to a port
# that does not speak it. Resets and EOFs during a handshake are not here: those are transient.
_PROTOCOL_REASONS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "UNSUPPORTED_PROTOCOL",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "NO_PROTOCOLS_AVAILABLE",
        "VERSION_TOO_LOW",
        "VERSION_TOO_HIGH",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "NO_SHARED_CIPHER",
        "NO_CIPHERS_AVAILABLE",
        "TLSV1_ALERT_INSUFFICIENT_SECURITY",
        "UNSAFE_LEGACY_RENEGOTIATION_DISABLED",
        "PACKET_LENGTH_TOO_LONG",
        "RECORD_LAYER_FAILURE",
    }
)
# X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_NAME_MISMATCH_CODES = frozenset({62, 64})


class NetworkProblem(Exception):
    """A runner's report of a failure that retrying will not fix (an unknown host only after
    one retry): the engine turns it into an :class:`ExportNetworkError` that says the fix."""

    def __init__(
        self, kind: ProblemKind, detail: str, host: str, port: int, route: Route, *, at_proxy: bool = False
    ) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        #: Who failed: the vendor's host, or (``at_proxy``) the proxy's.
        self.host = host
        self.port = port
        self.route = route
        self.at_proxy = at_proxy

    @property
    def peer_route(self) -> Route:
        """How to reach the party that failed: the proxy directly, or the vendor as the call went."""
        return Route(None) if self.at_proxy else self.route

    @property
    def wants_certificate(self) -> bool:
        """Whether the message gains from the certificate the server presents."""
        return self.kind in ("certificate", "hostname")

    def as_transient(self, what: str) -> TransientError:
        """The same failure as a retryable one (an unknown host's first failure)."""
        return TransientError(what, f"unknown host {self.host} ({self.detail})", sent=False)


def problem_in(exc: BaseException, url: str, route: Route) -> NetworkProblem | None:
    """The permanent network problem inside a library's exception, if there is one.

    requests and aiohttp both wrap the standard library's errors (``ssl``, ``socket``): they
    are found by walking the exception's arguments, causes and contexts.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    found = _find_problem(exc)
    if found is None:
        return None
    kind, detail = found
    at_proxy = route.proxy is not None and (kind == "proxy_auth" or _failed_at_proxy(exc, route.proxy))
    if at_proxy and route.proxy is not None:
        host, port = _host_port(route.proxy.url)
    return NetworkProblem(kind, detail, host, port, route, at_proxy=at_proxy)


def _failed_at_proxy(exc: BaseException, proxy: Proxy) -> bool:
    """Whether a TLS failure was the https:// proxy's own handshake, not the vendor's through it:
    urllib3 wraps what fails before the proxy is connected in a ``ProxyError``; aiohttp names the
    proxy's host and port in its connection key."""
    host, port = _host_port(proxy.url)
    for error in _chain(exc):
        if type(error).__name__ == "ProxyError":
            return True
        key = error.args[0] if error.args else None
        if getattr(key, "host", None) == host and getattr(key, "port", None) == port:
            return True
    return False


def _find_problem(exc: BaseException) -> tuple[ProblemKind, str] | None:
    for error in _chain(exc):
        # aiohttp's ClientConnectorCertificateError is one too, wrapping the real one: skip it.
        if isinstance(error, ssl.SSLCertVerificationError) and hasattr(error, "verify_code"):
            detail = error.verify_message or error.reason or str(error)
            mismatch = error.verify_code in _NAME_MISMATCH_CODES or "mismatch" in detail.lower()
            return ("hostname" if mismatch else "certificate"), detail
        reason = getattr(error, "reason", None)
        if isinstance(error, ssl.SSLError) and isinstance(reason, str) and reason in _PROTOCOL_REASONS:
            return "protocol", reason
        if isinstance(error, socket.gaierror):
            return "unknown_host", error.strerror or str(error)
        refusal = _proxy_refusal(error)
        if refusal is not None:
            return "proxy_auth", refusal
    return None


def _proxy_refusal(error: BaseException) -> str | None:
    """The proxy's answer to a tunnel (CONNECT) it refused for want of credentials: 407, or 401
    as tinyproxy answers wrong ones. aiohttp raises ``ClientHttpProxyError`` with the status;
    requests an ``OSError("Tunnel connection failed: 407 ...")`` from http.client."""
    status = getattr(error, "status", None)
    if status in (401, 407) and "Proxy" in type(error).__name__:
        return f"the proxy answered HTTP {status}"
    match = _TUNNEL_REFUSED.search(str(error))
    return f"the proxy answered HTTP {match.group(1)}" if match else None


_TUNNEL_REFUSED = re.compile(r"Tunnel connection failed: (40[17][^'\")]*)")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and every exception it carries, breadth first, each once."""
    queue: list[object] = [exc]
    seen: set[int] = set()
    while queue:
        item = queue.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        queue.extend(item.args)
        queue.extend((item.__cause__, item.__context__, getattr(item, "reason", None)))
        queue.extend((getattr(item, "os_error", None), getattr(item, "certificate_error", None)))


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True)
class CertificateSeen:
    """The certificate a server presented, as read without trusting it."""

    subject: str
    issuer: str
    names: tuple[str, ...]
    not_after: str
    expired: bool


def network_error(
    vendor: str, what: str, problem: NetworkProblem, trust: Trust, seen: CertificateSeen | None
) -> ExportNetworkError:
    """The error a person reads: what failed, what was seen, and which option fixes it."""
    where = f"{problem.host}:{problem.port}"
    via = ""
    if problem.at_proxy and problem.kind != "proxy_auth":
        where = f"the proxy {where}"
    elif problem.route.proxy is not None:
        via = f" through the proxy {problem.route.proxy.described()}"
    shown = ""
    if seen is not None:
        shown = (
            f" The server presented a certificate for {seen.subject}"
            f"{' (names: ' + ', '.join(seen.names) + ')' if seen.names else ''}, issued by {seen.issuer}"
            f"{', expired ' + seen.not_after if seen.expired else ''}."
        )
    if problem.kind == "certificate":
        if seen is not None and seen.expired:
            fix = "the server's certificate has expired: its owner must renew it."
        else:
            fix = (
                "set ca_bundle on the connection to the CA certificate that issued it (a file "
                "path or the PEM text; behind a TLS-inspecting corporate proxy, that proxy's CA), "
                "or REQUESTS_CA_BUNDLE for every connection; verify=false only for a test system."
            )
        text = (
            f"the TLS certificate of {where}{via} is not trusted ({problem.detail}).{shown} "
            f"Trusted here: {trust.source}. Fix: {fix}"
        )
    elif problem.kind == "hostname":
        text = (
            f"the TLS certificate of {where}{via} is not valid for {problem.host} "
            f"({problem.detail}).{shown} Fix: use a host name the certificate names in the "
            "connection's host URL; verify=false would also hide an interception."
        )
    elif problem.kind == "protocol":
        text = (
            f"no TLS in common with {where}{via} ({problem.detail}). Fix: if that port does not "
            "speak TLS, the connection's host URL needs http:// or another port (or the proxy URL "
            "http:// instead of https://); otherwise the server must offer TLS 1.2 or newer."
        )
    elif problem.kind == "proxy_auth":
        proxy = problem.route.proxy
        text = (
            f"the proxy {proxy.described() if proxy else where} refused the credentials "
            f"({problem.detail}). Fix: the user and password in the proxy URL "
            "(http://user:password@host:port) on the connection's proxy, or in HTTPS_PROXY."
        )
    else:
        text = (
            f"the host {problem.host} is unknown: its DNS lookup failed twice ({problem.detail}). "
            "Fix: the host in the connection; a machine that reaches the internet only through a "
            "proxy needs proxy on the connection, or HTTPS_PROXY."
        )
    return ExportNetworkError(vendor, what, kind=problem.kind, host=problem.host, message=text)
