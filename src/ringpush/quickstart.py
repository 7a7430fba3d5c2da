"""What ``make run`` does with no Apple credentials: the server on SQLite, the built-in
sandbox standing in for APNs, a demo app, and a first call to a simulated phone.

The demo app's APNs endpoint is the sandbox, its signing key is created once in the state
directory, and the operator key, a service key and a user token are printed so that the
curl examples in the README work against it right away.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from ringpush.apns.credentials import generate_signing_key
from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.registry.models import App
from ringpush.sandbox import Sandbox, serve_forever
from ringpush.server.service import RingpushService, ServeSettings

DEMO_APP_ID = "demo"
DEMO_BUNDLE_ID = "com.example.ringpush"


async def _start_sandbox(port: int, control_port: int, say: Callable[[str], None]) -> Sandbox:
    sandbox = Sandbox()
    environments = (Environment.DEVELOPMENT, Environment.PRODUCTION)
    try:
        await sandbox.start(port=port, control_port=control_port, environments=environments)
    except OSError:
        say(f"ports {port}/{control_port} are busy; the sandbox uses free ports instead")
        await sandbox.start(port=0, control_port=0, environments=environments)
    return sandbox


async def run_local(
    state_dir: Path,
    *,
    port: int = 8080,
    sandbox_port: int = 2197,
    control_port: int = 2198,
    say: Callable[[str], None] = print,
    serve: bool = True,
) -> bool:
    """Start everything, ring a simulated phone once; True if APNs (the sandbox) took it."""
    sandbox = await _start_sandbox(sandbox_port, control_port, say)
    service = RingpushService(
        ServeSettings(
            port=port, database=f"sqlite:///{state_dir / 'ringpush.db'}", state_dir=state_dir
        )
    )
    try:
        try:
            await service.start()
        except OSError:
            say(f"port {port} is busy; the server uses a free port instead")
            service = RingpushService(
                ServeSettings(
                    port=0, database=f"sqlite:///{state_dir / 'ringpush.db'}", state_dir=state_dir
                )
            )
            await service.start()
        registry = service.registry
        assert registry is not None
        key = generate_signing_key()
        sandbox.register_key(key.key_id, key.team_id, key.pem)
        urls = ",".join(f"{env.value}={sandbox.url(env)}" for env in Environment)
        await registry.put_app(
            App(
                DEMO_APP_ID,
                DEMO_BUNDLE_ID,
                key.team_id,
                key.key_id,
                Environment.DEVELOPMENT,
                signing_key_pem=key.pem,
                apns_base_url=urls,
                ca_pem=sandbox.ca_pem,
            )
        )
        base = f"http://127.0.0.1:{service.port}"
        say(
            "No Apple credentials configured:"
            " running ringpush on SQLite with its local APNs sandbox."
        )
        say(f"  server: {base} (API docs at {base}/docs), database: {state_dir / 'ringpush.db'}")
        say(
            f"  APNs sandbox: {sandbox.url(Environment.DEVELOPMENT)} (development),"
            f" {sandbox.url(Environment.PRODUCTION)} (production);"
            f" control API: {sandbox.control_url}"
        )
        admin = {"Authorization": f"Bearer {service.admin_key}"}
        where = service.admin_key_file or "RINGPUSH_ADMIN_KEY"
        say(f"  operator key: in {where}")
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            service_key = (
                await http.post(f"/v1/apps/{DEMO_APP_ID}/service-keys", headers=admin, json={})
            ).json()["key"]
            user_token = (
                await http.post(
                    f"/v1/apps/{DEMO_APP_ID}/user-tokens",
                    headers=admin,
                    json={"user_id": "bob", "ttl_seconds": 24 * 3600},
                )
            ).json()["token"]
            phone = sandbox.issue_token(DEMO_BUNDLE_ID, PushType.VOIP, Environment.DEVELOPMENT)
            await http.put(
                "/v1/devices/bobs-phone",
                headers={"Authorization": f"Bearer {user_token}"},
                json={"token": phone, "push_type": "voip", "environment": "development"},
            )
            call = (
                await http.post(
                    "/v1/calls",
                    headers={"Authorization": f"Bearer {service_key}"},
                    json={"caller_id": "alice", "caller_name": "Alice", "callee_user_id": "bob"},
                )
            ).json()
        deliveries = call.get("deliveries", [])
        ok = bool(deliveries) and all(d["status"] == 200 for d in deliveries)
        for d in deliveries:
            say(f"Rang bob's simulated phone: apns-id {d['apns_id']}: {d['status']} ({d['state']})")
        say(f"  demo app {DEMO_APP_ID!r} ({DEMO_BUNDLE_ID}); service key: {service_key}")
        say(f"  user token for bob: {user_token}")
        say(f"  accepted pushes: curl -s {sandbox.control_url}/notifications")
        if serve:
            say("Serving until Ctrl-C.")
            await serve_forever(sandbox)
        return ok
    finally:
        await service.stop()
        await sandbox.stop()
