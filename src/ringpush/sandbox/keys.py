"""Signing keys the sandbox accepts provider tokens from (docs/apns.md §4).

APNs knows every key by its 10-character key id, the team that owns it and, for the
newer key model, the environment and topics it may be used for. The sandbox only ever
needs the public half; a private ``.p8`` is accepted for convenience and reduced to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ringpush.apns.credentials import check_apple_id
from ringpush.apns.environment import Environment
from ringpush.apns.errors import CredentialsError


@dataclass(frozen=True, slots=True)
class SandboxKey:
    """A key APNs would verify tokens with.

    ``environment`` None means the key works on both hosts (the classic team key);
    otherwise a token signed with it on the other host gets
    ``403 BadEnvironmentKeyIdInToken``. ``bundle_ids`` None means any of the team's apps;
    otherwise it models a topic-specific key.
    """

    key_id: str
    team_id: str
    public_key: ec.EllipticCurvePublicKey = field(repr=False, compare=False)
    environment: Environment | None = None
    bundle_ids: frozenset[str] | None = None

    @classmethod
    def from_pem(
        cls,
        pem: bytes | str,
        key_id: str,
        team_id: str,
        *,
        environment: Environment | None = None,
        bundle_ids: Iterable[str] | None = None,
    ) -> SandboxKey:
        """Accept a public key PEM or a private ``.p8`` PEM (its public half is kept)."""
        return cls(
            check_apple_id(key_id, "key id"),
            check_apple_id(team_id, "team id"),
            load_public_key(pem),
            environment,
            frozenset(bundle_ids) if bundle_ids is not None else None,
        )

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        key_id: str,
        team_id: str,
        *,
        environment: Environment | None = None,
    ) -> SandboxKey:
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise CredentialsError(f"cannot read key {path}: {exc.strerror}") from None
        return cls.from_pem(pem, key_id, team_id, environment=environment)

    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()


def load_public_key(pem: bytes | str) -> ec.EllipticCurvePublicKey:
    """The P-256 public key in ``pem``, which may hold a public or a private key."""
    data = pem.encode() if isinstance(pem, str) else pem
    key: object
    if b"PRIVATE KEY" in data:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise CredentialsError(f"not a readable private key: {exc}") from None
        if isinstance(key, ec.EllipticCurvePrivateKey):
            key = key.public_key()
    else:
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise CredentialsError(f"not a readable public key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise CredentialsError("APNs keys are EC P-256 (ES256) keys")
    return key


def parse_key_spec(spec: str) -> SandboxKey:
    """Read the CLI's ``PATH:KEYID:TEAMID`` (e.g. ``AuthKey_ABC.p8:ABC1234567:TEAM123456``).

    The two ids are split off the right, so a path may itself contain colons.
    Raises ``ValueError`` (``CredentialsError`` is one) with a message for the user.
    """
    parts = spec.rsplit(":", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"key spec must be PATH:KEYID:TEAMID, got {spec!r}")
    path, key_id, team_id = parts
    return SandboxKey.from_file(path, key_id, team_id)


class KeyRing:
    """The registered keys by key id; ``version`` changes whenever the set changes.

    The JWT cache keys its verdicts on ``version`` so that registering a key makes
    tokens that failed as "unknown kid" verify on their next use.
    """

    def __init__(self, keys: Iterable[SandboxKey] = ()) -> None:
        self._keys: dict[str, SandboxKey] = {}
        self.version = 0
        for key in keys:
            self.add(key)

    def add(self, key: SandboxKey) -> None:
        self._keys[key.key_id] = key
        self.version += 1

    def remove(self, key_id: str) -> bool:
        removed = self._keys.pop(key_id, None) is not None
        if removed:
            self.version += 1
        return removed

    def get(self, key_id: str) -> SandboxKey | None:
        return self._keys.get(key_id)

    def all(self) -> list[SandboxKey]:
        return list(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)
