"""A sandbox with a state dir keeps its CA, ports (FCM's too), keys and issued tokens
across restarts, so an app pointed at it keeps working (issue 15 §4); a broken state
file is one clear error."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ringpush.apns.client import ApnsClient
from ringpush.apns.credentials import TokenCredentials, generate_signing_key
from ringpush.apns.environment import Environment
from ringpush.apns.notification import Notification
from ringpush.apns.push_type import PushType
from ringpush.local_stack import LocalStack
from ringpush.sandbox import Sandbox
from ringpush.sandbox.persistence import STATE_FILE, SavedStateError

BUNDLE = "com.example.app"


async def _push(sandbox: Sandbox, credentials: TokenCredentials, token: str) -> int:
    async with ApnsClient(
        credentials, Environment.DEVELOPMENT, base_url=sandbox.url(), ca_file=sandbox.ca_file
    ) as client:
        result = await client.send(Notification.voip(BUNDLE, token, {"call_id": "c"}))
    return result.status


async def test_a_restarted_sandbox_is_the_same_apns(tmp_path: Path) -> None:
    key = generate_signing_key()
    credentials = TokenCredentials.from_pem(key.pem, key.key_id, key.team_id)
    first = Sandbox(state_dir=tmp_path)
    await first.start(port=0, control_port=0)
    first.register_key(key.key_id, key.team_id, key.pem)
    kept = first.issue_token(BUNDLE, PushType.VOIP)
    gone = first.issue_token(BUNDLE, PushType.VOIP)
    gone_at = first.uninstall(gone)
    url, ca = first.url(), first.ca_pem
    assert first.ca_file == tmp_path / "ca.pem"
    await first.stop()
    assert (tmp_path / STATE_FILE).stat().st_mode & 0o777 == 0o600  # it holds the CA's key

    again = Sandbox(state_dir=tmp_path)
    await again.start(port=0, control_port=0)  # any port: the last run's
    try:
        assert again.url() == url  # the same port
        assert again.ca_pem == ca  # clients keep trusting it
        assert (tmp_path / "ca.pem").read_bytes() == ca
        assert await _push(again, credentials, kept) == 200  # key and token known
        assert await _push(again, credentials, gone) == 410  # still uninstalled
        [record] = again.notifications(token=kept)
        assert record.topic == f"{BUNDLE}.voip"
        assert gone_at is not None
    finally:
        await again.stop()


async def test_a_saved_port_taken_meanwhile_gives_way_to_a_free_one(tmp_path: Path) -> None:
    first = Sandbox(state_dir=tmp_path)
    await first.start(port=0, control_port=None)
    taken = first.port()
    await first.stop()
    squatter = socket.create_server(("127.0.0.1", taken))
    try:
        again = Sandbox(state_dir=tmp_path)
        await again.start(port=0, control_port=None)
        assert again.port() not in (0, taken)
        await again.stop()
    finally:
        squatter.close()


def test_a_broken_state_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text('{"version": 1, "ca": {}}')
    with pytest.raises(SavedStateError, match="not a sandbox state file"):
        Sandbox(state_dir=tmp_path)


async def test_run_keeps_the_sandbox_between_runs(tmp_path: Path) -> None:
    async with LocalStack(tmp_path) as first:
        url = first.sandbox.url(Environment.PRODUCTION)
        ca_file = first.sandbox.ca_file
        fcm_url = first.fcm.url
    async with LocalStack(tmp_path) as second:
        assert second.sandbox.url(Environment.PRODUCTION) == url
        assert second.sandbox.ca_file == ca_file == tmp_path / "sandbox" / "ca.pem"
        assert second.fcm.url == fcm_url  # the FCM port too


async def test_a_port_not_served_in_a_run_stays_saved_for_the_next(tmp_path: Path) -> None:
    with_fcm = Sandbox(state_dir=tmp_path, fcm=True)
    await with_fcm.start(control_port=None)
    assert with_fcm.fcm is not None
    fcm_port = with_fcm.fcm.port
    await with_fcm.stop()
    without = Sandbox(state_dir=tmp_path)
    await without.start(control_port=None)
    await without.stop()
    again = Sandbox(state_dir=tmp_path, fcm=True)
    await again.start(control_port=None)  # fcm_port 0: the last run's that served FCM
    try:
        assert again.fcm is not None and again.fcm.port == fcm_port
    finally:
        await again.stop()
