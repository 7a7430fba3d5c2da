"""Rate limits per credential over real HTTP: a flood from one user, one app's calling
service or one address guessing credentials is refused with 429 and Retry-After, and
nobody else notices."""

from __future__ import annotations

import pytest

from ringpush.server.rate_limits import MAX_KEYS, RateLimiter, RateLimitSettings
from tests.server.stack import ADMIN, running_stack


def assert_limited(response_status: int, headers: dict[str, str], body: dict[str, object]) -> None:
    assert response_status == 429
    assert int(headers["retry-after"]) >= 1
    assert body["error"]["code"] == "rate_limited"  # type: ignore[index]


async def test_one_users_registrations_are_limited_and_others_are_not(database_url: str) -> None:
    async with running_stack(database_url, RateLimitSettings(registrations=0.5)) as stack:
        bob, alice = await stack.user("bob"), await stack.user("alice")
        for n in range(5):  # the burst: ten seconds' worth
            await stack.device(bob, f"phone-{n}")
        refused = await stack.register(bob, "one-too-many")
        assert_limited(refused.status_code, dict(refused.headers), refused.json())
        assert len(await stack.registry.devices_of_user("demo", "bob")) == 5  # nothing stored
        removal = await stack.http.delete("/v1/devices/phone-0", headers=bob)
        assert removal.status_code == 429  # removals count too
        await stack.device(alice, "phone")  # alice has a budget of her own


async def test_one_apps_calls_are_limited_and_another_apps_are_not(database_url: str) -> None:
    async with running_stack(database_url, RateLimitSettings(calls=0.3)) as stack:
        bob = await stack.user("bob")
        await stack.device(bob, "phone")
        call = {"caller_id": "alice", "callee_user_id": "bob"}
        for _ in range(3):
            placed = await stack.http.post("/v1/calls", headers=stack.service, json=call)
            assert placed.status_code == 201, placed.text
        refused = await stack.http.post("/v1/calls", headers=stack.service, json=call)
        assert_limited(refused.status_code, dict(refused.headers), refused.json())
        # another app's calling service still places calls
        other = await stack.http.put(
            "/v1/apps/other", headers=ADMIN, json={"bundle_id": "com.example.other"}
        )
        assert other.status_code == 200
        minted = await stack.http.post("/v1/apps/other/service-keys", headers=ADMIN, json={})
        service = {"Authorization": f"Bearer {minted.json()['key']}"}
        nobody = await stack.http.post("/v1/calls", headers=service, json=call)
        assert nobody.status_code == 404  # past the limit: no device, as it should be


async def test_an_address_that_keeps_failing_to_authenticate_is_held_off(
    database_url: str,
) -> None:
    async with running_stack(database_url, RateLimitSettings(auth_failures=0.5)) as stack:
        bob = await stack.user("bob")
        for n in range(5):
            guess = {"Authorization": f"Bearer rps_guess{n}"}
            assert (await stack.http.get("/v1/devices", headers=guess)).status_code == 401
        # From now on the address is refused before any credential is looked at, a right
        # one included, so guessing goes no faster than the rate.
        held = await stack.http.get("/v1/devices", headers=bob)
        assert_limited(held.status_code, dict(held.headers), held.json())


def test_a_bucket_refills_at_its_rate_and_forgets_idle_keys() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, clock=lambda: now[0])  # a burst of 20
    assert all(limiter.take("k") == 0 for _ in range(20))
    assert limiter.take("k") == pytest.approx(0.5)
    assert limiter.wait("never-seen") == 0  # asking keeps nothing
    now[0] += 1.0
    assert limiter.take("k") == 0 and limiter.take("k") == 0
    assert limiter.take("k") > 0
    for n in range(MAX_KEYS - 1):
        limiter.take(f"u{n}")
    now[0] += 60.0  # every bucket full again: the next new key makes room
    limiter.take("fresh")
    assert limiter.wait("k") == 0 and len(limiter._buckets) == 1
    assert RateLimiter(0).take("k") == 0  # 0: no limit
