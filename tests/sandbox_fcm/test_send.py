"""``POST /v1/projects/{project}/messages:send`` over real TLS, HTTP/2 and HTTP/1.1."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from ringpush.fcm.error_codes import FcmErrorCode
from ringpush.sandbox.fcm import FcmSandbox
from tests.sandbox_fcm.conftest import (
    OTHER_PROJECT,
    PACKAGE,
    PROJECT,
    call_wakeup,
    detail,
    error_of,
    fcm_error_of,
    send,
    trust,
)

NAME = re.compile(r"^projects/ringpush-test/messages/0:\d+%[0-9a-f]{16}$")


async def test_an_accepted_message_gets_a_fresh_name_and_is_recorded(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str
) -> None:
    token = sandbox.issue_token(PACKAGE, PROJECT)
    first = await send(client, bearer, call_wakeup(token))
    second = await send(client, bearer, call_wakeup(token))
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json; charset=UTF-8"
    assert set(first.json()) == {"name"}
    assert NAME.fullmatch(first.json()["name"])
    assert first.json()["name"] != second.json()["name"]
    records = sandbox.messages(token=token)
    assert [r.name for r in records] == [first.json()["name"], second.json()["name"]]
    assert records[0].message == call_wakeup(token)
    assert records[0].project_id == PROJECT


@pytest.mark.parametrize("http2", [True, False], ids=["h2", "http1.1"])
async def test_both_http_versions_are_served_on_one_port(
    sandbox: FcmSandbox, bearer: str, http2: bool
) -> None:
    token = sandbox.issue_token(PACKAGE, PROJECT)
    async with httpx.AsyncClient(http2=http2, verify=trust(sandbox), base_url=sandbox.url) as c:
        answer = await send(c, bearer, call_wakeup(token))
    assert answer.status_code == 200
    assert answer.http_version == ("HTTP/2" if http2 else "HTTP/1.1")


async def test_the_project_number_works_in_the_url(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str
) -> None:
    token = sandbox.issue_token(PACKAGE, PROJECT)
    number = sandbox.project_number(PROJECT)
    answer = await send(client, bearer, call_wakeup(token), project=number)
    assert answer.status_code == 200
    assert answer.json()["name"].startswith(f"projects/{PROJECT}/messages/")


async def test_validate_only_checks_everything_and_delivers_nothing(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str
) -> None:
    device = sandbox.device("phone", PACKAGE, PROJECT)
    assert device.token is not None
    answer = await send(client, bearer, call_wakeup(device.token), validate_only=True)
    assert answer.json() == {"name": f"projects/{PROJECT}/messages/fake_message_id"}
    assert sandbox.messages() == [] and device.messages == []
    refused = await send(client, bearer, {"token": "never-issued"}, validate_only=True)
    fcm_error_of(refused, FcmErrorCode.UNREGISTERED)


async def test_no_credential_is_401_without_fcm_error(
    sandbox: FcmSandbox, client: httpx.AsyncClient
) -> None:
    answer = await send(client, None, call_wakeup(sandbox.issue_token(PACKAGE, PROJECT)))
    error = error_of(answer)
    assert (answer.status_code, error["status"]) == (401, "UNAUTHENTICATED")
    assert "missing required authentication credential" in error["message"]
    assert detail(error, "ErrorInfo")["reason"] == "CREDENTIALS_MISSING"
    assert answer.headers["www-authenticate"].startswith("Bearer realm=")


async def test_an_unknown_bearer_is_401_invalid_credentials(client: httpx.AsyncClient) -> None:
    answer = await send(client, "ya29.made-up", {"token": "t"})
    error = error_of(answer)
    assert answer.status_code == 401
    assert error["message"].startswith("Request had invalid authentication credentials.")
    assert error["details"] == []


async def test_another_projects_account_is_403_permission_denied(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str
) -> None:
    token = sandbox.issue_token(PACKAGE, OTHER_PROJECT)
    answer = await send(client, bearer, call_wakeup(token), project=OTHER_PROJECT)
    error = error_of(answer)
    assert (answer.status_code, error["status"]) == (403, "PERMISSION_DENIED")
    assert "cloudmessaging.messages.create" in error["message"]


async def test_a_token_after_uninstall_is_unregistered(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str
) -> None:
    token = sandbox.issue_token(PACKAGE, PROJECT)
    assert sandbox.uninstall(token)
    error = fcm_error_of(await send(client, bearer, call_wakeup(token)), FcmErrorCode.UNREGISTERED)
    assert error["message"] == "Requested entity was not found."


async def test_a_token_after_refresh_is_unregistered_and_the_new_one_works(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str
) -> None:
    old = sandbox.issue_token(PACKAGE, PROJECT)
    new = sandbox.refresh_token(old)
    assert new is not None and new != old
    fcm_error_of(await send(client, bearer, call_wakeup(old)), FcmErrorCode.UNREGISTERED)
    assert (await send(client, bearer, call_wakeup(new))).status_code == 200


async def test_a_token_of_another_project_is_sender_id_mismatch(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str
) -> None:
    foreign = sandbox.issue_token(PACKAGE, OTHER_PROJECT)
    answer = await send(client, bearer, call_wakeup(foreign))
    assert fcm_error_of(answer, FcmErrorCode.SENDER_ID_MISMATCH)["message"] == "SenderId mismatch"


async def test_a_wrong_restricted_package_is_invalid_argument(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str
) -> None:
    token = sandbox.issue_token(PACKAGE, PROJECT)
    message = call_wakeup(token, restricted_package_name="com.example.other")
    fcm_error_of(await send(client, bearer, message), FcmErrorCode.INVALID_ARGUMENT)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"data": {"attempt": 2}}, "message.data[0].value"),
        ({"data": {"from": "alice"}}, "message.data"),
        ({"data": {"gcm.notification.x": "y"}}, "message.data"),
        ({"data": {"sdp": "v" * 4100}}, "message.data"),
        ({"android": {"priority": "high", "ttl": "30"}}, "message.android.ttl"),
        ({"topic": "calls"}, "message"),
    ],
    ids=["number-in-data", "reserved-key", "reserved-prefix", "too-big", "bad-ttl", "two-targets"],
)
async def test_rule_violations_answer_400_with_bad_request_field_violations(
    sandbox: FcmSandbox,
    client: httpx.AsyncClient,
    bearer: str,
    change: dict[str, Any],
    field: str,
) -> None:
    token = sandbox.issue_token(PACKAGE, PROJECT)
    answer = await send(client, bearer, {**call_wakeup(token), **change})
    error = fcm_error_of(answer, FcmErrorCode.INVALID_ARGUMENT)
    fields = [v.get("field") for v in detail(error, "BadRequest")["fieldViolations"]]
    assert field in fields
    assert sandbox.messages() == []


async def test_too_big_is_worded_android_message_is_too_big(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str
) -> None:
    token = sandbox.issue_token(PACKAGE, PROJECT)
    answer = await send(client, bearer, {"token": token, "data": {"sdp": "v" * 5000}})
    assert error_of(answer)["message"] == "Android message is too big"


async def test_an_unknown_top_level_field_is_400_unknown_name(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str
) -> None:
    token = sandbox.issue_token(PACKAGE, PROJECT)
    answer = await send(client, bearer, call_wakeup(token), dryRun=True)
    error = error_of(answer)
    assert (answer.status_code, error["status"]) == (400, "INVALID_ARGUMENT")
    assert 'Unknown name "dryRun"' in error["message"]
    detail(error, "BadRequest")


async def test_other_paths_and_methods_are_404_without_fcm_error(
    client: httpx.AsyncClient, bearer: str
) -> None:
    for method, path in [("POST", "/v1/projects/x/messages:batchSend"), ("GET", "/token")]:
        answer = await client.request(method, path, headers={"authorization": f"Bearer {bearer}"})
        error = error_of(answer)
        assert (answer.status_code, error["status"]) == (404, "NOT_FOUND")
        assert "FcmError" not in answer.text


async def test_concurrent_sends_share_one_http2_connection(
    sandbox: FcmSandbox, client: httpx.AsyncClient, bearer: str
) -> None:
    tokens = [sandbox.issue_token(PACKAGE, PROJECT) for _ in range(40)]
    answers = await asyncio.gather(*(send(client, bearer, call_wakeup(t)) for t in tokens))
    assert {a.status_code for a in answers} == {200}
    assert {a.http_version for a in answers} == {"HTTP/2"}
    assert len({a.json()["name"] for a in answers}) == 40
