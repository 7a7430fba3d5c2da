"""A real server over real HTTP: SQLite file, uvicorn on a free port, httpx client."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ringpush.apns.environment import Environment
from ringpush.registry import SecretBox, SqlRegistry
from ringpush.server.app import create_app
from ringpush.server.auth import Authenticator
from ringpush.server.embedded import EmbeddedHttpServer
from ringpush.server.state import ServerState

ADMIN_KEY = "rpa_" + "t" * 40


@dataclass
class Running:
    url: str
    http: httpx.AsyncClient
    authenticator: Authenticator

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_KEY}"}

    async def create_app(self, app_id: str = "demo") -> None:
        response = await self.http.put(
            f"/v1/apps/{app_id}",
            headers=self.admin(),
            json={"bundle_id": "com.example.app", "default_environment": "development"},
        )
        assert response.status_code == 200, response.text

    async def user(self, user_id: str, app_id: str = "demo") -> dict[str, str]:
        response = await self.http.post(
            f"/v1/apps/{app_id}/user-tokens", headers=self.admin(), json={"user_id": user_id}
        )
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Running]:
    registry = await SqlRegistry.open_sqlite(
        tmp_path / "server.db", SecretBox({"k": b"\1" * 32}, "k")
    )
    authenticator = Authenticator(registry, ADMIN_KEY, secrets.token_bytes(32))
    http_server = EmbeddedHttpServer(create_app(ServerState(registry, authenticator)))
    port = await http_server.start()
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url) as http:
        try:
            yield Running(url, http, authenticator)
        finally:
            await http_server.stop()
            await registry.close()


__all__ = ["Environment"]
