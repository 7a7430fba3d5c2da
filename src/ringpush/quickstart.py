"""What ``make run`` does while ringpush has no server yet: a local APNs and a first push.

It keeps a signing key in a state directory (mode 0600, created on first run), starts the
sandbox on the usual APNs port, issues a simulated device's VoIP token, sends one VoIP push
through ringpush's own client, and then keeps the sandbox serving so that the user can push
again with ``ringpush send`` (the exact line is printed).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ringpush.apns.client import ApnsClient
from ringpush.apns.credentials import TokenCredentials, generate_signing_key
from ringpush.apns.environment import Environment
from ringpush.apns.notification import Notification
from ringpush.apns.push_type import PushType
from ringpush.apns.result import ApnsResult
from ringpush.sandbox import Sandbox, serve_forever

DEMO_BUNDLE_ID = "com.example.ringpush"


@dataclass(frozen=True, slots=True)
class StoredKey:
    path: Path
    key_id: str
    team_id: str


def load_or_create_key(state_dir: Path) -> StoredKey:
    """The demo signing key, created once with mode 0600 and reused after."""
    state_dir.mkdir(parents=True, exist_ok=True)
    meta = state_dir / "key.json"
    if meta.exists():
        info = json.loads(meta.read_text())
        return StoredKey(Path(info["key_file"]), info["key_id"], info["team_id"])
    key = generate_signing_key()
    path = state_dir / f"AuthKey_{key.key_id}.p8"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.pem)
    info = {"key_file": str(path), "key_id": key.key_id, "team_id": key.team_id}
    meta.write_text(json.dumps(info))
    return StoredKey(path, key.key_id, key.team_id)


async def run_local(
    state_dir: Path,
    *,
    port: int = 2197,
    control_port: int = 2198,
    say: Callable[[str], None] = print,
    serve: bool = True,
) -> ApnsResult:
    """Start the sandbox, send one VoIP push through it, then serve until interrupted."""
    stored = load_or_create_key(state_dir)
    credentials = TokenCredentials.from_p8_file(stored.path, stored.key_id, stored.team_id)
    sandbox = Sandbox()
    sandbox.register_key_file(stored.path, stored.key_id, stored.team_id)
    ca_file = state_dir / "sandbox-ca.pem"
    try:
        await sandbox.start(port=port, control_port=control_port, ca_out=ca_file)
    except OSError:
        say(f"ports {port}/{control_port} are busy; using free ports instead")
        await sandbox.start(port=0, control_port=0, ca_out=ca_file)
    try:
        url = sandbox.url(Environment.DEVELOPMENT)
        say("No Apple credentials configured: running ringpush's local APNs sandbox.")
        say(f"  APNs (development): {url}   control API: {sandbox.control_url}")
        say(f"  CA file: {ca_file}")
        say(f"  signing key: {stored.path} (key id {stored.key_id}, team {stored.team_id})")
        token = sandbox.issue_token(DEMO_BUNDLE_ID, PushType.VOIP, Environment.DEVELOPMENT)
        payload = {"call_id": "demo-call-1", "caller": {"handle": "alice", "name": "Alice"}}
        async with ApnsClient(
            credentials, Environment.DEVELOPMENT, base_url=url, ca_file=ca_file
        ) as client:
            result = await client.send(Notification.voip(DEMO_BUNDLE_ID, token, payload))
        say(f"Sent a VoIP push to a simulated device: {result.describe()}")
        command = [
            ".venv/bin/ringpush", "send", "--bundle-id", DEMO_BUNDLE_ID,
            "--key-file", str(stored.path), "--key-id", stored.key_id,
            "--team-id", stored.team_id, "--environment", "development",
            "--push-type", "voip", "--token", token,
            "--payload", json.dumps(payload, separators=(",", ":")),
            "--apns-url", url, "--ca-file", str(ca_file),
        ]  # fmt: skip
        say("Push again from another shell with:")
        say("  " + shlex.join(command))
        say(f"Accepted pushes: curl -s {sandbox.control_url}/notifications")
        if serve:
            say("Serving until Ctrl-C.")
            await serve_forever(sandbox)
        return result
    finally:
        await sandbox.stop()
