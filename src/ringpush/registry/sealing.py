"""Secrets at rest: AES-GCM sealing under versioned master keys, keyed lookup hashes.

Device tokens and signing keys are stored sealed; the database never holds them in
plaintext. To find a row by token (de-duplication, 410 clean-up) the store keeps an
HMAC of the token under a separate lookup key, so lookups never need the plaintext
either. Master keys carry ids: a new key can become current while old rows still open
under the key that sealed them (rotation), and the lookup key stays fixed so existing
hashes keep matching.

The master key comes from ``RINGPUSH_SECRET_KEY`` (base64 of 32 bytes) or, when that is
unset, from a key file created on first run with mode 0600.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_KEY_ENV = "RINGPUSH_SECRET_KEY"
_NONCE_BYTES = 12
_FORMAT = b"\x01"


class SealingError(Exception):
    """A sealed value cannot be opened: wrong key, unknown key id, or tampering."""


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=b"ringpush:" + purpose).derive(
        master
    )


class SecretBox:
    """Seals and opens secrets; ``keys`` maps key ids to 32-byte master keys."""

    def __init__(self, keys: Mapping[str, bytes], current: str, lookup: str | None = None) -> None:
        if current not in keys:
            raise ValueError(f"current key id {current!r} is not among the keys")
        for key_id, key in keys.items():
            if len(key) != 32:
                raise ValueError(f"master key {key_id!r} must be 32 bytes, got {len(key)}")
            if not key_id or len(key_id.encode()) > 255:
                raise ValueError("key ids must be 1 to 255 bytes")
        self._aead = {kid: AESGCM(_derive(key, b"seal")) for kid, key in keys.items()}
        self.current = current
        self.lookup_key_id = lookup or current
        if self.lookup_key_id not in keys:
            raise ValueError(f"lookup key id {self.lookup_key_id!r} is not among the keys")
        self._lookup = _derive(keys[self.lookup_key_id], b"lookup")
        self._stable = keys[self.lookup_key_id]

    def derive(self, purpose: str) -> bytes:
        """A 32-byte secret for ``purpose`` that survives restarts and encryption-key
        rotation (it comes from the lookup key), e.g. the user-token signing secret."""
        return _derive(self._stable, purpose.encode())

    def __repr__(self) -> str:
        return f"SecretBox(current={self.current!r}, keys={sorted(self._aead)!r})"

    def seal(self, plaintext: bytes, context: str) -> bytes:
        """Encrypt ``plaintext``; ``context`` (e.g. ``"device-token"``) is authenticated
        so a sealed value cannot be moved to another column and still open."""
        kid = self.current.encode()
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead[self.current].encrypt(nonce, plaintext, context.encode())
        return _FORMAT + bytes((len(kid),)) + kid + nonce + sealed

    def open(self, sealed: bytes, context: str) -> bytes:
        if not sealed or sealed[:1] != _FORMAT or len(sealed) < 2:
            raise SealingError("not a sealed value")
        size = sealed[1]
        kid = sealed[2 : 2 + size].decode(errors="replace")
        aead = self._aead.get(kid)
        if aead is None:
            raise SealingError(f"sealed under unknown key id {kid!r}")
        start = 2 + size
        nonce, body = sealed[start : start + _NONCE_BYTES], sealed[start + _NONCE_BYTES :]
        try:
            return aead.decrypt(nonce, body, context.encode())
        except InvalidTag:
            raise SealingError("sealed value does not open: wrong key or tampered") from None

    def key_id_of(self, sealed: bytes) -> str:
        return sealed[2 : 2 + sealed[1]].decode(errors="replace")

    def lookup_hash(self, value: bytes, context: str) -> str:
        """A stable keyed hash for finding rows without the plaintext."""
        return hmac.new(self._lookup, context.encode() + b"\0" + value, hashlib.sha256).hexdigest()


class StateFileError(ValueError):
    """A key or state file (or the variable standing in for it) that cannot be used: the
    message says which and why, in one line, for the operator."""


def private_dir(path: Path) -> None:
    """Create ``path`` (and parents) for secrets: the directory itself is 0700."""
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)


def check_private_file(path: Path) -> None:
    """Refuse a secret file that others may read (as ssh does)."""
    if path.stat().st_mode & 0o077:
        raise StateFileError(f"{path} is readable by others: chmod 600 it")


def load_secret_box(key_file: Path, environ: Mapping[str, str] | None = None) -> SecretBox:
    """The process's SecretBox: from ``RINGPUSH_SECRET_KEY`` or from ``key_file``.

    The environment variable holds base64 of 32 bytes (one key, id ``env``). The key file
    is JSON ``{"current": id, "lookup": id, "keys": {id: base64}}``; it is created with one
    fresh key and mode 0600 when missing, and refused when others can read it.
    """
    env = os.environ if environ is None else environ
    raw = env.get(SECRET_KEY_ENV)
    if raw:
        try:
            key = base64.b64decode(raw, validate=True)
        except ValueError:
            raise StateFileError(f"{SECRET_KEY_ENV} must be base64 of 32 bytes") from None
        if len(key) != 32:
            raise StateFileError(f"{SECRET_KEY_ENV} must be base64 of 32 bytes, got {len(key)}")
        return SecretBox({"env": key}, "env")
    if not key_file.exists():
        private_dir(key_file.parent)
        kid = "k" + secrets.token_hex(4)
        content = {
            "current": kid,
            "lookup": kid,
            "keys": {kid: base64.b64encode(secrets.token_bytes(32)).decode()},
        }
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(content, handle)
    check_private_file(key_file)
    try:
        data = json.loads(key_file.read_text())
        keys = {
            str(kid): base64.b64decode(value, validate=True) for kid, value in data["keys"].items()
        }
        box = SecretBox(keys, str(data["current"]), data.get("lookup"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StateFileError(
            f"{key_file} is not a ringpush key file"
            ' ({"current": id, "keys": {id: base64 of 32 bytes}}): '
            f"{type(exc).__name__} {exc}"
        ) from None
    return box


def add_master_key(key_file: Path) -> str:
    """Rotation: add a fresh key to the key file and make it current; returns its id."""
    data = json.loads(key_file.read_text())
    kid = "k" + secrets.token_hex(4)
    data["keys"][kid] = base64.b64encode(secrets.token_bytes(32)).decode()
    data["current"] = kid
    tmp = key_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    tmp.replace(key_file)
    return kid
