"""Helpers of the FCM tests: key files shaped like the ones Google issues, a clock."""

from __future__ import annotations

import functools
import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TOKEN_URI = "https://oauth2.googleapis.com/token"


def pkcs8(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@functools.cache
def rsa_pem(bits: int = 2048) -> str:
    """One key per size for the whole run: generating RSA keys is slow."""
    return pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=bits))


def key_file(
    pem: str | None = None, *, token_uri: str = TOKEN_URI, **overrides: Any
) -> dict[str, Any]:
    """A key file as Google writes it, every field present (``overrides`` replace)."""
    data: dict[str, Any] = {
        "type": "service_account",
        "project_id": "ringpush-test",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": pem if pem is not None else rsa_pem(),
        "client_email": "fcm-sender@ringpush-test.iam.gserviceaccount.com",
        "client_id": "104242424242424242424",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/fcm-sender",
        "universe_domain": "googleapis.com",
    }
    data.update(overrides)
    return data


class Clock:
    """Seconds since the epoch, moved by the test."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
