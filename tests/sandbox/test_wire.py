"""The sandbox over real TLS + HTTP/2, driven by httpx as an independent client."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.sandbox import Sandbox

from .conftest import BUNDLE, VOIP_TOPIC, Clock, Signer, new_signer, trust

APNS_ID = "6f1c3a52-2a8e-4c1e-9d8a-0b7f4c2e9a11"


def client(sandbox: Sandbox) -> httpx.AsyncClient:
    return httpx.AsyncClient(http2=True, verify=trust(sandbox), timeout=5)


async def push(
    http: httpx.AsyncClient,
    sandbox: Sandbox,
    token: str,
    authorization: str | None,
    *,
    body: bytes = b'{"call_id":"c1"}',
    environment: Environment = Environment.DEVELOPMENT,
    path: str | None = None,
    method: str = "POST",
    **headers: str | None,
) -> httpx.Response:
    fields: dict[str, str | None] = {
        "apns-topic": VOIP_TOPIC,
        "apns-push-type": "voip",
        "apns-id": APNS_ID,
        "authorization": authorization,
    }
    fields.update({k.replace("_", "-"): v for k, v in headers.items()})
    return await http.request(
        method,
        sandbox.url(environment) + (path or f"/3/device/{token}"),
        content=body,
        headers={k: v for k, v in fields.items() if v is not None},
    )


def reason(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/json"
    return str(response.json()["reason"])


@pytest.fixture
def voip_token(sandbox: Sandbox) -> str:
    return sandbox.issue_token(BUNDLE, PushType.VOIP, Environment.DEVELOPMENT)


@pytest.fixture
async def both(clock: Clock, signer: Signer) -> AsyncIterator[Sandbox]:
    server = Sandbox([signer.sandbox_key()], clock=clock)
    await server.start(
        control_port=None, environments=(Environment.DEVELOPMENT, Environment.PRODUCTION)
    )
    try:
        yield server
    finally:
        await server.stop()


async def test_valid_voip_push_is_accepted_and_recorded_with_unique_id(
    sandbox: Sandbox, signer: Signer, voip_token: str
) -> None:
    """200, apns-id echoed, apns-unique-id in development, and the push is on record."""
    async with client(sandbox) as http:
        response = await push(http, sandbox, voip_token, signer.authorization())
    assert response.http_version == "HTTP/2"
    assert response.status_code == 200
    assert response.headers["apns-id"] == APNS_ID
    unique_id = response.headers["apns-unique-id"]
    assert str(uuid.UUID(unique_id)) == unique_id
    assert response.content == b""
    [record] = sandbox.notifications(token=voip_token)
    assert (record.apns_id, record.unique_id, record.topic) == (APNS_ID, unique_id, VOIP_TOPIC)
    assert record.push_type is PushType.VOIP
    assert record.payload == {"call_id": "c1"}
    assert record.headers["apns-push-type"] == "voip"
    assert record.environment is Environment.DEVELOPMENT


async def test_production_port_answers_without_unique_id(both: Sandbox, signer: Signer) -> None:
    token = both.issue_token(BUNDLE, PushType.VOIP, Environment.PRODUCTION)
    async with client(both) as http:
        response = await push(
            http, both, token, signer.authorization(), environment=Environment.PRODUCTION
        )
    assert response.status_code == 200
    assert "apns-unique-id" not in response.headers
    assert both.notifications(token=token)[0].environment is Environment.PRODUCTION


async def test_token_of_the_other_environment_is_bad_device_token(
    both: Sandbox, signer: Signer
) -> None:
    """A production token on the development port and vice versa: 400 BadDeviceToken."""
    production = both.issue_token(BUNDLE, PushType.VOIP, Environment.PRODUCTION)
    development = both.issue_token(BUNDLE, PushType.VOIP, Environment.DEVELOPMENT)
    async with client(both) as http:
        to_dev = await push(http, both, production, signer.authorization())
        to_prod = await push(
            http, both, development, signer.authorization(), environment=Environment.PRODUCTION
        )
    assert (to_dev.status_code, reason(to_dev)) == (400, "BadDeviceToken")
    assert (to_prod.status_code, reason(to_prod)) == (400, "BadDeviceToken")


ERRORS: list[tuple[str, dict[str, object], int, str]] = [
    ("bad apns-id", {"apns_id": "NOT-A-UUID"}, 400, "BadMessageId"),
    ("GET", {"method": "GET", "body": b""}, 405, "MethodNotAllowed"),
    ("no topic", {"apns_topic": None}, 400, "MissingTopic"),
    ("long collapse id", {"apns_collapse_id": "c" * 65}, 400, "BadCollapseId"),
    ("bad expiration", {"apns_expiration": "tomorrow"}, 400, "BadExpirationDate"),
    ("bad priority", {"apns_priority": "7"}, 400, "BadPriority"),
    ("unknown push type", {"apns_push_type": "ring"}, 400, "InvalidPushType"),
    ("no token", {"path": "/3/device/"}, 400, "MissingDeviceToken"),
    ("wrong path", {"path": "/4/device/abcd"}, 404, "BadPath"),
    ("non-hex token", {"path": "/3/device/xyz1"}, 400, "BadDeviceToken"),
    ("unknown token", {"path": "/3/device/" + "ab" * 32}, 400, "BadDeviceToken"),
    ("bare topic for voip", {"apns_topic": BUNDLE}, 400, "DeviceTokenNotForTopic"),
    ("no authorization", {"authorization": None}, 403, "MissingProviderToken"),
    ("garbage jwt", {"authorization": "bearer a.b.c"}, 403, "InvalidProviderToken"),
    ("empty body", {"body": b""}, 400, "PayloadEmpty"),
    ("json array body", {"body": b"[]"}, 400, "PayloadEmpty"),
    ("5121-byte voip body", {"body": b"{" + b" " * 5119 + b"}"}, 413, "PayloadTooLarge"),
]


@pytest.mark.parametrize(
    ("overrides", "status", "expected"),
    [pytest.param(o, s, r, id=name) for name, o, s, r in ERRORS],
)
async def test_error_reason_over_the_wire(
    sandbox: Sandbox,
    signer: Signer,
    voip_token: str,
    overrides: dict[str, object],
    status: int,
    expected: str,
) -> None:
    """Status, content-type, apns-id and {"reason"} exactly as APNs writes them."""
    kwargs: dict[str, object] = {"authorization": signer.authorization(), **overrides}
    authorization = kwargs.pop("authorization")
    assert authorization is None or isinstance(authorization, str)
    async with client(sandbox) as http:
        response = await push(http, sandbox, voip_token, authorization, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status
    assert response.json() == {"reason": expected}
    assert response.headers["content-type"] == "application/json"
    if expected == "BadMessageId":
        assert uuid.UUID(response.headers["apns-id"])
    else:
        assert response.headers["apns-id"] == APNS_ID
    assert sandbox.notifications() == []
    assert sum(sandbox.stats.rejected.values()) == 1


async def test_repeated_header_is_duplicate_headers(
    sandbox: Sandbox, signer: Signer, voip_token: str
) -> None:
    headers = [
        ("apns-topic", VOIP_TOPIC),
        ("apns-push-type", "voip"),
        ("apns-priority", "10"),
        ("apns-priority", "10"),
        ("authorization", signer.authorization()),
    ]
    async with client(sandbox) as http:
        response = await http.post(
            f"{sandbox.url()}/3/device/{voip_token}", content=b"{}", headers=headers
        )
    assert (response.status_code, reason(response)) == (400, "DuplicateHeaders")


async def test_uninstalled_token_is_410_with_timestamp_in_milliseconds(
    sandbox: Sandbox, signer: Signer, voip_token: str, clock: Clock
) -> None:
    clock.advance(12.345)
    uninstalled_at = sandbox.uninstall(voip_token)
    assert uninstalled_at == int(clock() * 1000)
    async with client(sandbox) as http:
        response = await push(http, sandbox, voip_token, signer.authorization())
    assert response.status_code == 410
    assert response.json() == {"reason": "Unregistered", "timestamp": uninstalled_at}
    assert response.json()["timestamp"] > 10**12  # milliseconds, not seconds


async def test_5000_byte_voip_payload_is_accepted(
    sandbox: Sandbox, signer: Signer, voip_token: str
) -> None:
    body = json.dumps({"pad": "x" * (5000 - 11)}).encode()
    async with client(sandbox) as http:
        response = await push(http, sandbox, voip_token, signer.authorization(), body=body)
    assert response.status_code == 200


async def test_expired_token_is_403_expired_provider_token(
    sandbox: Sandbox, signer: Signer, voip_token: str, clock: Clock
) -> None:
    """The same token, an hour and a second later on the same connection."""
    header = signer.authorization()
    async with client(sandbox) as http:
        assert (await push(http, sandbox, voip_token, header)).status_code == 200
        clock.advance(3601)
        response = await push(http, sandbox, voip_token, header)
    assert (response.status_code, reason(response)) == (403, "ExpiredProviderToken")


async def test_token_signed_by_an_unregistered_key_is_invalid_provider_token(
    sandbox: Sandbox, voip_token: str, clock: Clock
) -> None:
    stranger = new_signer(clock)
    async with client(sandbox) as http:
        response = await push(http, sandbox, voip_token, stranger.authorization())
    assert (response.status_code, reason(response)) == (403, "InvalidProviderToken")


async def test_token_with_our_kid_but_wrong_key_is_invalid_provider_token(
    sandbox: Sandbox, signer: Signer, voip_token: str, clock: Clock
) -> None:
    forger = new_signer(clock, team_id=signer.team_id)
    header, _, _ = signer.authorization().partition(".")
    _, claims_and_sig = forger.authorization().split(".", 1)
    async with client(sandbox) as http:
        response = await push(http, sandbox, voip_token, f"{header}.{claims_and_sig}")
    assert (response.status_code, reason(response)) == (403, "InvalidProviderToken")


async def test_second_token_within_20_minutes_on_one_connection_is_429(
    sandbox: Sandbox, signer: Signer, voip_token: str, clock: Clock
) -> None:
    async with client(sandbox) as http:
        assert (await push(http, sandbox, voip_token, signer.authorization())).status_code == 200
        clock.advance(5 * 60)
        response = await push(http, sandbox, voip_token, signer.authorization())
    assert (response.status_code, reason(response)) == (429, "TooManyProviderTokenUpdates")


async def test_other_team_on_the_same_connection_is_invalid_provider_token(
    sandbox: Sandbox, signer: Signer, voip_token: str, clock: Clock
) -> None:
    other = new_signer(clock)
    sandbox.register_key(other.key_id, other.team_id, other.credentials.public_pem())
    async with client(sandbox) as http:
        assert (await push(http, sandbox, voip_token, signer.authorization())).status_code == 200
        clock.advance(21 * 60)
        response = await push(http, sandbox, voip_token, other.authorization())
    assert (response.status_code, reason(response)) == (403, "InvalidProviderToken")
    async with client(sandbox) as fresh:
        assert (await push(fresh, sandbox, voip_token, other.authorization())).status_code == 200


async def test_fault_error_rate_1_answers_500_or_503_and_stores_nothing(
    sandbox: Sandbox, signer: Signer, voip_token: str
) -> None:
    sandbox.faults.update({"error_rate": 1.0})
    header = signer.authorization()
    async with client(sandbox) as http:
        first = await push(http, sandbox, voip_token, header)
        sandbox.faults.update({"error_status": 503})
        second = await push(http, sandbox, voip_token, header)
    assert (first.status_code, reason(first)) == (500, "InternalServerError")
    assert (second.status_code, reason(second)) == (503, "ServiceUnavailable")
    assert sandbox.notifications() == []
    assert sandbox.stats.faults_applied == {"InternalServerError": 1, "ServiceUnavailable": 1}


async def test_fault_too_many_requests_hits_only_the_listed_token(
    sandbox: Sandbox, signer: Signer, voip_token: str
) -> None:
    other = sandbox.issue_token(BUNDLE, PushType.VOIP)
    sandbox.faults.update({"too_many_requests_tokens": [voip_token.upper()]})
    header = signer.authorization()
    async with client(sandbox) as http:
        throttled = await push(http, sandbox, voip_token, header)
        fine = await push(http, sandbox, other, header)
    assert (throttled.status_code, reason(throttled)) == (429, "TooManyRequests")
    assert fine.status_code == 200


async def test_fault_shutdown_answers_503_shutdown(
    sandbox: Sandbox, signer: Signer, voip_token: str
) -> None:
    sandbox.faults.shutdown = True
    async with client(sandbox) as http:
        response = await push(http, sandbox, voip_token, signer.authorization())
    assert (response.status_code, reason(response)) == (503, "Shutdown")


async def test_reset_clears_records_counters_and_faults(
    sandbox: Sandbox, signer: Signer, voip_token: str
) -> None:
    async with client(sandbox) as http:
        await push(http, sandbox, voip_token, signer.authorization())
    sandbox.faults.update({"error_rate": 1.0})
    sandbox.reset()
    assert sandbox.notifications() == []
    assert sandbox.stats.accepted == 0
    assert not sandbox.faults.active
