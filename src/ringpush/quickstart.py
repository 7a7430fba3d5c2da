"""What ``make run`` does with no Apple or Google credentials: the server on SQLite, the
built-in sandbox standing in for APNs and FCM, a demo app, and a first call that rings
bob's simulated iPhone and Android phone at once.

The operator key, a service key and a user token are printed so that the curl examples
in the README work against it right away.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.local_stack import (
    DEMO_APP_ID,
    DEMO_BUNDLE_ID,
    DEMO_FCM_PROJECT,
    DEMO_PACKAGE,
    LocalStack,
)
from ringpush.sandbox import serve_forever

#: The device ids of bob's simulated iPhone and Android phone, which every run registers
#: anew (the FCM sandbox's tokens last one run).
SIMULATED_PHONE = "bobs-phone"
SIMULATED_ANDROID = "bobs-android"


async def run_local(
    state_dir: Path,
    *,
    port: int = 8080,
    sandbox_port: int = 2197,
    control_port: int = 2198,
    fcm_port: int = 2199,
    say: Callable[[str], None] = print,
    serve: bool = True,
) -> bool:
    """Start everything, ring bob's simulated phones once; True if APNs and FCM (the
    sandbox) took every push."""
    stack = LocalStack(
        state_dir,
        port=port,
        sandbox_port=sandbox_port,
        control_port=control_port,
        fcm_port=fcm_port,
        say=say,
    )
    await stack.start()
    try:
        sandbox, service = stack.sandbox, stack.service
        assert service is not None
        base = stack.url
        say(
            "No Apple or Google credentials configured:"
            " running ringpush on SQLite with its local APNs sandbox and local FCM."
        )
        say(f"  server: {base} (API docs at {base}/docs), database: {stack.database}")
        say(
            f"  APNs sandbox: {sandbox.url(Environment.DEVELOPMENT)} (development),"
            f" {sandbox.url(Environment.PRODUCTION)} (production);"
            f" control API: {sandbox.control_url}"
        )
        say(
            f"  FCM sandbox: {stack.fcm.url} (project {DEMO_FCM_PROJECT});"
            f" control API: {sandbox.control_url}/fcm"
        )
        say(f"  sandbox CA (trust it to reach the sandbox): {sandbox.ca_file}")
        say(f"  FCM sandbox CA: {sandbox.fcm_ca_file}")
        say(f"  operator key: in {service.admin_key_file or 'RINGPUSH_ADMIN_KEY'}")
        user_token = await stack.user_token("bob")
        bob = {"Authorization": f"Bearer {user_token}"}
        phone = sandbox.issue_token(DEMO_BUNDLE_ID, PushType.VOIP, Environment.DEVELOPMENT)
        await stack.http.put(
            f"/v1/devices/{SIMULATED_PHONE}",
            headers=bob,
            json={"token": phone, "push_type": "voip", "environment": "development"},
        )
        android = stack.fcm.issue_token(DEMO_PACKAGE, DEMO_FCM_PROJECT, name=SIMULATED_ANDROID)
        await stack.http.put(
            f"/v1/devices/{SIMULATED_ANDROID}",
            headers=bob,
            json={"platform": "fcm", "token": android},
        )
        # Devices registered by hand (an earlier run's curl examples, a real phone) are
        # bob's too: a call would ring them, so the first call only goes when the
        # simulated phones are bob's only devices.
        simulated = {SIMULATED_PHONE, SIMULATED_ANDROID}
        others = sorted({d["device_id"] for d in await stack.devices_of("bob")} - simulated)
        ok = True
        if others:
            say(
                f"Not ringing bob: he has devices registered by hand ({', '.join(others)});"
                " place a call yourself (POST /v1/calls)."
            )
        else:
            call = await stack.start_call("bob", "alice", "Alice")
            deliveries = call.get("deliveries", [])
            rang = {d["device_id"] for d in deliveries}
            ok = rang == simulated and all(d["status"] == 200 for d in deliveries)
            for d in deliveries:
                say(_rang(d))
        say(f"  demo app {DEMO_APP_ID!r} ({DEMO_BUNDLE_ID}); service key: {stack.service_key}")
        say(f"  user token for bob: {user_token}")
        say(f"  accepted pushes: curl -s {sandbox.control_url}/notifications")
        say(f"  accepted FCM messages: curl -s {sandbox.control_url}/fcm/messages")
        say("  the whole call path on simulated phones: ringpush demo")
        if serve:
            await serve_forever(sandbox, ready=lambda: say("Serving until Ctrl-C."))
        return ok
    finally:
        await stack.stop()


def _rang(delivery: dict[str, Any]) -> str:
    """One line per ringing device; the iPhone's wording is what earlier runs printed."""
    outcome = f"{delivery['apns_id']}: {delivery['status']} ({delivery['state']})"
    if delivery["push_type"] == "fcm":
        return f"Rang bob's simulated Android phone through FCM: push id {outcome}"
    return f"Rang bob's simulated phone: apns-id {outcome}"
