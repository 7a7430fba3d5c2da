"""TLS contexts for the sandbox's listeners and for clients that talk to them.

The server speaks TLS 1.2+ with ALPN ``h2`` only, like APNs, and asks for a client
certificate without requiring one (``CERT_OPTIONAL``): a connection that presents a
certificate signed by the sandbox CA is a certificate connection, any other is a token
connection. ``ssl`` loads certificate chains from files only, so the PEMs go into a
private directory the sandbox removes at stop.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

from ringpush.sandbox.certificates import CertificateAuthority, IssuedCertificate


def server_context(
    ca: CertificateAuthority, server: IssuedCertificate, workdir: Path
) -> ssl.SSLContext:
    chain = workdir / "server.pem"
    fd = os.open(chain, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(server.certificate_pem + server.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(chain)
    context.set_alpn_protocols(["h2"])
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(cadata=ca.certificate_pem.decode())
    return context


def client_context(
    ca_pem: bytes, certificate: IssuedCertificate | None = None, workdir: Path | None = None
) -> ssl.SSLContext:
    """A client context trusting the sandbox CA, optionally presenting a client certificate."""
    context = ssl.create_default_context(cadata=ca_pem.decode())
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2"])
    if certificate is not None:
        if workdir is None:
            raise ValueError("a client certificate needs a private directory to load from")
        path = workdir / f"client-{certificate.serial:x}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(certificate.certificate_pem + certificate.key_pem)
        try:
            context.load_cert_chain(path)
        finally:
            path.unlink()
    return context
