"""Faults on demand: 500, 503 with Retry-After, forced 429, THIRD_PARTY_AUTH_ERROR,
latency and dropped connections."""

from __future__ import annotations

import time

import httpx
import pytest

from ringpush.fcm.error_codes import FcmErrorCode
from ringpush.sandbox.faults import FaultError
from ringpush.sandbox.fcm import FcmFaults, FcmSandbox
from tests.sandbox_fcm.conftest import (
    PACKAGE,
    PROJECT,
    call_wakeup,
    detail,
    fcm_error_of,
    send,
    trust,
)


@pytest.fixture
def token(sandbox: FcmSandbox) -> str:
    return sandbox.issue_token(PACKAGE, PROJECT)


async def test_error_rate_with_status_500_answers_internal(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str, token: str
) -> None:
    sandbox.faults.update({"error_rate": 1.0, "error_status": 500})
    answer = await send(client, bearer, call_wakeup(token))
    fcm_error_of(answer, FcmErrorCode.INTERNAL)
    assert sandbox.messages() == []


async def test_error_rate_with_status_503_answers_unavailable_with_retry_after(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str, token: str
) -> None:
    sandbox.faults.update({"error_rate": 1.0, "error_status": 503, "retry_after_seconds": 7})
    answer = await send(client, bearer, call_wakeup(token))
    fcm_error_of(answer, FcmErrorCode.UNAVAILABLE)
    assert answer.headers["retry-after"] == "7"


async def test_faults_apply_only_to_valid_sends(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str
) -> None:
    """A client's own mistakes still get their own answer while FCM is failing."""
    sandbox.faults.update({"error_rate": 1.0})
    fcm_error_of(await send(client, bearer, {"token": "x"}), FcmErrorCode.UNREGISTERED)


async def test_forced_quota_exceeded_answers_429_with_retry_after(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str, token: str
) -> None:
    sandbox.faults.update({"quota_exceeded": True, "retry_after_seconds": 30})
    answer = await send(client, bearer, call_wakeup(token))
    detail(fcm_error_of(answer, FcmErrorCode.QUOTA_EXCEEDED), "QuotaFailure")
    assert answer.headers["retry-after"] == "30"


async def test_third_party_auth_error_is_a_401_with_fcm_error(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str, token: str
) -> None:
    """The 401 a client must not answer by refreshing its access token."""
    sandbox.faults.update({"third_party_auth_error": True})
    error = fcm_error_of(
        await send(client, bearer, call_wakeup(token)), FcmErrorCode.THIRD_PARTY_AUTH_ERROR
    )
    assert error["status"] == "UNAUTHENTICATED"


async def test_latency_delays_the_answer(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str, token: str
) -> None:
    sandbox.faults.update({"latency_ms": 250})
    started = time.perf_counter()
    assert (await send(client, bearer, call_wakeup(token))).status_code == 200
    assert time.perf_counter() - started >= 0.25


@pytest.mark.parametrize("http2", [True, False], ids=["h2", "http1.1"])
async def test_a_dropped_connection_gets_no_answer_and_delivers_nothing(
    sandbox: FcmSandbox, bearer: str, token: str, http2: bool
) -> None:
    sandbox.faults.update({"drop_rate": 1.0})
    async with httpx.AsyncClient(http2=http2, verify=trust(sandbox), base_url=sandbox.url) as c:
        with pytest.raises(httpx.TransportError):
            await send(c, bearer, call_wakeup(token))
        sandbox.faults.clear()
        assert (await send(c, bearer, call_wakeup(token))).status_code == 200  # reconnects
    assert len(sandbox.messages()) == 1


async def test_drop_accepted_delivers_but_never_answers(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str, token: str
) -> None:
    sandbox.faults.update({"drop_rate": 1.0, "drop_accepted": True})
    with pytest.raises(httpx.TransportError):
        await send(client, bearer, call_wakeup(token))
    assert len(sandbox.messages(token=token)) == 1


def test_a_bad_fault_value_changes_nothing() -> None:
    faults = FcmFaults()
    with pytest.raises(FaultError) as caught:
        faults.update({"error_rate": 0.5, "error_status": 502})
    assert caught.value.code == "invalid_fault"
    assert faults.error_rate == 0.0


def test_an_unknown_fault_is_named() -> None:
    with pytest.raises(FaultError) as caught:
        FcmFaults().update({"goaway": 1})
    assert caught.value.code == "unknown_fault"


@pytest.mark.parametrize(
    ("knob", "value"),
    [("error_rate", 1.5), ("drop_rate", True), ("latency_ms", -1), ("retry_after_seconds", 1.5)],
)
def test_out_of_range_knobs_are_refused(knob: str, value: object) -> None:
    with pytest.raises(FaultError):
        FcmFaults().update({knob: value})


async def test_forced_sender_id_mismatch_answers_403(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str, token: str
) -> None:
    sandbox.faults.update({"sender_id_mismatch": True})
    answer = await send(client, bearer, call_wakeup(token))
    fcm_error_of(answer, FcmErrorCode.SENDER_ID_MISMATCH)
    assert sandbox.messages() == []
