"""The sandbox's state kept in a directory, so that an app pointed at it keeps working
across restarts: the same CA (clients keep trusting it), the same ports, the signing keys
it was given and the device tokens it issued (uninstalled ones stay uninstalled).

One JSON file, written whole (a temporary file renamed over it) and private (0600: it
holds the CA's private key), plus the CA certificate beside it for clients to trust.
Accepted pushes, faults and counters are not kept: they describe one run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.sandbox.certificates import CertificateAuthority
from ringpush.sandbox.keys import SandboxKey
from ringpush.sandbox.tokens import IssuedToken

STATE_FILE = "sandbox.json"
CA_FILE = "ca.pem"
VERSION = 1


class SavedStateError(ValueError):
    """The state file exists but cannot be read back (say what, never a traceback)."""


@dataclass
class SavedState:
    authority: CertificateAuthority
    ports: dict[str, int] = field(default_factory=dict)
    keys: list[SandboxKey] = field(default_factory=list)
    tokens: list[IssuedToken] = field(default_factory=list)


def load(directory: Path) -> SavedState | None:
    """The state saved in ``directory``, or None when there is none yet."""
    path = directory / STATE_FILE
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SavedStateError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw)
        if data.get("version") != VERSION:
            raise ValueError(f"version {data.get('version')!r}, not {VERSION}")
        return SavedState(
            CertificateAuthority.load(
                data["ca"]["certificate"].encode(), data["ca"]["key"].encode()
            ),
            {name: int(port) for name, port in data["ports"].items()},
            [_key(item) for item in data["keys"]],
            [_token(item) for item in data["tokens"]],
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SavedStateError(f"{path} is not a sandbox state file ({exc}): remove it") from None


def save(directory: Path, state: SavedState) -> Path:
    """Write ``state`` into ``directory`` (made 0700 if new); returns the CA's path."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = {
        "version": VERSION,
        "ca": {
            "certificate": state.authority.certificate_pem.decode(),
            "key": state.authority.key_pem.decode(),
        },
        "ports": state.ports,
        "keys": [
            {
                "key_id": key.key_id,
                "team_id": key.team_id,
                "public_key": key.public_pem(),
                "environment": key.environment.value if key.environment else None,
                "bundle_ids": sorted(key.bundle_ids) if key.bundle_ids is not None else None,
            }
            for key in state.keys
        ],
        "tokens": [
            {
                "token": issued.token,
                "bundle_id": issued.bundle_id,
                "push_type": issued.push_type.value,
                "environment": issued.environment.value,
                "uninstalled_at_ms": issued.uninstalled_at_ms,
            }
            for issued in state.tokens
        ],
    }
    path = directory / STATE_FILE
    temporary = directory / f".{STATE_FILE}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(data, out)
    os.replace(temporary, path)
    ca = directory / CA_FILE
    ca.write_bytes(state.authority.certificate_pem)
    return ca


def _key(item: dict[str, Any]) -> SandboxKey:
    environment = item.get("environment")
    return SandboxKey.from_pem(
        item["public_key"],
        item["key_id"],
        item["team_id"],
        environment=Environment(environment) if environment else None,
        bundle_ids=item.get("bundle_ids"),
    )


def _token(item: dict[str, Any]) -> IssuedToken:
    push_type = PushType(item["push_type"])
    return IssuedToken(
        item["token"],
        item["bundle_id"],
        push_type,
        Environment(item["environment"]),
        push_type.topic_for(item["bundle_id"]),
        item.get("uninstalled_at_ms"),
    )
