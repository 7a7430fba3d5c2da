"""A whole server over real HTTP for API tests: registry (any database), delivery
engine, the sandbox as APNs and the FCM sandbox as FCM, uvicorn on a free port, and the
demo app (APNs and FCM credentials) with its service key."""

from __future__ import annotations

import contextlib
import secrets
import ssl
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from ringpush.apns.credentials import generate_signing_key
from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.delivery.calls import CallService
from ringpush.delivery.clients import ApnsClients
from ringpush.delivery.engine import DeliveryEngine, utc_now
from ringpush.delivery.fcm_clients import FcmClients
from ringpush.delivery.pushes import PushService
from ringpush.registry import SecretBox, SqlRegistry, open_registry
from ringpush.sandbox import Sandbox
from ringpush.sandbox.certificates import CertificateAuthority
from ringpush.sandbox.fcm import FcmSandbox
from ringpush.server.app import create_app
from ringpush.server.auth import Authenticator
from ringpush.server.embedded import EmbeddedHttpServer
from ringpush.server.rate_limits import DEFAULT_RATES, RateLimits, RateLimitSettings
from ringpush.server.state import DEFAULT_MAX_DEVICES_PER_USER, ServerState
from tests.payload_contract import check_android, check_payloads

ADMIN = {"Authorization": "Bearer rpa_" + "c" * 40}
#: The demo app's Android package and Firebase project in the FCM sandbox.
PACKAGE = "com.example.app"
PROJECT = "ringpush-demo"


@dataclass
class Stack:
    http: httpx.AsyncClient
    sandbox: Sandbox
    service: dict[str, str]
    registry: SqlRegistry
    #: Over HTTPS: a client context trusting the server's certificate.
    trust: ssl.SSLContext | None = None
    fcm: FcmSandbox | None = None

    async def android(self, user: dict[str, str], device_id: str) -> str:
        """A simulated Android phone of the app registered as ``device_id`` (201);
        returns its FCM token."""
        assert self.fcm is not None
        token = self.fcm.issue_token(PACKAGE, PROJECT, name=device_id)
        response = await self.http.put(
            f"/v1/devices/{device_id}", headers=user, json={"platform": "fcm", "token": token}
        )
        assert response.status_code == 201, response.text
        return token

    async def user(self, user_id: str) -> dict[str, str]:
        minted = await self.http.post(
            "/v1/apps/demo/user-tokens", headers=ADMIN, json={"user_id": user_id}
        )
        return {"Authorization": f"Bearer {minted.json()['token']}"}

    def token(self, push_type: PushType = PushType.VOIP) -> str:
        return self.sandbox.issue_token("com.example.app", push_type, Environment.DEVELOPMENT)

    async def put_device(
        self, user: dict[str, str], device_id: str, token: str, push_type: PushType
    ) -> httpx.Response:
        return await self.http.put(
            f"/v1/devices/{device_id}",
            headers=user,
            json={"token": token, "push_type": push_type.value, "environment": "development"},
        )

    async def register(
        self, user: dict[str, str], device_id: str, push_type: PushType = PushType.VOIP
    ) -> httpx.Response:
        """PUT a fresh sandbox token for ``device_id``; the answer, whatever it is."""
        return await self.put_device(user, device_id, self.token(push_type), push_type)

    async def ring(self, callee: str, call_id: str, caller: str = "alice") -> None:
        """Start a call to ``callee`` (201)."""
        started = await self.http.post(
            "/v1/calls",
            headers=self.service,
            json={"call_id": call_id, "caller_id": caller, "callee_user_id": callee},
        )
        assert started.status_code == 201, started.text

    async def device(
        self, user: dict[str, str], device_id: str, push_type: PushType = PushType.VOIP
    ) -> str:
        """A new registration of ``device_id`` for ``push_type`` (201); returns its token."""
        token = self.token(push_type)
        response = await self.put_device(user, device_id, token, push_type)
        assert response.status_code == 201, response.text
        return token


