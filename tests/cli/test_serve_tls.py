"""`ringpush serve --tls-cert --tls-key`: HTTPS for real, and every wrong setting of it one
line and exit 2."""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ringpush.sandbox.certificates import CertificateAuthority
from tests.cli.command import ringpush

ADMIN = "rpa_" + "t" * 40


def write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


@pytest.fixture
def issued(tmp_path: Path) -> tuple[bytes, Path, Path]:
    """A CA's PEM, and a certificate for 127.0.0.1 with its key (0600) signed by it."""
    ca = CertificateAuthority("test CA")
    server = ca.issue_server_certificate()
    cert = write(tmp_path / "server.pem", server.certificate_pem, 0o644)
    key = write(tmp_path / "server.key", server.key_pem)
    return ca.certificate_pem, cert, key


def test_serve_speaks_https_with_its_certificate(
    tmp_path: Path, issued: tuple[bytes, Path, Path]
) -> None:
    ca_pem, cert, key = issued
    env = {**os.environ, "RINGPUSH_ADMIN_KEY": ADMIN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ringpush", "serve", "--port", "0", "--state-dir",
         str(tmp_path / "state"), "--tls-cert", str(cert), "--tls-key", str(key)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"https://127\.0\.0\.1:(\d+)", first)
        assert match, first
        url = f"https://127.0.0.1:{match.group(1)}"
        trust = ssl.create_default_context(cadata=ca_pem.decode())
        for http2, version in ((True, "HTTP/2"), (False, "HTTP/1.1")):  # ALPN picks
            with httpx.Client(base_url=url, verify=trust, http2=http2) as http:
                health = http.get("/healthz")
                assert health.json() == {"status": "ok"}
                assert health.http_version == version
                apps = http.get("/v1/apps", headers={"Authorization": f"Bearer {ADMIN}"})
                assert apps.status_code == 200
        # Not without TLS, and not to a client that does not trust the certificate.
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{match.group(1)}/healthz", timeout=5)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/healthz", timeout=5)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


def test_wrong_tls_settings_are_one_line_each(
    tmp_path: Path, issued: tuple[bytes, Path, Path]
) -> None:
    _, cert, key = issued
    state = str(tmp_path / "state")
    alone = ringpush("serve", "--state-dir", state, "--tls-cert", str(cert))
    assert alone.returncode == 2
    assert alone.stderr.strip() == (
        "error: tls_cert and tls_key go together: give both, or neither for HTTP"
    )
    key.chmod(0o644)
    readable = ringpush(
        "serve", "--state-dir", state, "--tls-cert", str(cert), "--tls-key", str(key)
    )
    assert readable.returncode == 2
    assert readable.stderr.strip() == f"error: {key} is readable by others: chmod 600 it"
    key.chmod(0o600)
    garbage = write(tmp_path / "garbage.pem", b"not a certificate")
    broken = ringpush(
        "serve", "--state-dir", state, "--tls-cert", str(garbage), "--tls-key", str(key)
    )
    assert broken.returncode == 2
    assert broken.stderr.startswith(f"error: cannot load the TLS certificate {garbage}")
    assert len(broken.stderr.strip().splitlines()) == 1
    assert "Traceback" not in broken.stderr
