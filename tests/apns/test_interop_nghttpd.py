"""The client against nghttp2's server, an HTTP/2 implementation that is not ours.

nghttpd enforces the protocol strictly: a client that overran its flow-control windows
or opened more streams than SETTINGS allow would get a GOAWAY with a protocol error and
its pushes would fail. Here it runs with tiny windows (256-byte streams, 1 KiB for the
connection) and two concurrent streams, and echoes each POST body back with a 200.
``make test`` installs nghttpd (Debian's nghttp2-server).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ringpush.apns.client import ApnsClient
from ringpush.apns.credentials import TokenCredentials
from ringpush.apns.notification import Notification
from ringpush.sandbox.certificates import CertificateAuthority

NGHTTPD = shutil.which("nghttpd") or "/usr/sbin/nghttpd"
NGHTTPD_INSTALLED = Path(NGHTTPD).exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def nghttpd(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    assert NGHTTPD_INSTALLED, "nghttpd is missing: `make test` installs nghttp2-server"
    authority = CertificateAuthority()
    issued = authority.issue_server_certificate()
    (tmp_path / "key.pem").write_bytes(issued.key_pem)
    (tmp_path / "cert.pem").write_bytes(issued.certificate_pem)
    (tmp_path / "ca.pem").write_bytes(authority.certificate_pem)
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        NGHTTPD,
        "--echo-upload",
        "--window-bits=8",
        "--connection-window-bits=10",
        "--max-concurrent-streams=2",
        "--address=127.0.0.1",
        str(port),
        str(tmp_path / "key.pem"),
        str(tmp_path / "cert.pem"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        yield f"https://127.0.0.1:{port}", tmp_path / "ca.pem"
    finally:
        proc.terminate()
        await proc.wait()


async def test_big_bodies_through_tiny_windows_never_overrun_the_peer(
    nghttpd: tuple[str, Path], credentials: TokenCredentials
) -> None:
    url, ca_file = nghttpd
    pushes = [
        Notification.voip("com.example.app", "ab" * 32, {"n": i, "pad": "x" * 5000})
        for i in range(60)
    ]
    async with ApnsClient(credentials, base_url=url, ca_file=ca_file, max_connections=1) as client:
        results = await client.send_many(pushes)
        assert client.connections == 1
    assert [r.status for r in results] == [200] * len(pushes)
    assert all(r.attempts == 1 for r in results)
