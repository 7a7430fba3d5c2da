"""HTTP/2 behaviour APNs clients depend on: SETTINGS, refused streams, PING, flow
control, GOAWAY and dropped connections, observed with an independent raw client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.sandbox import Sandbox

from .conftest import BUNDLE, VOIP_TOPIC, Signer, trust
from .raw_h2 import RawH2Client

REFUSED_STREAM = 0x7
INITIAL_WINDOW_SIZE = 0x4


def voip_headers(
    token: str, authorization: str, apns_id: str | None = None
) -> list[tuple[str, str]]:
    headers = [
        (":method", "POST"),
        (":scheme", "https"),
        (":path", f"/3/device/{token}"),
        (":authority", "localhost"),
        ("apns-topic", VOIP_TOPIC),
        ("apns-push-type", "voip"),
        ("authorization", authorization),
    ]
    if apns_id is not None:
        headers.append(("apns-id", apns_id))
    return headers


def apns_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


@pytest.fixture
def voip_token(sandbox: Sandbox) -> str:
    return sandbox.issue_token(BUNDLE, PushType.VOIP, Environment.DEVELOPMENT)


@pytest.fixture
async def raw(sandbox: Sandbox) -> AsyncIterator[RawH2Client]:
    client = await RawH2Client.connect(sandbox.port(), trust(sandbox))
    yield client
    await client.close()


async def authenticate(raw: RawH2Client, token: str, header: str) -> None:
    """One push and the raised stream limit, as APNs clients do before a burst."""
    stream_id, _ = raw.request(voip_headers(token, header, apns_id(1)), b"{}")
    assert (await raw.response(stream_id)).status == 200
    await raw.wait(lambda: raw.max_concurrent_streams == 1000)


async def test_token_connection_starts_at_one_stream_and_gets_1000_after_auth(
    raw: RawH2Client, signer: Signer, voip_token: str
) -> None:
    await raw.wait(lambda: raw.settings)
    first = raw.settings[0]
    assert first[0x3] == 1  # MAX_CONCURRENT_STREAMS
    assert first[INITIAL_WINDOW_SIZE] == 65535
    assert first[0x6] == 8000  # MAX_HEADER_LIST_SIZE, as APNs sends it
    await authenticate(raw, voip_token, signer.authorization())
    assert [s[0x3] for s in raw.settings] == [1, 1000]


async def test_failed_authentication_keeps_the_limit_at_one(
    raw: RawH2Client, voip_token: str
) -> None:
    stream_id, _ = raw.request(voip_headers(voip_token, "bearer a.b.c"), b"{}")
    assert (await raw.response(stream_id)).status == 403
    await asyncio.sleep(0.05)
    assert raw.max_concurrent_streams == 1


async def test_post_auth_limit_is_configurable(
    sandbox: Sandbox, signer: Signer, voip_token: str
) -> None:
    sandbox.max_concurrent_streams = 50
    client = await RawH2Client.connect(sandbox.port(), trust(sandbox))
    try:
        stream_id, _ = client.request(voip_headers(voip_token, signer.authorization()), b"{}")
        await client.response(stream_id)
        await client.wait(lambda: client.max_concurrent_streams == 50)
    finally:
        await client.close()


async def test_stream_over_the_advertised_limit_is_refused_not_fatal(
    sandbox: Sandbox, raw: RawH2Client, signer: Signer, voip_token: str
) -> None:
    """RST_STREAM REFUSED_STREAM for the excess stream; the open one still succeeds."""
    header = signer.authorization()
    first = raw.open(voip_headers(voip_token, header))
    second, _ = raw.request(voip_headers(voip_token, header), b"{}")
    assert (await raw.response(second)).reset_code == REFUSED_STREAM
    raw.finish(first, b"{}")
    assert (await raw.response(first)).status == 200
    assert sandbox.stats.streams_refused == 1
    third, _ = raw.request(voip_headers(voip_token, header), b"{}")
    assert (await raw.response(third)).status == 200


async def test_ping_is_answered(raw: RawH2Client) -> None:
    raw.ping(b"ringpush")
    await raw.wait(lambda: raw.pings_acked)
    assert raw.pings_acked == [b"ringpush"]


async def test_response_body_respects_the_clients_flow_control_window(
    sandbox: Sandbox, voip_token: str
) -> None:
    """With an 8-byte stream window the error body arrives in pieces, after WINDOW_UPDATEs."""
    client = await RawH2Client.connect(
        sandbox.port(), trust(sandbox), settings={INITIAL_WINDOW_SIZE: 8}
    )
    try:
        stream_id, _ = client.request(voip_headers("ab" * 32, "bearer x"), b"{}")
        response = await client.response(stream_id)
    finally:
        await client.close()
    # an unknown token and a credential that is none: the credential is answered first
    assert response.status == 403
    assert json.loads(response.body) == {"reason": "InvalidProviderToken"}
    assert response.data_frames >= 3


async def test_burst_of_large_pushes_never_stalls_on_flow_control(
    sandbox: Sandbox, signer: Signer, voip_token: str
) -> None:
    """300 pushes of 4 KB (1.2 MB, far over the default 64 KB window) all complete."""
    header = signer.authorization()
    body = json.dumps({"pad": "x" * 4000}).encode()
    url = f"{sandbox.url()}/3/device/{voip_token}"
    fields = {"apns-topic": VOIP_TOPIC, "apns-push-type": "voip", "authorization": header}
    async with httpx.AsyncClient(http2=True, verify=trust(sandbox), timeout=10) as http:
        assert (await http.post(url, content=body, headers=fields)).status_code == 200
        responses = await asyncio.gather(
            *(http.post(url, content=body, headers=fields) for _ in range(300))
        )
    assert [r.status_code for r in responses] == [200] * 300
    assert sandbox.stats.connections_opened == 1


async def test_goaway_after_streams_is_graceful(
    sandbox: Sandbox, raw: RawH2Client, signer: Signer, voip_token: str
) -> None:
    """GOAWAY(NO_ERROR, last_stream_id, {"reason":"Shutdown"}); streams up to it are
    answered and stored, later ones are not processed; then the connection closes."""
    header = signer.authorization()
    await authenticate(raw, voip_token, header)
    sandbox.faults.update({"goaway_after_streams": 3})
    burst = b"".join(
        raw.request(voip_headers(voip_token, header, apns_id(n)), b"{}", write=False)[1]
        for n in range(2, 6)
    )
    raw.write(burst)  # streams 3, 5, 7, 9
    await raw.wait_closed()
    assert raw.goaway is not None
    assert raw.goaway.error_code == 0
    assert raw.goaway.last_stream_id == 5
    assert json.loads(raw.goaway.additional_data) == {"reason": "Shutdown"}
    assert [raw.responses[s].status for s in (1, 3, 5)] == [200, 200, 200]
    assert all(raw.responses[s].status_code_or_none() is None for s in (7, 9))
    assert [r.apns_id for r in sandbox.notifications()] == [apns_id(1), apns_id(2), apns_id(3)]
    assert sandbox.stats.faults_applied["goaway"] == 1


async def test_reset_after_streams_stores_the_push_but_never_answers(
    sandbox: Sandbox, raw: RawH2Client, signer: Signer, voip_token: str
) -> None:
    header = signer.authorization()
    sandbox.faults.update({"reset_after_streams": 2})
    await authenticate(raw, voip_token, header)
    stream_id, _ = raw.request(voip_headers(voip_token, header, apns_id(2)), b"{}")
    await raw.wait_closed()
    assert not raw.responses[stream_id].ended
    assert raw.goaway is None
    assert [r.apns_id for r in sandbox.notifications()] == [apns_id(1), apns_id(2)]


async def test_latency_delays_answers_without_serialising_streams(
    sandbox: Sandbox, raw: RawH2Client, signer: Signer, voip_token: str
) -> None:
    header = signer.authorization()
    await authenticate(raw, voip_token, header)
    sandbox.faults.update({"latency_ms": 300})
    loop = asyncio.get_running_loop()
    started = loop.time()
    streams = [raw.request(voip_headers(voip_token, header), b"{}")[0] for _ in range(10)]
    for stream_id in streams:
        assert (await raw.response(stream_id)).status == 200
    elapsed = loop.time() - started
    assert 0.3 <= elapsed < 1.5


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(":method", "POST"), (":scheme", "https"), ("apns-topic", VOIP_TOPIC)], "BadPath"),
        ([(":scheme", "https"), (":path", "/3/device/ab")], "MethodNotAllowed"),
        (
            [(":method", "POST"), (":method", "POST"), (":path", "/3/device/ab")],
            "DuplicateHeaders",
        ),
        (
            [(":method", "POST"), (":path", "/3/device/ab"), ("APNS-TOPIC", "x\x01y")],
            "MissingTopic",
        ),
    ],
)
async def test_malformed_header_blocks_get_apns_answers_not_crashes(
    raw: RawH2Client, headers: list[tuple[str, str]], expected: str
) -> None:
    """With h2's inbound validation off, the validation chain answers anything safely."""
    stream_id, _ = raw.request(headers, b"{}")
    response = await raw.response(stream_id)
    assert json.loads(response.body) == {"reason": expected}


async def test_strict_mode_treats_malformed_header_blocks_as_protocol_errors(
    sandbox: Sandbox,
) -> None:
    sandbox.strict_http2_headers = True
    client = await RawH2Client.connect(sandbox.port(), trust(sandbox))
    try:
        client.request([(":method", "POST"), (":scheme", "https")], b"{}")
        await client.wait_closed()
        assert client.goaway is not None
        assert client.goaway.error_code == 0x1  # PROTOCOL_ERROR, as h2 judges it
    finally:
        await client.close()
