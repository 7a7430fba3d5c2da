"""FCM's quotas: per device (240 a minute, 5000 an hour) and per project."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from ringpush.fcm.error_codes import FcmErrorCode
from ringpush.sandbox.fcm import FcmSandbox
from ringpush.sandbox.fcm.limits import DEVICE_LIMITS, RateLimits
from tests.sandbox_fcm.conftest import (
    PACKAGE,
    PROJECT,
    Clock,
    access_token,
    call_wakeup,
    detail,
    fcm_error_of,
    send,
    trust,
)


def test_the_default_device_limits_are_fcms() -> None:
    assert DEVICE_LIMITS == ((60.0, 240), (3600.0, 5000))


def test_the_241st_message_in_a_minute_is_throttled_until_the_first_leaves() -> None:
    limits = RateLimits()
    for second in range(240):
        assert limits.admit(PROJECT, "phone", 1000.0 + second * 0.1) is None
    throttled = limits.admit(PROJECT, "phone", 1024.0)
    assert throttled is not None
    assert throttled.subject == "device"
    assert throttled.retry_after == 36  # the first send (t=1000) leaves the window at 1060
    assert limits.admit(PROJECT, "phone", 1060.0) is None


def test_the_hourly_device_limit_holds_across_minutes() -> None:
    limits = RateLimits()
    for minute in range(21):
        for i in range(240 if minute < 20 else 200):
            assert limits.admit(PROJECT, "phone", minute * 61.0 + i * 0.01) is None
    throttled = limits.admit(PROJECT, "phone", 21 * 61.0)
    assert throttled is not None and "5000" in throttled.description


def test_devices_are_counted_apart() -> None:
    limits = RateLimits(device_limits=((60.0, 1),))
    assert limits.admit(PROJECT, "phone-a", 0.0) is None
    assert limits.admit(PROJECT, "phone-b", 0.0) is None
    assert limits.admit(PROJECT, "phone-a", 1.0) is not None


def test_a_refused_send_is_not_counted() -> None:
    limits = RateLimits(device_limits=((60.0, 1),))
    assert limits.admit(PROJECT, "phone", 0.0) is None
    for second in range(1, 59):
        assert limits.admit(PROJECT, "phone", float(second)) is not None
    assert limits.admit(PROJECT, "phone", 60.0) is None


def test_the_project_quota_is_per_project() -> None:
    limits = RateLimits(project_per_minute=2)
    assert limits.admit(PROJECT, None, 0.0) is None
    assert limits.admit(PROJECT, None, 0.0) is None
    throttled = limits.admit(PROJECT, None, 0.0)
    assert throttled is not None and throttled.subject == f"projects/{PROJECT}"
    assert limits.admit("another-project", None, 0.0) is None


def test_a_project_quota_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RateLimits(project_per_minute=0)


@pytest.fixture
async def tight(clock: Clock) -> AsyncIterator[FcmSandbox]:
    fcm = FcmSandbox(clock=clock, device_limits=((60.0, 3), (3600.0, 5000)), project_per_minute=5)
    await fcm.start()
    try:
        yield fcm
    finally:
        await fcm.stop()


async def test_over_the_device_rate_is_429_quota_exceeded_with_retry_after(
    tight: FcmSandbox, clock: Clock
) -> None:
    async with httpx.AsyncClient(http2=True, verify=trust(tight), base_url=tight.url) as client:
        bearer = await access_token(client, tight.issue_service_account(PROJECT), clock())
        token = tight.issue_token(PACKAGE, PROJECT)
        for _ in range(3):
            assert (await send(client, bearer, call_wakeup(token))).status_code == 200
        clock.advance(20)
        answer = await send(client, bearer, call_wakeup(token))
        error = fcm_error_of(answer, FcmErrorCode.QUOTA_EXCEEDED)
        assert error["status"] == "RESOURCE_EXHAUSTED"
        assert answer.headers["retry-after"] == "40"
        assert detail(error, "QuotaFailure")["violations"][0]["subject"] == "device"
        assert len(tight.messages(token=token)) == 3
        refreshed = tight.refresh_token(token)  # the same app instance: still throttled
        assert refreshed is not None
        assert (await send(client, bearer, call_wakeup(refreshed))).status_code == 429
        clock.advance(41)
        assert (await send(client, bearer, call_wakeup(refreshed))).status_code == 200


async def test_over_the_project_quota_is_429_naming_the_project(
    tight: FcmSandbox, clock: Clock
) -> None:
    async with httpx.AsyncClient(http2=True, verify=trust(tight), base_url=tight.url) as client:
        bearer = await access_token(client, tight.issue_service_account(PROJECT), clock())
        tokens = [tight.issue_token(PACKAGE, PROJECT) for _ in range(6)]
        answers = [await send(client, bearer, call_wakeup(t)) for t in tokens]
        assert [a.status_code for a in answers] == [200] * 5 + [429]
        error = fcm_error_of(answers[-1], FcmErrorCode.QUOTA_EXCEEDED)
        subject = detail(error, "QuotaFailure")["violations"][0]["subject"]
        assert subject == f"projects/{PROJECT}"


async def test_validate_only_sends_are_not_counted(tight: FcmSandbox, clock: Clock) -> None:
    async with httpx.AsyncClient(http2=True, verify=trust(tight), base_url=tight.url) as client:
        bearer = await access_token(client, tight.issue_service_account(PROJECT), clock())
        token = tight.issue_token(PACKAGE, PROJECT)
        for _ in range(5):
            dry = await send(client, bearer, call_wakeup(token), validate_only=True)
            assert dry.status_code == 200
        assert (await send(client, bearer, call_wakeup(token))).status_code == 200