def _certificate() -> tuple[tuple[Path, Path], ssl.SSLContext]:
    """A server certificate for 127.0.0.1 (files in a new temp dir), and a client context
    trusting its CA."""
    ca = CertificateAuthority("stack CA")
    issued = ca.issue_server_certificate()
    folder = Path(tempfile.mkdtemp(prefix="ringpush-stack-"))
    (folder / "server.pem").write_bytes(issued.certificate_pem)
    key = folder / "server.key"
    key.write_bytes(issued.key_pem)
    key.chmod(0o600)
    return (folder / "server.pem", key), ssl.create_default_context(
        cadata=ca.certificate_pem.decode()
    )


@contextlib.asynccontextmanager
async def running_stack(
    database_url: str, rates: RateLimitSettings = DEFAULT_RATES, *, https: bool = False
) -> AsyncIterator[Stack]:
    """The stack on ``database_url``, with the rate limits ``rates``; ``https``: served
    with a certificate of its own CA (HTTP/2 and HTTP/1.1), the client speaking HTTP/2."""
    key = generate_signing_key()
    sandbox = Sandbox()
    sandbox.register_key(key.key_id, key.team_id, key.pem)
    await sandbox.start(control_port=None)
    fcm = FcmSandbox()
    await fcm.start()
    account = fcm.issue_service_account(PROJECT)
    registry = await open_registry(database_url, SecretBox({"k": b"\4" * 32}, "k"))
    clients = ApnsClients(request_timeout=5)
    # Access tokens renewed on any 401 however young (a test expires them at once).
    fcm_clients = FcmClients(request_timeout=5, min_token_age=0)
    engine = DeliveryEngine(registry, clients, poll_seconds=0.05, fcm_clients=fcm_clients)
    await engine.listen()
    engine.start()
    calls = CallService(registry, engine, utc_now, max_devices=DEFAULT_MAX_DEVICES_PER_USER)
    pushes = PushService(registry, engine, utc_now)
    authenticator = Authenticator(
        registry, ADMIN["Authorization"][7:], secrets.token_bytes(32), engine.apps
    )
    engine.apps.subscribe(authenticator.forget_app)  # as serve wires it
    tls, trust = _certificate() if https else (None, None)
    server = EmbeddedHttpServer(
        create_app(
            ServerState(registry, authenticator, calls, pushes, engine, limits=RateLimits(rates))
        ),
        tls=tls,
    )
    port = await server.start()
    scheme = "https" if https else "http"
    async with httpx.AsyncClient(
        base_url=f"{scheme}://127.0.0.1:{port}", verify=trust or True, http2=https
    ) as http:
        created = await http.put(
            "/v1/apps/demo",
            headers=ADMIN,
            json={
                "bundle_id": "com.example.app",
                "team_id": key.team_id,
                "key_id": key.key_id,
                "signing_key": key.pem.decode(),
                "default_environment": "development",
                "apns_url": sandbox.url(Environment.DEVELOPMENT),
                "ca_pem": sandbox.ca_pem.decode(),
                "fcm_service_account": account,
                "fcm_url": fcm.url,
                "fcm_ca_pem": fcm.ca_pem.decode(),
            },
        )
        assert created.status_code == 200, created.text
        minted = await http.post("/v1/apps/demo/service-keys", headers=ADMIN, json={})
        service = {"Authorization": f"Bearer {minted.json()['key']}"}
        try:
            yield Stack(http, sandbox, service, registry, trust, fcm)
            # Whatever the test did, ringpush's own payloads kept to their contract.
            check_payloads(record.payload for record in sandbox.notifications())
            for message in fcm.messages():
                check_android(message.message.get("data", {}))
        finally:
            await server.stop()
            await engine.stop()
            await clients.close()
            await fcm_clients.close()
            await registry.close()
            await sandbox.stop()
            await fcm.stop()
