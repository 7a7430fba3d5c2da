"""Firebase projects and their service accounts, as the local FCM knows them.

A project has an id (``my-app``) and a number (its FCM sender id); the send URL takes
either (docs/fcm.md §1). A service account belongs to one project and signs
its token requests with an RSA key named by ``private_key_id``; the sandbox keeps only
the public half, since it verifies, never signs. It issues key files in the form Google
hands out (§3), with ``token_uri`` pointing at the sandbox, and accepts key files made
elsewhere (:func:`parse_service_account`), so a test may bring its own.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

#: Google's rule for project ids: 6 to 30 lower-case letters, digits and hyphens, from a
#: letter, not ending in a hyphen.
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
#: The fields google-auth and the Admin SDK read from a key file (§3).
REQUIRED_FIELDS = ("type", "project_id", "private_key_id", "private_key", "client_email")
AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
ROBOT_CERTS_URL = "https://www.googleapis.com/robot/v1/metadata/x509/"


class ServiceAccountError(ValueError):
    """A key file the sandbox cannot use; the message says which field is wrong."""


@dataclass(frozen=True, slots=True)
class Project:
    project_id: str
    #: The project number: FCM's sender id, 12 digits.
    number: str


@dataclass(frozen=True, slots=True)
class AccountKey:
    """One service-account key: whose it is and the public half that checks its JWTs."""

    key_id: str
    client_email: str
    project_id: str
    public_key: rsa.RSAPublicKey = field(repr=False)


class Projects:
    """Projects by id and by number; a project exists once something names it."""

    def __init__(self) -> None:
        self._by_id: dict[str, Project] = {}
        self._by_number: dict[str, Project] = {}

    def ensure(self, project_id: str) -> Project:
        project = self._by_id.get(project_id)
        if project is None:
            if not PROJECT_ID.fullmatch(project_id):
                raise ValueError(
                    f"project id {project_id!r}: 6-30 lower-case letters, digits or hyphens,"
                    " from a letter"
                )
            number = self._fresh_number()
            project = self._by_id[project_id] = self._by_number[number] = Project(
                project_id, number
            )
        return project

    def _fresh_number(self) -> str:
        while True:
            number = str(100_000_000_000 + secrets.randbelow(900_000_000_000))
            if number not in self._by_number:
                return number

    def resolve(self, id_or_number: str) -> Project | None:
        """The project a send URL names, by id or by number; None if unknown."""
        return self._by_id.get(id_or_number) or self._by_number.get(id_or_number)

    def all(self) -> list[Project]:
        return list(self._by_id.values())


class Accounts:
    """The service-account keys whose JWTs the token endpoint accepts."""

    def __init__(self) -> None:
        self._keys: dict[str, AccountKey] = {}
        self._emails: dict[str, str] = {}

    def add(self, key: AccountKey) -> None:
        """Accept ``key``; an account's email belongs to one project for good."""
        known = self._emails.get(key.client_email)
        if known is not None and known != key.project_id:
            raise ServiceAccountError(
                f"{key.client_email} is already an account of project {known!r}"
            )
        self._emails[key.client_email] = key.project_id
        self._keys[key.key_id] = key

    def project_of(self, client_email: str) -> str | None:
        """The account's project, or None for an email no key was registered for."""
        return self._emails.get(client_email)

    def key(self, key_id: str) -> AccountKey | None:
        return self._keys.get(key_id)

    def keys_of(self, client_email: str) -> list[AccountKey]:
        return [k for k in self._keys.values() if k.client_email == client_email]

    def all(self) -> list[AccountKey]:
        return list(self._keys.values())


def new_service_account(project_id: str, token_uri: str) -> tuple[dict[str, Any], AccountKey]:
    """A key file as Google issues one (RSA 2048, PKCS#8) and the key the sandbox keeps."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    email = f"firebase-adminsdk-{secrets.token_hex(3)[:5]}@{project_id}.iam.gserviceaccount.com"
    key_id = secrets.token_hex(20)
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": email,
        "client_id": str(10**20 + secrets.randbelow(9 * 10**20)),
        "auth_uri": AUTH_URI,
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": CERTS_URL,
        "client_x509_cert_url": ROBOT_CERTS_URL + quote(email, safe=""),
        "universe_domain": "googleapis.com",
    }
    return info, AccountKey(key_id, email, project_id, private.public_key())


def parse_service_account(info: Mapping[str, Any] | str | bytes) -> AccountKey:
    """The key a key file (JSON text or its parsed object) holds.

    ``private_key`` may also be a public key PEM: the sandbox needs only that half.
    """
    if isinstance(info, str | bytes):
        try:
            info = json.loads(info)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ServiceAccountError(f"the key file is not JSON: {exc}") from None
    if not isinstance(info, Mapping):
        raise ServiceAccountError("the key file must be a JSON object")
    for name in REQUIRED_FIELDS:
        if not isinstance(info.get(name), str) or not info[name]:
            raise ServiceAccountError(f"{name} is missing or not a string")
    if info["type"] != "service_account":
        raise ServiceAccountError(f"type is {info['type']!r}, not 'service_account'")
    if not PROJECT_ID.fullmatch(info["project_id"]):
        raise ServiceAccountError(f"project_id {info['project_id']!r} is not a project id")
    return AccountKey(
        info["private_key_id"],
        info["client_email"],
        info["project_id"],
        _public_key(info["private_key"]),
    )


def _public_key(pem: str) -> rsa.RSAPublicKey:
    data = pem.encode()
    key: object
    try:
        if b"PUBLIC KEY" in data:
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_pem_private_key(data, password=None).public_key()
    except (ValueError, TypeError) as exc:
        raise ServiceAccountError(f"private_key is not a PEM key: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ServiceAccountError("private_key is not an RSA key (RS256 needs one)")
    return key
