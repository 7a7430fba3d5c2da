"""Sealing secrets at rest: AES-GCM with key ids, keyed lookup hashes, key files."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from ringpush.registry.sealing import (
    SealingError,
    SecretBox,
    add_master_key,
    load_secret_box,
)


def box(*kids: str, current: str | None = None) -> SecretBox:
    keys = {kid: bytes([i + 1]) * 32 for i, kid in enumerate(kids)}
    return SecretBox(keys, current or kids[-1], lookup=kids[0])


def test_sealed_value_opens_and_hides_the_plaintext() -> None:
    secret = box("a")
    sealed = secret.seal(b"ab" * 32, "device-token")
    assert b"ab" * 32 not in sealed
    assert secret.open(sealed, "device-token") == b"ab" * 32
    assert secret.seal(b"x", "c") != secret.seal(b"x", "c")  # fresh nonce each time


def test_a_value_sealed_for_one_column_does_not_open_in_another() -> None:
    secret = box("a")
    with pytest.raises(SealingError):
        secret.open(secret.seal(b"key", "signing-key"), "device-token")


def test_tampering_is_detected() -> None:
    secret = box("a")
    sealed = bytearray(secret.seal(b"token", "device-token"))
    sealed[-1] ^= 1
    with pytest.raises(SealingError, match="tampered"):
        secret.open(bytes(sealed), "device-token")


def test_rotation_opens_old_values_and_keeps_lookup_hashes() -> None:
    old = box("a")
    sealed = old.seal(b"token", "device-token")
    rotated = box("a", "b")
    assert rotated.key_id_of(rotated.seal(b"token", "device-token")) == "b"
    assert rotated.open(sealed, "device-token") == b"token"
    assert rotated.lookup_hash(b"token", "t") == old.lookup_hash(b"token", "t")
    with pytest.raises(SealingError, match="unknown key id"):
        box("z").open(sealed, "device-token")


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "secret.json"
    first = load_secret_box(path, environ={})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_secret_box(path, environ={})
    assert again.open(first.seal(b"v", "c"), "c") == b"v"
    kid = add_master_key(path)
    rotated = load_secret_box(path, environ={})
    assert rotated.current == kid
    assert rotated.open(first.seal(b"v", "c"), "c") == b"v"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_world_readable_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    load_secret_box(path, environ={})
    path.chmod(0o644)
    with pytest.raises(ValueError, match="readable by others"):
        load_secret_box(path, environ={})


def test_environment_key_wins_and_is_checked(tmp_path: Path) -> None:
    key = base64.b64encode(b"k" * 32).decode()
    secret = load_secret_box(tmp_path / "unused.json", environ={"RINGPUSH_SECRET_KEY": key})
    assert secret.current == "env"
    assert not (tmp_path / "unused.json").exists()
    with pytest.raises(ValueError, match="32 bytes"):
        load_secret_box(tmp_path / "x", environ={"RINGPUSH_SECRET_KEY": "c2hvcnQ="})
