"""The sandbox's own PKI: a CA, the server certificate and client certificates.

Clients must verify the server as they would verify Apple, so the sandbox makes a CA
at start, signs a certificate for ``localhost``, the loopback addresses and Apple's two
host names, and writes the CA where clients can trust it. Client certificates for
certificate-based auth are signed by the same CA with the bundle id as subject UID, the
attribute APNs (and Pushy's mock) reads the topic from.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ringpush.apns.environment import DEVELOPMENT_HOST, PRODUCTION_HOST

SERVER_DNS_NAMES = ("localhost", DEVELOPMENT_HOST, PRODUCTION_HOST)
SERVER_IP_ADDRESSES = ("127.0.0.1", "::1")
#: Long enough for any test run or demo, short enough not to look like a real CA.
VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A certificate and its private key, both PEM; the key stays out of reprs."""

    certificate_pem: bytes
    key_pem: bytes = field(repr=False)
    serial: int = 0


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _window() -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC)
    return now - datetime.timedelta(days=1), now + VALIDITY


class CertificateAuthority:
    """A throw-away CA (P-256) that signs the server's and clients' certificates."""

    def __init__(self, name: str = "ringpush sandbox CA") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        start, end = _window()
        public = self._key.public_key()
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.certificate_pem = self._cert.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def load(cls, certificate_pem: bytes, key_pem: bytes) -> CertificateAuthority:
        """The CA saved by :attr:`key_pem` and :attr:`certificate_pem` (a sandbox that
        keeps its state across restarts keeps its CA, so clients keep trusting it)."""
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the saved CA key is not an EC key")
        authority = cls.__new__(cls)
        authority._key = key
        authority._cert = x509.load_pem_x509_certificate(certificate_pem)
        authority.certificate_pem = certificate_pem
        return authority

    @property
    def key_pem(self) -> bytes:
        return _pem_key(self._key)

    def _leaf(
        self,
        subject: x509.Name,
        usage: x509.ObjectIdentifier,
        san: x509.SubjectAlternativeName | None = None,
    ) -> IssuedCertificate:
        key = ec.generate_private_key(ec.SECP256R1())
        start, end = _window()
        serial = x509.random_serial_number()
        ca_public = self._key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False
            )
        )
        if san is not None:
            builder = builder.add_extension(san, critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return IssuedCertificate(
            cert.public_bytes(serialization.Encoding.PEM), _pem_key(key), serial
        )

    def issue_server_certificate(self) -> IssuedCertificate:
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in SERVER_DNS_NAMES]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in SERVER_IP_ADDRESSES]
        return self._leaf(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DEVELOPMENT_HOST)]),
            ExtendedKeyUsageOID.SERVER_AUTH,
            x509.SubjectAlternativeName(names),
        )

    def issue_client_certificate(self, bundle_id: str) -> IssuedCertificate:
        """A push certificate for ``bundle_id``, named the way Apple names them."""
        if not bundle_id or any(c in bundle_id for c in "\r\n\0"):
            raise ValueError("bundle id must be a non-empty single-line string")
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.USER_ID, bundle_id),
                x509.NameAttribute(NameOID.COMMON_NAME, f"Apple Push Services: {bundle_id}"),
            ]
        )
        return self._leaf(subject, ExtendedKeyUsageOID.CLIENT_AUTH)


def certificate_bundle_id(der: bytes) -> tuple[str, int] | None:
    """The subject UID (bundle id) and serial of a DER client certificate, if it has one."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    uids = cert.subject.get_attributes_for_oid(NameOID.USER_ID)
    if not uids:
        return None
    value = uids[0].value
    uid = value.decode() if isinstance(value, bytes) else value
    return uid, cert.serial_number
