"""Look at the certificate a local port serves for a name, and ask it for one path.

Used for use_ssl_le, whose certificate names JH_FQDN, which may not resolve to
this host from here. This reads the certificate, it does not trust it: nothing
secret is sent over the connection.
"""

from __future__ import annotations

import datetime
import socket
import ssl
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from jhdeploy import certs


@dataclass(frozen=True)
class Served:
    status: int | None  # HTTP status of the request, None if the connection failed
    certificate: x509.Certificate | None


def fetch(port: int, server_name: str, path: str = "/hub/health", address: str = "127.0.0.1",
          timeout: float = 5) -> Served:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # we only read the certificate; see the module docstring
    try:
        with socket.create_connection((address, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=server_name) as tls:
            der = tls.getpeercert(binary_form=True)
            request = f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n"
            tls.sendall(request.encode())
            status_line = tls.recv(64).split(b"\r\n", 1)[0].split()
            status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else None
    except (OSError, ssl.SSLError):
        return Served(None, None)
    return Served(status, x509.load_der_x509_certificate(der) if der else None)


def names(certificate: x509.Certificate) -> list[str]:
    """The host names it is for (an ACME certificate names no address)."""
    return certs.names_in(certificate, kinds=(x509.DNSName,))


def describe(certificate: x509.Certificate, now: datetime.datetime | None = None) -> tuple[str, bool]:
    """One line about the certificate, and whether it expires within 14 days."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    issuer = certificate.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    expires = certificate.not_valid_after_utc
    days = (expires - now).days
    line = (f"issued by {issuer[0].value if issuer else certificate.issuer.rfc4514_string()} "
            f"for {', '.join(names(certificate)) or '(no names)'}, expires {expires:%Y-%m-%d} ({days} days)")
    return line, days < 14
