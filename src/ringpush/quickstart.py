"""What ``make run`` does with no Apple credentials: the server on SQLite, the built-in
sandbox standing in for APNs, a demo app, and a first call to a simulated phone.

The operator key, a service key and a user token are printed so that the curl examples
in the README work against it right away.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.local_stack import DEMO_APP_ID, DEMO_BUNDLE_ID, LocalStack
from ringpush.sandbox import serve_forever

#: The device id of bob's simulated phone, which every run registers anew.
SIMULATED_PHONE = "bobs-phone"


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
    stack = LocalStack(
        state_dir, port=port, sandbox_port=sandbox_port, control_port=control_port, say=say
    )
    await stack.start()
    try:
        sandbox, service = stack.sandbox, stack.service
        assert service is not None
        base = stack.url
        say(
            "No Apple credentials configured:"
            " running ringpush on SQLite with its local APNs sandbox."
        )
        say(f"  server: {base} (API docs at {base}/docs), database: {stack.database}")
        say(
            f"  APNs sandbox: {sandbox.url(Environment.DEVELOPMENT)} (development),"
            f" {sandbox.url(Environment.PRODUCTION)} (production);"
            f" control API: {sandbox.control_url}"
        )
        say(f"  sandbox CA (trust it to reach the sandbox): {sandbox.ca_file}")
        say(f"  operator key: in {service.admin_key_file or 'RINGPUSH_ADMIN_KEY'}")
        user_token = await stack.user_token("bob")
        phone = sandbox.issue_token(DEMO_BUNDLE_ID, PushType.VOIP, Environment.DEVELOPMENT)
        await stack.http.put(
            f"/v1/devices/{SIMULATED_PHONE}",
            headers={"Authorization": f"Bearer {user_token}"},
            json={"token": phone, "push_type": "voip", "environment": "development"},
        )
        # Devices registered by hand (an earlier run's curl examples, a real phone) are
        # bob's too: a call would ring them, so the first call only goes when the
        # simulated phone is bob's only device.
        others = sorted({d["device_id"] for d in await stack.devices_of("bob")} - {SIMULATED_PHONE})
        ok = True
        if others:
            say(
                f"Not ringing bob: he has devices registered by hand ({', '.join(others)});"
                " place a call yourself (POST /v1/calls)."
            )
        else:
            call = await stack.start_call("bob", "alice", "Alice")
            deliveries = call.get("deliveries", [])
            ok = bool(deliveries) and all(d["status"] == 200 for d in deliveries)
            for d in deliveries:
                say(
                    f"Rang bob's simulated phone: apns-id {d['apns_id']}:"
                    f" {d['status']} ({d['state']})"
                )
        say(f"  demo app {DEMO_APP_ID!r} ({DEMO_BUNDLE_ID}); service key: {stack.service_key}")
        say(f"  user token for bob: {user_token}")
        say(f"  accepted pushes: curl -s {sandbox.control_url}/notifications")
        say("  the whole call path on simulated phones: ringpush demo")
        if serve:
            await serve_forever(sandbox, ready=lambda: say("Serving until Ctrl-C."))
        return ok
    finally:
        await stack.stop()
