"""APNs credentials: a .p8 signing key (token auth) or a TLS client certificate.

Secrets stay out of reprs and logs: a credential prints its key id and team id only.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import ssl
import string
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from ringpush.apns.errors import CredentialsError

#: Apple's key ids and team ids are 10 characters, upper-case letters and digits.
_APPLE_ID = re.compile(r"^[A-Z0-9]{10}$")
_ID_ALPHABET = string.ascii_uppercase + string.digits


def check_apple_id(value: str, what: str) -> str:
    if not _APPLE_ID.fullmatch(value):
        raise CredentialsError(f"{what} must be 10 upper-case letters or digits, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class TokenCredentials:
    """A .p8 signing key with its key id and team id, for ES256 provider tokens."""

    key_id: str
    team_id: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False, compare=False)

    @classmethod
    def from_pem(cls, pem: bytes | str, key_id: str, team_id: str) -> TokenCredentials:
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise CredentialsError(f"signing key is not a PEM private key: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise CredentialsError("signing key must be an EC P-256 key (Apple's .p8 format)")
        return cls(check_apple_id(key_id, "key id"), check_apple_id(team_id, "team id"), key)

    @classmethod
    def from_p8_file(cls, path: str | Path, key_id: str, team_id: str) -> TokenCredentials:
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise CredentialsError(f"cannot read signing key {path}: {exc.strerror}") from None
        return cls.from_pem(pem, key_id, team_id)

    @property
    def identity(self) -> str:
        """Names the credential for pooling and metrics without revealing the key."""
        return f"token:{self.team_id}:{self.key_id}"

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the public key: tells two keys apart that share a key id (a
        replaced .p8 uploaded under the old id), without revealing either."""
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(der).hexdigest()

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


@dataclass(frozen=True, slots=True)
class CertificateCredentials:
    """A TLS client certificate and its private key, both PEM."""

    certificate_pem: bytes = field(repr=False)
    key_pem: bytes = field(repr=False)
    name: str = "certificate"

    @classmethod
    def from_files(
        cls, cert_file: str | Path, key_file: str | Path | None = None
    ) -> CertificateCredentials:
        """Load a PEM certificate and key (the key may be in the certificate file)."""
        try:
            cert = Path(cert_file).read_bytes()
            key = Path(key_file).read_bytes() if key_file is not None else cert
        except OSError as exc:
            raise CredentialsError(f"cannot read certificate: {exc}") from None
        return cls(cert, key, Path(cert_file).name)

    @classmethod
    def from_p12(cls, data: bytes, password: bytes | None = None) -> CertificateCredentials:
        try:
            key, cert, _ = pkcs12.load_key_and_certificates(data, password)
        except ValueError as exc:
            raise CredentialsError(f"cannot read .p12: {exc}") from None
        if key is None or cert is None:
            raise CredentialsError(".p12 holds no certificate and key")
        return cls(
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            cert.subject.rfc4514_string(),
        )

    @property
    def identity(self) -> str:
        return f"certificate:{self.name}"

    def load_into(self, context: ssl.SSLContext) -> None:
        """Install the certificate on a client TLS context.

        ``ssl`` loads chains from files only, so the PEM goes through a private temporary
        file (mode 0600) that is removed at once.
        """
        fd, path = tempfile.mkstemp(suffix=".pem")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(self.certificate_pem + b"\n" + self.key_pem)
            try:
                context.load_cert_chain(path)
            except ssl.SSLError as exc:
                raise CredentialsError(f"certificate and key do not load: {exc}") from None
        finally:
            os.unlink(path)


Credentials = TokenCredentials | CertificateCredentials


@dataclass(frozen=True, slots=True)
class GeneratedKey:
    key_id: str
    team_id: str
    pem: bytes = field(repr=False)


def generate_signing_key(team_id: str | None = None) -> GeneratedKey:
    """A new Apple-style signing key: P-256, PKCS#8 PEM, random 10-character ids."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return GeneratedKey(
        key_id=random_apple_id(),
        team_id=check_apple_id(team_id, "team id") if team_id else random_apple_id(),
        pem=pem,
    )


def random_apple_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))
