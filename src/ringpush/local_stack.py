"""The whole of ringpush in one process, with no Apple or Google account: the server on
SQLite, the built-in sandbox standing in for APNs (both environments) and for FCM, and
one app whose APNs endpoint and signing key, and FCM endpoint and service account, are
the sandbox's.

``make run`` (:mod:`ringpush.quickstart`), ``ringpush demo`` and the SDK's end-to-end
tests all start it; the app is created through the HTTP API like an operator would.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ringpush.apns.credentials import generate_signing_key
from ringpush.apns.environment import Environment
from ringpush.sandbox import Sandbox
from ringpush.sandbox.fcm import FcmSandbox
from ringpush.server.service import RingpushService, ServeSettings

DEMO_APP_ID = "demo"
DEMO_BUNDLE_ID = "com.example.ringpush"
#: The demo app on Android: its package (the same name as on iOS) and Firebase project.
DEMO_PACKAGE = DEMO_BUNDLE_ID
DEMO_FCM_PROJECT = "ringpush-demo"


def _quiet(_: str) -> None:
    pass


class LocalStack:
    def __init__(
        self,
        state_dir: Path,
        *,
        port: int = 0,
        sandbox_port: int = 0,
        control_port: int | None = 0,
        fcm_port: int = 0,
        app_id: str = DEMO_APP_ID,
        bundle_id: str = DEMO_BUNDLE_ID,
        lease_seconds: float = 60.0,
        say: Callable[[str], None] = _quiet,
    ) -> None:
        self.state_dir = state_dir
        self.app_id = app_id
        self.bundle_id = bundle_id
        # The sandbox keeps its CA, ports, keys and tokens beside the server's state, so an
        # app pointed at it keeps working across runs (of FCM only the port: the app gets
        # a new service account and CA on every start, see add_app).
        self.sandbox = Sandbox(state_dir=state_dir / "sandbox", fcm=True)
        self._ports = (port, sandbox_port, control_port, fcm_port)
        self._lease = lease_seconds
        self._say = say
        self.service: RingpushService | None = None
        self._http: httpx.AsyncClient | None = None
        self.service_key = ""

    @property
    def database(self) -> Path:
        return self.state_dir / "ringpush.db"

    def _settings(self, port: int) -> ServeSettings:
        return ServeSettings(
            port=port,
            database=f"sqlite:///{self.database}",
            state_dir=self.state_dir,
            lease_seconds=self._lease,
        )

    async def start(self) -> None:
        port, sandbox_port, control_port, fcm_port = self._ports
        environments = (Environment.DEVELOPMENT, Environment.PRODUCTION)
        try:
            # Ports given as 0 take the last run's (the sandbox's state dir keeps them).
            await self.sandbox.start(
                port=sandbox_port,
                control_port=control_port,
                environments=environments,
                fcm_port=fcm_port,
            )
        except OSError:
            self._say(
                f"ports {sandbox_port}/{control_port}/{fcm_port} are busy;"
                " the sandbox uses free ones"
            )
            await self.sandbox.start(
                port=0,
                control_port=None if control_port is None else 0,
                environments=environments,
                fcm_port=0,
            )
        try:
            self.service = RingpushService(self._settings(port))
            try:
                await self.service.start()
            except OSError:
                self._say(f"port {port} is busy; the server uses a free port instead")
                await self.service.stop()
                self.service = RingpushService(self._settings(0))
                await self.service.start()
            self._http = httpx.AsyncClient(base_url=self.url, timeout=10)
            self.service_key = await self.add_app(self.app_id)
        except BaseException:
            await self.stop()
            raise

    @property
    def fcm(self) -> FcmSandbox:
        """The local FCM the stack's apps send to."""
        assert self.sandbox.fcm is not None
        return self.sandbox.fcm

    async def add_app(self, app_id: str) -> str:
        """Create an app through the operator API, as an operator would: the stack's
        bundle id and a new key the sandbox trusts for APNs, a new service account of
        the demo Firebase project for FCM; returns its calling service's API key."""
        key = generate_signing_key()
        self.sandbox.register_key(key.key_id, key.team_id, key.pem)
        await self.operator(
            "PUT",
            f"/v1/apps/{app_id}",
            {
                "bundle_id": self.bundle_id,
                "team_id": key.team_id,
                "key_id": key.key_id,
                "signing_key": key.pem.decode(),
                "default_environment": "development",
                "apns_url_development": self.sandbox.url(Environment.DEVELOPMENT),
                "apns_url_production": self.sandbox.url(Environment.PRODUCTION),
                "ca_pem": self.sandbox.ca_pem.decode(),
                "fcm_service_account": self.fcm.issue_service_account(DEMO_FCM_PROJECT),
                "fcm_url": self.fcm.url,
                "fcm_ca_pem": self.fcm.ca_pem.decode(),
            },
        )
        minted = await self.operator("POST", f"/v1/apps/{app_id}/service-keys", {})
        return str(minted["key"])

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self.service is not None:
            await self.service.stop()
            self.service = None
        await self.sandbox.stop()

    async def __aenter__(self) -> LocalStack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- using it -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.service is not None, "the stack is not running"
        return f"http://127.0.0.1:{self.service.port}"

    @property
    def http(self) -> httpx.AsyncClient:
        assert self._http is not None, "the stack is not running"
        return self._http

    async def _call(self, key: str, method: str, path: str, body: Any) -> Any:
        response = await self.http.request(
            method, path, json=body, headers={"Authorization": f"Bearer {key}"}
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    async def operator(self, method: str, path: str, body: Any = None) -> Any:
        assert self.service is not None
        return await self._call(self.service.admin_key, method, path, body)

    async def calling_service(self, method: str, path: str, body: Any = None) -> Any:
        """A request as the app's calling service (its API key)."""
        return await self._call(self.service_key, method, path, body)

    async def user_token(
        self, user_id: str, ttl_seconds: int = 24 * 3600, *, app_id: str | None = None
    ) -> str:
        """What the app's backend hands the app after sign-in."""
        minted = await self.operator(
            "POST",
            f"/v1/apps/{app_id or self.app_id}/user-tokens",
            {"user_id": user_id, "ttl_seconds": ttl_seconds},
        )
        return str(minted["token"])

    async def start_call(
        self, callee: str, caller_id: str, caller_name: str = "", **more: Any
    ) -> Any:
        """POST /v1/calls as the calling service; the answer lists each device's push."""
        body = {"callee_user_id": callee, "caller_id": caller_id, "caller_name": caller_name}
        return await self.calling_service("POST", "/v1/calls", {**body, **more})

    async def devices_of(self, user_id: str, *, app_id: str | None = None) -> Any:
        return await self.operator(
            "GET", f"/v1/apps/{app_id or self.app_id}/users/{user_id}/devices"
        )
