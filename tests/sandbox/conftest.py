"""Shared fixtures: an injectable clock, a signing key, a running sandbox, TLS trust."""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from ringpush.apns.credentials import TokenCredentials, generate_signing_key
from ringpush.apns.jwt_signer import sign_provider_token
from ringpush.sandbox import Sandbox, SandboxKey

BUNDLE = "com.example.app"
VOIP_TOPIC = "com.example.app.voip"


class Clock:
    """A settable clock; starts at the real time so third-party clients' JWTs are fresh."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Signer:
    credentials: TokenCredentials
    clock: Clock

    @property
    def key_id(self) -> str:
        return self.credentials.key_id

    @property
    def team_id(self) -> str:
        return self.credentials.team_id

    @property
    def pem(self) -> str:
        return self.credentials.private_pem().decode()

    def authorization(self, issued_at: float | None = None) -> str:
        iat = int(self.clock() if issued_at is None else issued_at)
        return sign_provider_token(self.credentials, iat).header.decode()

    def sandbox_key(self) -> SandboxKey:
        return SandboxKey.from_pem(self.credentials.public_pem(), self.key_id, self.team_id)


def new_signer(clock: Clock, team_id: str | None = None) -> Signer:
    key = generate_signing_key(team_id)
    return Signer(TokenCredentials.from_pem(key.pem, key.key_id, key.team_id), clock)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def signer(clock: Clock) -> Signer:
    return new_signer(clock)


@pytest.fixture
async def sandbox(clock: Clock, signer: Signer) -> AsyncIterator[Sandbox]:
    """A development-only sandbox without the control API (it costs a uvicorn start)."""
    server = Sandbox([signer.sandbox_key()], clock=clock)
    await server.start(control_port=None)
    try:
        yield server
    finally:
        await server.stop()


def trust(sandbox: Sandbox) -> ssl.SSLContext:
    """What a client does: trust the CA file the sandbox wrote, nothing else."""
    return ssl.create_default_context(cafile=str(sandbox.ca_file))
