"""A running sandbox and a signing key it trusts, for the client's wire tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ringpush.apns.credentials import TokenCredentials, generate_signing_key
from ringpush.sandbox import Sandbox


@pytest.fixture
def credentials() -> TokenCredentials:
    key = generate_signing_key()
    return TokenCredentials.from_pem(key.pem, key.key_id, key.team_id)


@pytest.fixture
async def sandbox(credentials: TokenCredentials) -> AsyncIterator[Sandbox]:
    server = Sandbox()
    server.register_key(credentials.key_id, credentials.team_id, credentials.private_key)
    await server.start(port=0, control_port=None)
    try:
        yield server
    finally:
        await server.stop()
