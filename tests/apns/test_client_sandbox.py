"""The client against the sandbox over real TLS + HTTP/2: rules, outcomes and faults."""

from __future__ import annotations

import json
import time
from collections import Counter

from ringpush.apns.client import ApnsClient
from ringpush.apns.credentials import CertificateCredentials, TokenCredentials, generate_signing_key
from ringpush.apns.environment import Environment
from ringpush.apns.jwt_signer import ProviderTokenSigner
from ringpush.apns.notification import Notification
from ringpush.apns.push_type import PushType
from ringpush.apns.reasons import Action, ApnsReason
from ringpush.apns.result import ApnsResult
from ringpush.sandbox import Sandbox

BUNDLE = "com.example.app"
ALERT = {"aps": {"alert": "hello"}}


class LiftResetOnDrop:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def answered(self, result: ApnsResult, seconds: float) -> None:
        pass

    def connection_opened(self) -> None:
        pass

    def connection_closed(self) -> None:
        self.sandbox.faults.reset_after_streams = None


def client_for(sandbox: Sandbox, credentials: TokenCredentials, **kwargs: object) -> ApnsClient:
    return ApnsClient(
        credentials,
        Environment.DEVELOPMENT,
        base_url=sandbox.url(Environment.DEVELOPMENT),
        ca_file=sandbox.ca_file,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_voip_push_arrives_with_apples_headers(
    sandbox: Sandbox, credentials: TokenCredentials
) -> None:
    token = sandbox.issue_token(BUNDLE, PushType.VOIP)
    async with client_for(sandbox, credentials) as client:
        result = await client.send(Notification.voip(BUNDLE, token, {"call_id": "c1"}))
    assert result.sent
    assert result.action is Action.DELIVERED
    assert result.unique_id is not None
    [record] = sandbox.notifications(token=token)
    assert record.apns_id == result.apns_id
    assert record.topic == "com.example.app.voip"
    assert record.headers["apns-push-type"] == "voip"
    assert record.headers["apns-priority"] == "10"
    assert record.headers["apns-expiration"] == "0"
    assert record.payload == {"call_id": "c1"}


async def test_full_size_payloads_pass_the_wire(
    sandbox: Sandbox, credentials: TokenCredentials
) -> None:
    """5120 bytes for VoIP and 4096 for others, larger than one small frame."""
    voip = sandbox.issue_token(BUNDLE, PushType.VOIP)
    alert = sandbox.issue_token(BUNDLE, PushType.ALERT)
    big_voip = {"p": "v" * (5120 - len('{"p":""}'))}
    big_alert = {"aps": {"alert": "x" * (4096 - len('{"aps":{"alert":""}}'))}}
    async with client_for(sandbox, credentials) as client:
        results = await client.send_many(
            [
                Notification.voip(BUNDLE, voip, big_voip),
                Notification.for_app(BUNDLE, PushType.ALERT, alert, big_alert),
            ]
        )
    assert [r.status for r in results] == [200, 200]
    assert len(sandbox.notifications(token=voip)[0].body) == 5120


async def test_every_outcome_is_typed(sandbox: Sandbox, credentials: TokenCredentials) -> None:
    gone = sandbox.issue_token(BUNDLE, PushType.VOIP)
    since = sandbox.uninstall(gone)
    production = sandbox.issue_token(BUNDLE, PushType.VOIP, Environment.PRODUCTION)
    other_app = sandbox.issue_token("com.example.other", PushType.VOIP)
    async with client_for(sandbox, credentials) as client:
        unknown, unregistered, wrong_env, not_for_topic = await client.send_many(
            [
                Notification.voip(BUNDLE, "ab" * 32, {}),
                Notification.voip(BUNDLE, gone, {}),
                Notification.voip(BUNDLE, production, {}),
                Notification.voip(BUNDLE, other_app, {}),
            ]
        )
    assert (unknown.status, unknown.reason) == (400, ApnsReason.BAD_DEVICE_TOKEN)
    assert unknown.action is Action.DROP_TOKEN
    assert (unregistered.status, unregistered.reason) == (410, ApnsReason.UNREGISTERED)
    assert unregistered.timestamp_ms == since
    assert wrong_env.reason is ApnsReason.BAD_DEVICE_TOKEN
    assert not_for_topic.reason is ApnsReason.DEVICE_TOKEN_NOT_FOR_TOPIC


async def test_waits_for_the_stream_limit_to_rise_instead_of_opening_connections(
    sandbox: Sandbox, credentials: TokenCredentials
) -> None:
    """APNs allows one stream until a valid token is seen; a burst must not fan out."""
    token = sandbox.issue_token(BUNDLE, PushType.VOIP)
    async with client_for(sandbox, credentials, max_connections=8) as client:
        results = await client.send_many(
            [Notification.voip(BUNDLE, token, {"n": i}) for i in range(300)]
        )
        assert client.connections == 1
    assert all(r.sent for r in results)
    assert sandbox.stats.connections_opened == 1
    assert sandbox.stats.streams_refused == 0


async def test_goaway_mid_burst_loses_and_duplicates_nothing(
    sandbox: Sandbox, credentials: TokenCredentials
) -> None:
    token = sandbox.issue_token(BUNDLE, PushType.VOIP)
    sandbox.faults.goaway_after_streams = 150
    async with client_for(sandbox, credentials) as client:
        results = await client.send_many(
            [Notification.voip(BUNDLE, token, {"n": i}) for i in range(1000)]
        )
    assert all(r.sent for r in results), Counter(r.status for r in results)
    recorded = Counter(n.apns_id for n in sandbox.notifications(token=token))
    assert set(recorded) == {r.apns_id for r in results}
    assert max(recorded.values()) == 1
    assert sandbox.stats.connections_opened >= 1000 // 150


async def test_reset_mid_burst_loses_nothing_and_resends_keep_their_apns_id(
    sandbox: Sandbox, credentials: TokenCredentials
) -> None:
    token = sandbox.issue_token(BUNDLE, PushType.VOIP)
    sandbox.faults.reset_after_streams = 200
    # One reset mid-burst: the fault is lifted once the first connection has dropped.
    async with client_for(sandbox, credentials, listener=LiftResetOnDrop(sandbox)) as client:
        results = await client.send_many(
            [Notification.voip(BUNDLE, token, {"n": i}) for i in range(1000)]
        )
    assert all(r.sent for r in results), Counter(r.status for r in results)
    records = sandbox.notifications(token=token)
    recorded_ids = {n.apns_id for n in records}
    assert recorded_ids == {r.apns_id for r in results}
    # A push the server took before the reset is resent with the same apns-id and body.
    by_id: dict[str, set[bytes]] = {}
    for record in records:
        by_id.setdefault(record.apns_id, set()).add(record.body)
    assert all(len(bodies) == 1 for bodies in by_id.values())
    assert len(records) > len(recorded_ids)
    assert any(r.attempts > 1 for r in results)


async def test_expired_provider_token_is_refreshed_and_retried_once(
    sandbox: Sandbox, credentials: TokenCredentials
) -> None:
    clock = [time.time() - 2 * 3600]
    # A signer that would keep its token for days: its first token is two hours old
    # when sent, so the sandbox calls it expired.
    signer = ProviderTokenSigner(credentials, clock=lambda: clock[0], refresh_after=10**9)
    stale = signer.current()
    clock[0] = time.time()
    token = sandbox.issue_token(BUNDLE, PushType.VOIP)
    async with client_for(sandbox, credentials, signer=signer) as client:
        result = await client.send(Notification.voip(BUNDLE, token, {}))
    assert result.sent
    assert result.attempts == 2
    assert signer.signed_count == 2
    assert signer.current() is not stale


async def test_server_errors_come_back_as_retry_later(
    sandbox: Sandbox, credentials: TokenCredentials
) -> None:
    token = sandbox.issue_token(BUNDLE, PushType.VOIP)
    sandbox.faults.update({"error_rate": 1.0, "error_status": 503})
    async with client_for(sandbox, credentials) as client:
        result = await client.send(Notification.voip(BUNDLE, token, {}))
    assert result.status == 503
    assert result.reason is ApnsReason.SERVICE_UNAVAILABLE
    assert result.action is Action.RETRY_LATER


async def test_too_many_requests_for_one_token(
    sandbox: Sandbox, credentials: TokenCredentials
) -> None:
    token = sandbox.issue_token(BUNDLE, PushType.VOIP)
    sandbox.faults.update({"too_many_requests_tokens": [token]})
    async with client_for(sandbox, credentials) as client:
        result = await client.send(Notification.voip(BUNDLE, token, {}))
    assert (result.status, result.reason) == (429, ApnsReason.TOO_MANY_REQUESTS)


async def test_a_push_without_answer_times_out_as_a_failure(
    sandbox: Sandbox, credentials: TokenCredentials
) -> None:
    token = sandbox.issue_token(BUNDLE, PushType.VOIP)
    async with client_for(sandbox, credentials, request_timeout=0.5) as client:
        assert (await client.send(Notification.voip(BUNDLE, token, {}))).sent
        sandbox.faults.latency_ms = 3000
        result = await client.send(Notification.voip(BUNDLE, token, {}))
    assert result.status == 0
    assert result.action is Action.RETRY_LATER
    assert result.error is not None
    assert "timed out" in result.error


async def test_unreachable_endpoint_gives_a_failure_not_an_exception(
    credentials: TokenCredentials,
) -> None:
    async with ApnsClient(
        credentials, base_url="https://127.0.0.1:9", request_timeout=0.5, connect_timeout=0.5
    ) as client:
        result = await client.send(Notification.voip(BUNDLE, "ab" * 32, {}))
    assert result.status == 0
    assert result.error is not None
    assert "cannot connect" in result.error


async def test_certificate_auth_reaches_the_voip_topic(sandbox: Sandbox) -> None:
    issued = sandbox.mint_client_certificate(BUNDLE)
    credentials = CertificateCredentials(issued.certificate_pem, issued.key_pem)
    token = sandbox.issue_token(BUNDLE, PushType.VOIP)
    async with ApnsClient(credentials, base_url=sandbox.url(), ca_file=sandbox.ca_file) as client:
        ok = await client.send(Notification.voip(BUNDLE, token, {}))
        other = await client.send(Notification.voip("com.example.other", token, {}))
    assert ok.sent
    assert other.status == 400
    assert sandbox.notifications(token=token)[0].headers.get("authorization") is None
    assert json.dumps(other.reason_text)


async def test_certificate_from_p12_works_too(sandbox: Sandbox) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12

    issued = sandbox.mint_client_certificate(BUNDLE)
    key = serialization.load_pem_private_key(issued.key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    p12 = pkcs12.serialize_key_and_certificates(
        b"push",
        key,
        x509.load_pem_x509_certificate(issued.certificate_pem),
        None,
        serialization.BestAvailableEncryption(b"secret"),
    )
    credentials = CertificateCredentials.from_p12(p12, b"secret")
    token = sandbox.issue_token(BUNDLE, PushType.VOIP)
    async with ApnsClient(credentials, base_url=sandbox.url(), ca_file=sandbox.ca_file) as client:
        assert (await client.send(Notification.voip(BUNDLE, token, {}))).sent


async def test_a_stream_reset_as_malformed_is_a_final_failure_never_resent(
    sandbox: Sandbox, credentials: TokenCredentials
) -> None:
    """A strict peer answers a request it finds malformed with RST_STREAM PROTOCOL_ERROR;
    the same request would get the same answer, so it is sent once and fails for good."""
    token = sandbox.issue_token(BUNDLE, PushType.ALERT)
    sandbox.faults.update({"reset_stream_code": 0x1})
    async with client_for(sandbox, credentials, request_timeout=2.0) as client:
        result = await client.send(Notification.for_app(BUNDLE, PushType.ALERT, token, ALERT))
    assert not result.sent
    assert result.reason_label == "stream_protocol_error"
    assert result.action is Action.FIX_REQUEST
    assert result.attempts == 1
    assert sandbox.stats.streams_reset == 1


async def test_a_refused_stream_is_resent_with_backoff_not_at_once(
    sandbox: Sandbox, credentials: TokenCredentials
) -> None:
    """A peer that refuses every stream: the push goes again, same apns-id, after a
    growing wait, until its deadline; not thousands of times a second."""
    token = sandbox.issue_token(BUNDLE, PushType.ALERT)
    sandbox.faults.update({"reset_stream_code": 0x7})
    async with client_for(sandbox, credentials, request_timeout=1.5) as client:
        result = await client.send(Notification.for_app(BUNDLE, PushType.ALERT, token, ALERT))
    assert not result.sent
    assert result.reason_label == "stream_reset"
    assert result.action is Action.RETRY_LATER  # delivery retries it later, with backoff
    # 50 ms doubling (with jitter) within 1.5 s: a handful of tries at most
    assert 2 <= sandbox.stats.streams_reset <= 8, sandbox.stats.streams_reset


async def test_a_forged_key_learns_nothing_of_which_tokens_exist(sandbox: Sandbox) -> None:
    """A provider token signed by a key the sandbox never issued gets 403
    InvalidProviderToken for a real token and for a made-up one alike."""
    forged = generate_signing_key()
    credentials = TokenCredentials.from_pem(forged.pem, forged.key_id, forged.team_id)
    real = sandbox.issue_token(BUNDLE, PushType.VOIP)
    async with client_for(sandbox, credentials) as client:
        for token in (real, "ab" * 32):
            result = await client.send(Notification.voip(BUNDLE, token, {"call_id": "c"}))
            assert (result.status, result.reason) == (403, ApnsReason.INVALID_PROVIDER_TOKEN)
    assert sandbox.notifications(token=real) == []
