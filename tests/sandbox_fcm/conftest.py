"""Shared fixtures: a settable clock, a running FCM sandbox, a client that trusts only
its CA, a service account, and helpers that sign assertions and send messages the way a
provider does (PyJWT, form body, bearer header)."""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import jwt
import pytest

from ringpush.fcm.error_codes import FcmErrorCode
from ringpush.sandbox.fcm import FcmSandbox
from ringpush.sandbox.fcm.oauth import GRANT_TYPE
from ringpush.sandbox.fcm.rejection import CONTENT_TYPE, FCM_ERROR_TYPE

PROJECT = "ringpush-test"
OTHER_PROJECT = "ringpush-other"
PACKAGE = "com.example.ring"
MESSAGING_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


class Clock:
    """A settable clock; starts at the real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def sandbox(clock: Clock) -> AsyncIterator[FcmSandbox]:
    fcm = FcmSandbox(clock=clock)
    await fcm.start()
    try:
        yield fcm
    finally:
        await fcm.stop()


def trust(fcm: FcmSandbox) -> ssl.SSLContext:
    """What a client does: trust the CA file the sandbox wrote, nothing else."""
    return ssl.create_default_context(cafile=str(fcm.ca_file))


@pytest.fixture
async def client(sandbox: FcmSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(http2=True, verify=trust(sandbox), base_url=sandbox.url) as c:
        yield c


@pytest.fixture
def account(sandbox: FcmSandbox) -> dict[str, Any]:
    return sandbox.issue_service_account(PROJECT)


def assertion(
    account: Mapping[str, Any],
    now: float,
    *,
    headers: Mapping[str, Any] | None = None,
    key: str | None = None,
    **claims: Any,
) -> str:
    """A JWT-bearer assertion as google-auth signs one, with ``claims`` overriding."""
    payload = {
        "iss": account["client_email"],
        "aud": account["token_uri"],
        "scope": MESSAGING_SCOPE,
        "iat": int(now),
        "exp": int(now) + 3600,
        **claims,
    }
    header = {"kid": account["private_key_id"], **(headers or {})}
    return jwt.encode(
        {k: v for k, v in payload.items() if v is not None},
        key or account["private_key"],
        algorithm="RS256",
        headers=header,
    )


async def exchange(client: httpx.AsyncClient, signed: str) -> httpx.Response:
    return await client.post("/token", data={"grant_type": GRANT_TYPE, "assertion": signed})


async def access_token(client: httpx.AsyncClient, account: Mapping[str, Any], now: float) -> str:
    answer = await exchange(client, assertion(account, now))
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


@pytest.fixture
async def bearer(client: httpx.AsyncClient, account: dict[str, Any], clock: Clock) -> str:
    return await access_token(client, account, clock())


async def send(
    client: httpx.AsyncClient,
    bearer: str | None,
    message: Any,
    *,
    project: str = PROJECT,
    **body: Any,
) -> httpx.Response:
    headers = {"authorization": f"Bearer {bearer}"} if bearer is not None else {}
    return await client.post(
        f"/v1/projects/{project}/messages:send",
        headers=headers,
        json={"message": message, **body},
    )


def call_wakeup(token: str, **android: Any) -> dict[str, Any]:
    """What ringpush sends to wake a phone: a high-priority data message."""
    return {
        "token": token,
        "data": {"call_id": "c-1", "caller": "Alice"},
        "android": {"priority": "high", "ttl": "30s", **android},
    }


def error_of(answer: httpx.Response) -> dict[str, Any]:
    """The error object, after checking the shape every FCM error has (§4)."""
    assert answer.headers["content-type"] == CONTENT_TYPE
    body = answer.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "status", "details"}
    assert error["code"] == answer.status_code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], list)
    return error


def fcm_error_of(answer: httpx.Response, code: FcmErrorCode) -> dict[str, Any]:
    """The error, checked to be ``code``'s answer: status and canonical status from the
    table, and the FcmError detail."""
    error = error_of(answer)
    assert answer.status_code == code.status
    assert error["status"] == code.canonical
    assert {"@type": FCM_ERROR_TYPE, "errorCode": code.value} in error["details"]
    return error


def detail(error: Mapping[str, Any], type_suffix: str) -> dict[str, Any]:
    found = [d for d in error["details"] if d["@type"].endswith(type_suffix)]
    assert len(found) == 1, error["details"]
    return dict(found[0])
