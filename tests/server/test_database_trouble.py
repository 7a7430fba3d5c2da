"""Calls while the database cannot take writes: 503 ``database_unavailable`` with
Retry-After (never a 500), nothing stored, ``/readyz`` saying so without going unready,
and calls accepted and rung again once the database is writable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ringpush.server.errors import DATABASE_RETRY_AFTER_SECONDS
from tests.server.stack import running_stack


async def test_a_call_while_another_process_holds_the_write_lock_is_503_then_rings(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ringpush.db"
    async with running_stack(f"sqlite:///{path}") as stack:
        bob = await stack.user("bob")
        token = await stack.device(bob, "phone")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # a backup tool, an operator's sqlite3 shell
        try:
            refused = await stack.http.post(
                "/v1/calls",
                headers=stack.service,
                json={"call_id": "c-locked", "caller_id": "alice", "callee_user_id": "bob"},
                timeout=30,  # SQLite waits out its busy timeout (5 s) first
            )
            ready = await stack.http.get("/readyz")
        finally:
            other.execute("COMMIT")
            other.close()
        assert refused.status_code == 503, refused.text
        error = refused.json()["error"]
        assert error["code"] == "database_unavailable"
        assert "locked" in error["message"]
        assert refused.headers["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
        # Shown, but not a check that takes the instance out of the load balancer: every
        # instance shares the database.
        assert ready.json()["checks"]["database"] == "ok", ready.text
        assert ready.json()["database_writes"]["trouble"] == "locked"

        assert await stack.registry.calls.get("demo", "c-locked") is None  # nothing stored
        assert (
            await stack.http.get("/v1/calls/c-locked", headers=stack.service)
        ).status_code == 404

        await stack.ring("bob", "c-after")
        assert "database_writes" not in (await stack.http.get("/readyz")).json()
        [pushed] = stack.sandbox.notifications(token=token)  # the call's answer waits for it
        assert pushed.headers["apns-push-type"] == "voip"
