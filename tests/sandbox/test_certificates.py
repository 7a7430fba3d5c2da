"""Certificate-based authentication over TLS with client certificates the sandbox mints."""

from __future__ import annotations

import ssl

import httpx

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.sandbox import Sandbox

from .conftest import BUNDLE, VOIP_TOPIC
from .raw_h2 import RawH2Client


def cert_client(sandbox: Sandbox, environment: Environment | None = None) -> httpx.AsyncClient:
    issued = sandbox.mint_client_certificate(BUNDLE, environment=environment)
    return httpx.AsyncClient(http2=True, verify=sandbox.client_ssl_context(issued), timeout=5)


async def post(
    http: httpx.AsyncClient, sandbox: Sandbox, token: str, topic: str, push_type: str = "voip"
) -> httpx.Response:
    return await http.post(
        f"{sandbox.url()}/3/device/{token}",
        content=b'{"call":1}',
        headers={"apns-topic": topic, "apns-push-type": push_type},
    )


async def test_certificate_connection_pushes_voip_without_authorization(sandbox: Sandbox) -> None:
    token = sandbox.issue_token(BUNDLE, PushType.VOIP)
    async with cert_client(sandbox) as http:
        response = await post(http, sandbox, token, VOIP_TOPIC)
    assert response.status_code == 200
    assert sandbox.notifications(token=token)[0].topic == VOIP_TOPIC


async def test_certificate_connection_ignores_the_authorization_header(sandbox: Sandbox) -> None:
    token = sandbox.issue_token(BUNDLE, PushType.ALERT)
    async with cert_client(sandbox) as http:
        response = await http.post(
            f"{sandbox.url()}/3/device/{token}",
            content=b"{}",
            headers={"apns-topic": BUNDLE, "authorization": "bearer garbage"},
        )
    assert response.status_code == 200


async def test_certificate_for_another_bundle_is_bad_topic(sandbox: Sandbox) -> None:
    token = sandbox.issue_token("com.other.app", PushType.VOIP)
    async with cert_client(sandbox) as http:
        response = await post(http, sandbox, token, "com.other.app.voip")
    assert response.status_code == 400
    assert response.json() == {"reason": "BadTopic"}


async def test_token_only_push_type_over_a_certificate_is_topic_disallowed(
    sandbox: Sandbox,
) -> None:
    token = sandbox.issue_token(BUNDLE, PushType.LOCATION)
    async with cert_client(sandbox) as http:
        response = await post(http, sandbox, token, PushType.LOCATION.topic_for(BUNDLE), "location")
    assert (response.status_code, response.json()) == (400, {"reason": "TopicDisallowed"})


async def test_production_certificate_on_development_is_bad_certificate_environment(
    sandbox: Sandbox,
) -> None:
    token = sandbox.issue_token(BUNDLE, PushType.VOIP)
    async with cert_client(sandbox, Environment.PRODUCTION) as http:
        response = await post(http, sandbox, token, VOIP_TOPIC)
    assert (response.status_code, response.json()) == (
        403,
        {"reason": "BadCertificateEnvironment"},
    )


async def test_certificate_connection_starts_at_the_full_stream_limit(sandbox: Sandbox) -> None:
    context = sandbox.client_ssl_context(sandbox.mint_client_certificate(BUNDLE))
    raw = await RawH2Client.connect(sandbox.port(), context)
    try:
        await raw.wait(lambda: raw.settings)
        assert raw.max_concurrent_streams == 1000
    finally:
        await raw.close()


async def test_server_certificate_verifies_for_apples_host_names(sandbox: Sandbox) -> None:
    """Clients that pin api.sandbox.push.apple.com (via SNI) verify against the CA too."""
    context = ssl.create_default_context(cafile=str(sandbox.ca_file))
    for name in ("api.sandbox.push.apple.com", "api.push.apple.com", "localhost"):
        raw = await RawH2Client.connect_named(sandbox.port(), context, name)
        await raw.close()
