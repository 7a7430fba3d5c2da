"""A Google service account, the credential FCM HTTP v1 is sent with (docs/fcm.md §3).

Only what the token exchange needs is kept: the project (the send URL's
``{project}``), the key id (the assertion's ``kid``), the account's e-mail (its ``iss``),
the token endpoint (where it goes, and its ``aud``) and the RSA key that signs it. Each
is checked when the file is read, so a broken key file fails at configuration time with
the field named, not an hour later at the first call. The key stays out of reprs and
logs; :meth:`ServiceAccount.to_json` gives back a key file for sealing at rest, as
ringpush stores APNs ``.p8`` keys.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ringpush.apns.notification import compact_json
from ringpush.fcm.errors import (
    InvalidPrivateKey,
    InvalidServiceAccountField,
    MissingServiceAccountField,
    ServiceAccountError,
)

#: Google's token endpoint, the ``token_uri`` of every real key file.
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
#: Google signs RS256 assertions only with keys of at least this size.
MIN_KEY_BITS = 2048
#: The fields a key file must have, in the order they are checked.
REQUIRED_FIELDS = ("project_id", "private_key_id", "private_key", "client_email", "token_uri")
#: A project id or number: it becomes a path segment of the send URL, so nothing that
#: could leave it (``/``, ``?``, ``%``, spaces). Domain-scoped ids have ``.`` and ``:``.
_PROJECT = re.compile(r"^[a-z0-9][a-z0-9.:-]*$")
_PKCS8 = b"-----BEGIN PRIVATE KEY-----"


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """A service account's identity and signing key, checked when read."""

    project_id: str
    private_key_id: str
    client_email: str
    token_uri: str
    private_key: rsa.RSAPrivateKey = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> ServiceAccount:
        """Read a key file's contents; raises a :class:`ServiceAccountError` naming the
        missing or invalid field."""
        try:
            data = json.loads(text)
        except UnicodeDecodeError:
            raise ServiceAccountError("service account is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            # The message and position only: the text around it may be the private key.
            raise ServiceAccountError(
                f"service account is not JSON: {exc.msg} (line {exc.lineno})"
            ) from None
        if not isinstance(data, dict):
            raise ServiceAccountError("service account must be a JSON object")
        return cls.from_mapping(data)

    @classmethod
    def from_file(cls, path: str | Path) -> ServiceAccount:
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise ServiceAccountError(
                f"cannot read service account {path}: {exc.strerror}"
            ) from None
        return cls.from_json(text)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ServiceAccount:
        kind = data.get("type", "service_account")
        if kind != "service_account":
            # A user's or an external account's credential file, given by mistake.
            raise InvalidServiceAccountField("type", f"must be 'service_account', not {kind!r}")
        values = {name: _string(data, name) for name in REQUIRED_FIELDS}
        if not _PROJECT.fullmatch(values["project_id"]):
            raise InvalidServiceAccountField(
                "project_id", "must be lower-case letters, digits, '-', '.' or ':'"
            )
        if "@" not in values["client_email"]:
            raise InvalidServiceAccountField("client_email", "is not an e-mail address")
        parts = urlsplit(values["token_uri"])
        # The assertion is a bearer credential for an hour: never over plain HTTP.
        if parts.scheme != "https" or not parts.hostname:
            raise InvalidServiceAccountField("token_uri", "must be an https:// URL")
        return cls(
            project_id=values["project_id"],
            private_key_id=values["private_key_id"],
            client_email=values["client_email"],
            token_uri=values["token_uri"],
            private_key=load_private_key(values["private_key"]),
        )

    @property
    def identity(self) -> str:
        """Names the account for pooling, metrics and logs without revealing the key."""
        return f"fcm:{self.project_id}:{self.client_email}:{self.private_key_id}"

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the public key: tells a replaced key apart from the one it replaced,
        for keying a shared access token (:class:`~ringpush.fcm.oauth.AccessTokenStore`)."""
        return hashlib.sha256(self.public_der()).hexdigest()

    def public_der(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_pem(self) -> bytes:
        """The public key, to verify this account's assertions (the sandbox does)."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def to_json(self) -> bytes:
        """A key file that :meth:`from_json` reads back: a secret, to be sealed at rest."""
        return compact_json(
            {
                "type": "service_account",
                "project_id": self.project_id,
                "private_key_id": self.private_key_id,
                "private_key": self.private_pem().decode("ascii"),
                "client_email": self.client_email,
                "token_uri": self.token_uri,
            }
        )


def _string(data: Mapping[str, Any], name: str) -> str:
    if name not in data or data[name] is None:
        raise MissingServiceAccountField(name)
    value = data[name]
    if not isinstance(value, str):
        raise InvalidServiceAccountField(name, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise InvalidServiceAccountField(name, "is empty")
    return value


def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    """The RSA key of a PKCS#8 PEM (``BEGIN PRIVATE KEY``), unencrypted, at least 2048 bits."""
    data = pem.encode() if isinstance(pem, str) else pem
    if _PKCS8 not in data:
        if b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data:
            raise InvalidPrivateKey("is encrypted; Google's key files are not")
        if b"-----BEGIN RSA PRIVATE KEY-----" in data:
            raise InvalidPrivateKey("is PKCS#1 (BEGIN RSA PRIVATE KEY); Google issues PKCS#8")
        raise InvalidPrivateKey("is not a PKCS#8 PEM (BEGIN PRIVATE KEY)")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise InvalidPrivateKey("is encrypted; Google's key files are not") from None
    except ValueError:
        raise InvalidPrivateKey("does not load as a private key (damaged PEM)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidPrivateKey(f"must be an RSA key for RS256, not {type(key).__name__}")
    if key.key_size < MIN_KEY_BITS:
        raise InvalidPrivateKey(f"is {key.key_size} bits, under {MIN_KEY_BITS}")
    return key
