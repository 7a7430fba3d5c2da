"""``POST /token`` over TLS: the JWT-bearer exchange, each refusal, and expiry."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ringpush.sandbox.fcm import FcmSandbox
from ringpush.sandbox.fcm.oauth import GRANT_TYPE
from tests.sandbox_fcm.conftest import (
    PROJECT,
    Clock,
    access_token,
    assertion,
    call_wakeup,
    error_of,
    exchange,
    send,
)
from tests.sandbox_fcm.test_oauth import other_private_pem


async def test_exchange_answers_a_bearer_token_for_3599_seconds(
    client: httpx.AsyncClient, account: dict[str, Any], clock: Clock
) -> None:
    answer = await exchange(client, assertion(account, clock()))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["expires_in"] == 3599
    assert body["token_type"] == "Bearer"
    assert body["access_token"].startswith("ya29.")


def test_the_key_file_looks_like_googles(sandbox: FcmSandbox, account: dict[str, Any]) -> None:
    assert account["type"] == "service_account"
    assert account["project_id"] == PROJECT
    assert account["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert account["client_email"].endswith(f"@{PROJECT}.iam.gserviceaccount.com")
    assert account["token_uri"] == sandbox.token_url
    assert len(account["private_key_id"]) == 40
    assert account["client_id"].isdigit()
    assert account["universe_domain"] == "googleapis.com"
    for name in ("auth_uri", "auth_provider_x509_cert_url", "client_x509_cert_url"):
        assert account[name].startswith("https://")


def _refusal(answer: httpx.Response) -> tuple[str, str]:
    assert answer.status_code == 400
    body = answer.json()
    assert set(body) == {"error", "error_description"}
    return body["error"], body["error_description"]


@pytest.mark.parametrize(
    ("claims", "headers", "expected"),
    [
        ({"aud": "https://oauth2.googleapis.com/token"}, {}, "Failed audience check"),
        ({}, {"kid": "f" * 40}, "Invalid JWT Signature."),
        ({"exp_offset": 3601}, {}, "short-lived token"),
        ({"iss": "stranger@x.iam.gserviceaccount.com"}, {}, "account not found"),
    ],
    ids=["wrong-aud", "wrong-kid", "exp-too-long", "unknown-iss"],
)
async def test_refused_assertions_get_invalid_grant_with_googles_text(
    client: httpx.AsyncClient,
    account: dict[str, Any],
    clock: Clock,
    claims: dict[str, Any],
    headers: dict[str, Any],
    expected: str,
) -> None:
    offset = claims.pop("exp_offset", None)
    if offset is not None:
        claims["exp"] = int(clock()) + offset
    answer = await exchange(client, assertion(account, clock(), headers=headers, **claims))
    error, description = _refusal(answer)
    assert error == "invalid_grant"
    assert expected in description


async def test_a_bad_signature_gets_invalid_grant(
    client: httpx.AsyncClient, account: dict[str, Any], clock: Clock
) -> None:
    answer = await exchange(client, assertion(account, clock(), key=other_private_pem()))
    assert _refusal(answer) == ("invalid_grant", "Invalid JWT Signature.")


async def test_a_bad_grant_type_is_unsupported(
    client: httpx.AsyncClient, account: dict[str, Any], clock: Clock
) -> None:
    signed = assertion(account, clock())
    answer = await client.post("/token", data={"grant_type": "password", "assertion": signed})
    assert _refusal(answer) == ("unsupported_grant_type", "Invalid grant_type: password")


async def test_a_json_body_is_not_a_form(
    client: httpx.AsyncClient, account: dict[str, Any], clock: Clock
) -> None:
    body = {"grant_type": GRANT_TYPE, "assertion": assertion(account, clock())}
    answer = await client.post("/token", json=body)
    assert _refusal(answer)[0] == "unsupported_grant_type"


async def test_an_account_registered_from_elsewhere_can_exchange(
    sandbox: FcmSandbox, client: httpx.AsyncClient, clock: Clock
) -> None:
    outside = {
        "type": "service_account",
        "project_id": "outside-project",
        "private_key_id": "a" * 40,
        "private_key": other_private_pem(),
        "client_email": "pusher@outside-project.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    sandbox.register_service_account(outside)
    answer = await exchange(client, assertion(outside, clock(), aud=sandbox.token_url))
    assert answer.status_code == 200


async def test_an_expired_access_token_gets_401_access_token_expired(
    sandbox: FcmSandbox, client: httpx.AsyncClient, account: dict[str, Any], clock: Clock
) -> None:
    sandbox.access_token_lifetime = 60
    bearer = await access_token(client, account, clock())
    token = sandbox.issue_token("com.example.ring", PROJECT)
    assert (await send(client, bearer, call_wakeup(token))).status_code == 200
    clock.advance(61)
    answer = await send(client, bearer, call_wakeup(token))
    error = error_of(answer)
    assert answer.status_code == 401
    assert error["status"] == "UNAUTHENTICATED"
    assert error["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"
    assert error["details"][0]["metadata"]["service"] == "fcm.googleapis.com"
    assert "FcmError" not in answer.text  # a 401 to answer by refreshing the token


async def test_expire_access_tokens_ends_every_issued_token_now(
    sandbox: FcmSandbox, client: httpx.AsyncClient, account: dict[str, Any], clock: Clock
) -> None:
    bearer = await access_token(client, account, clock())
    assert sandbox.expire_access_tokens() == 1
    token = sandbox.issue_token("com.example.ring", PROJECT)
    answer = await send(client, bearer, call_wakeup(token))
    assert answer.status_code == 401
    assert "ACCESS_TOKEN_EXPIRED" in answer.text
    fresh = await access_token(client, account, clock())
    assert (await send(client, fresh, call_wakeup(token))).status_code == 200


async def test_token_endpoint_down_answers_503(
    sandbox: FcmSandbox, client: httpx.AsyncClient, account: dict[str, Any], clock: Clock
) -> None:
    sandbox.faults.update({"token_endpoint_down": True})
    answer = await exchange(client, assertion(account, clock()))
    assert answer.status_code == 503
    assert answer.json()["error"] == "temporarily_unavailable"
    sandbox.faults.clear()
    assert (await exchange(client, assertion(account, clock()))).status_code == 200
