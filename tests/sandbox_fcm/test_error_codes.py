"""Every FCM error code the sandbox gives, over the wire, in FCM's exact shape, with its
status and canonical status from ringpush's one table (so client and sandbox agree)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from ringpush.fcm.error_codes import FcmErrorCode, action_for
from ringpush.sandbox.fcm import FcmSandbox
from tests.sandbox_fcm.conftest import (
    OTHER_PROJECT,
    PACKAGE,
    PROJECT,
    call_wakeup,
    fcm_error_of,
    send,
)

Trigger = Callable[[FcmSandbox, httpx.AsyncClient, str], Awaitable[httpx.Response]]


async def _invalid_argument(
    fcm: FcmSandbox, client: httpx.AsyncClient, bearer: str
) -> httpx.Response:
    token = fcm.issue_token(PACKAGE, PROJECT)
    return await send(client, bearer, {"token": token, "data": {"n": 1}})


async def _unregistered(fcm: FcmSandbox, client: httpx.AsyncClient, bearer: str) -> httpx.Response:
    token = fcm.issue_token(PACKAGE, PROJECT)
    fcm.uninstall(token)
    return await send(client, bearer, call_wakeup(token))


async def _sender_id_mismatch(
    fcm: FcmSandbox, client: httpx.AsyncClient, bearer: str
) -> httpx.Response:
    return await send(client, bearer, call_wakeup(fcm.issue_token(PACKAGE, OTHER_PROJECT)))


def _fault(**knobs: object) -> Trigger:
    async def trigger(fcm: FcmSandbox, client: httpx.AsyncClient, bearer: str) -> httpx.Response:
        fcm.faults.update(knobs)
        return await send(client, bearer, call_wakeup(fcm.issue_token(PACKAGE, PROJECT)))

    return trigger


TRIGGERS: dict[FcmErrorCode, Trigger] = {
    FcmErrorCode.INVALID_ARGUMENT: _invalid_argument,
    FcmErrorCode.UNREGISTERED: _unregistered,
    FcmErrorCode.SENDER_ID_MISMATCH: _sender_id_mismatch,
    FcmErrorCode.QUOTA_EXCEEDED: _fault(quota_exceeded=True),
    FcmErrorCode.UNAVAILABLE: _fault(error_rate=1.0, error_status=503),
    FcmErrorCode.INTERNAL: _fault(error_rate=1.0, error_status=500),
    FcmErrorCode.THIRD_PARTY_AUTH_ERROR: _fault(third_party_auth_error=True),
}
#: Never answered: UNSPECIFIED_ERROR means "no detail", APNS_AUTH_ERROR is the old name.
NOT_GIVEN = {FcmErrorCode.UNSPECIFIED_ERROR, FcmErrorCode.APNS_AUTH_ERROR}


def test_every_code_is_either_given_or_known_not_to_be() -> None:
    assert set(TRIGGERS) | NOT_GIVEN == set(FcmErrorCode)


@pytest.mark.parametrize("code", list(TRIGGERS), ids=str)
async def test_each_code_is_answered_with_its_status_canonical_and_fcm_error(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str, code: FcmErrorCode
) -> None:
    answer = await TRIGGERS[code](sandbox, client, bearer)
    error = fcm_error_of(answer, code)
    parsed = FcmErrorCode.parse(error["details"][0]["errorCode"])
    assert action_for(answer.status_code, parsed, error["message"]) is code.action
