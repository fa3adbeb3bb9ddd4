"""TLS for both runners: the ``SSLContext`` of a :class:`~.network.Trust`, and the certificate
a server presents, read without trusting it (only to explain a failed verification)."""

from __future__ import annotations

import datetime
import functools
import os
import socket
import ssl
from base64 import b64encode
from urllib.parse import urlsplit

from airflow_provider_exports.transport.network import CertificateSeen, Route, Trust


@functools.lru_cache(maxsize=64)
def context_for(trust: Trust) -> ssl.SSLContext:
    """One context per trust and process: both runners pool connections by it.

    The system store is Python's default (OpenSSL reads ``SSL_CERT_FILE``/``SSL_CERT_DIR``);
    where a machine has none, certifi's bundle (which requests brings) stands in.
    """
    if not trust.verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if trust.ca_pem is not None:
        return ssl.create_default_context(cadata=trust.ca_pem)
    if trust.ca_file is not None and not trust.with_system:
        return _only(trust.ca_file)
    context = ssl.create_default_context()
    if not context.cert_store_stats().get("x509_ca") and not _has_ca_dir():
        import certifi

        context.load_verify_locations(cafile=certifi.where())
    if trust.ca_file is not None:
        _load(context, trust.ca_file)
    return context


def _only(path: str) -> ssl.SSLContext:
    """A context trusting only the CA file or directory at ``path``."""
    if os.path.isdir(path):
        return ssl.create_default_context(capath=path)
    return ssl.create_default_context(cafile=path)


def _load(context: ssl.SSLContext, path: str) -> None:
    if os.path.isdir(path):
        context.load_verify_locations(capath=path)
    else:
        context.load_verify_locations(cafile=path)


def _has_ca_dir() -> bool:
    # A hashed directory (Debian's /etc/ssl/certs) loads lazily: the stats count it as empty.
    paths = ssl.get_default_verify_paths()
    return bool(paths.capath and os.path.isdir(paths.capath) and os.listdir(paths.capath))


def peer_certificate(host: str, port: int, route: Route, timeout: float) -> CertificateSeen | None:
    """The certificate ``host:port`` presents (through the route's proxy, as the call went), or
    None if it cannot be read: this only adds detail to an error already decided."""
    try:
        with _connect(host, port, route, timeout) as raw:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            with context.wrap_socket(raw, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ValueError):
        return None
    return describe(der) if der else None


def _connect(host: str, port: int, route: Route, timeout: float) -> socket.socket:
    proxy = route.proxy
    if proxy is None:
        return socket.create_connection((host, port), timeout=timeout)
    parts = urlsplit(proxy.url)
    proxy_host = parts.hostname or ""
    default_port = 443 if parts.scheme == "https" else 80
    sock = socket.create_connection((proxy_host, parts.port or default_port), timeout=timeout)
    if parts.scheme == "https":
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=proxy_host)
    lines = [f"CONNECT {host}:{port} HTTP/1.1", f"Host: {host}:{port}"]
    if proxy.username is not None:
        token = b64encode(f"{proxy.username}:{proxy.password or ''}".encode()).decode()
        lines.append(f"Proxy-Authorization: Basic {token}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    if head.split(b" ", 2)[1:2] != [b"200"]:
        sock.close()
        raise OSError("the proxy refused the tunnel")
    return sock


def describe(der: bytes) -> CertificateSeen:
    """Subject, issuer, names and expiry of a DER certificate."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    try:
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(
            [
                *alt.get_values_for_type(x509.DNSName),
                *(str(ip) for ip in alt.get_values_for_type(x509.IPAddress)),
            ]
        )
    except x509.ExtensionNotFound:
        names = ()
    not_after = cert.not_valid_after_utc
    return CertificateSeen(
        subject=cert.subject.rfc4514_string() or "(no subject)",
        issuer=cert.issuer.rfc4514_string() or "(no issuer)",
        names=names,
        not_after=not_after.strftime("%Y-%m-%d %H:%M UTC"),
        expired=not_after < datetime.datetime.now(datetime.timezone.utc),
    )
