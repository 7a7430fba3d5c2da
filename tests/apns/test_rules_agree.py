"""ringpush's client and its sandbox hold a push to the same rules (issue 14, properties).

For one field of a push at a time, pushed to its limits by Hypothesis (payload sizes a
byte either side of 4096 and 5120 with multi-byte text, any unicode in the collapse id,
odd apns-ids, priorities, expirations, token forms), :meth:`Notification.encode`
refuses exactly what the sandbox's validation refuses, for the same APNs reason: a
request ringpush sends is never one the sandbox (standing in for APNs) would turn down,
and what ringpush refuses before sending the sandbox refuses too.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ringpush.apns.environment import Environment
from ringpush.apns.errors import InvalidNotification
from ringpush.apns.notification import Notification, compact_json
from ringpush.apns.push_type import PushType
from ringpush.apns.reasons import ApnsReason
from ringpush.sandbox import PushValidator, Rejected
from ringpush.sandbox.tokens import TokenRegistry
from tests.sandbox.test_validation import AllowAll

BUNDLE = "com.example.app"
TOKENS = TokenRegistry()
ISSUED = {kind: TOKENS.issue(BUNDLE, kind, Environment.DEVELOPMENT) for kind in PushType}
VALIDATOR = PushValidator(TOKENS, Environment.DEVELOPMENT)
#: One character of each UTF-8 length, and the ones JSON escapes.
CHARACTERS = st.sampled_from(["a", "é", "€", "😀", '"', "\\", "\n", "\x00"])


@st.composite
def sized_payloads(draw: st.DrawFn, push_type: PushType) -> dict[str, Any]:
    """A payload whose compact JSON is within two bytes of the push type's limit, padded
    with one kind of character (1 to 4 bytes in UTF-8, or escaped by JSON)."""
    target = push_type.payload_limit + draw(st.integers(-2, 2))
    character = draw(CHARACTERS)
    empty = len(compact_json({"aps": {}, "pad": ""}))
    wide = len(compact_json({"pad": character})) - len(compact_json({"pad": ""}))
    pad = character * draw(st.integers(0, (target - empty) // wide))
    pad += "a" * (target - len(compact_json({"aps": {}, "pad": pad})))
    assert len(compact_json({"aps": {}, "pad": pad})) == target
    return {"aps": {}, "pad": pad}


def wire_headers(push: Notification, priority: int) -> list[tuple[bytes, bytes]]:
    """The request a client that checks nothing would send for ``push`` (the token
    written as ringpush writes it: no spaces or brackets, lowercase)."""
    token = push.device_token.strip().strip("<>").replace(" ", "").lower()
    fields = [
        (b":method", b"POST"),
        (b":scheme", b"https"),
        (b":path", b"/3/device/" + token.encode()),
        (b"apns-topic", push.topic.encode()),
        (b"apns-push-type", push.push_type.value.encode()),
        (b"apns-priority", str(priority).encode()),
        (b"authorization", b"bearer x.y.z"),
    ]
    if push.apns_id is not None:
        fields.append((b"apns-id", push.apns_id.encode()))
    if push.expiration is not None:
        fields.append((b"apns-expiration", str(push.expiration).encode()))
    if push.collapse_id is not None:
        fields.append((b"apns-collapse-id", push.collapse_id.encode("utf-8", "surrogatepass")))
    return fields


def verdicts(push: Notification) -> tuple[ApnsReason | None, ApnsReason | None]:
    """(what encode said, what the sandbox said): None for accepted."""
    ours: ApnsReason | None
    try:
        request = push.encode()
    except InvalidNotification as refused:
        ours = refused.reason
    else:
        ours = None
        assert len(request.body) <= push.push_type.payload_limit
    body = push.payload if isinstance(push.payload, bytes) else compact_json(push.payload)
    default = push.push_type.rules.default_priority
    priority = default if push.priority is None else push.priority
    try:
        VALIDATOR.validate(wire_headers(push, priority), body, AllowAll())
    except Rejected as rejected:
        return ours, rejected.reason
    return ours, None


def one_push(draw: st.DrawFn, **change: Any) -> Notification:
    push_type = draw(st.sampled_from(list(PushType)))
    fields: dict[str, Any] = {
        "device_token": ISSUED[push_type],
        "topic": push_type.topic_for(BUNDLE),
        "push_type": push_type,
        "payload": {"aps": {}},
    }
    fields.update(change)
    if "payload" in change and change["payload"] is None:
        fields["payload"] = draw(sized_payloads(push_type))
    return Notification(**fields)


@st.composite
def pushes(draw: st.DrawFn) -> Notification:
    """A valid push with one field drawn near or past its limit."""
    which = draw(st.sampled_from(["payload", "raw", "collapse", "apns_id", "priority", "expiry"]))
    if which == "payload":
        return one_push(draw, payload=None)
    if which == "raw":
        raw = draw(st.sampled_from([b"", b"[]", b'"x"', b"{", b"  {}", b'{"a":"\xff"}', b"{}x"]))
        return one_push(draw, payload=raw)
    if which == "collapse":
        return one_push(draw, collapse_id=draw(st.text(min_size=1, max_size=70)))
    if which == "apns_id":
        uuid = str(draw(st.uuids()))
        return one_push(draw, apns_id=draw(st.sampled_from([uuid, uuid.upper(), uuid[:-1], ""])))
    if which == "priority":
        return one_push(draw, priority=draw(st.sampled_from([1, 5, 10])))
    return one_push(draw, expiration=draw(st.integers(-3, 2**40)))


@settings(max_examples=400, deadline=None, database=None)
@given(push=pushes())
def test_the_client_and_the_sandbox_refuse_the_same_pushes(push: Notification) -> None:
    ours, sandbox = verdicts(push)
    assert ours == sandbox, f"encode: {ours}, sandbox: {sandbox}"


@given(token=st.text(alphabet="0123456789abcdefABCDEF xz<>", max_size=80))
@settings(max_examples=200, deadline=None, database=None)
def test_a_token_the_client_refuses_the_sandbox_refuses(token: str) -> None:
    push = Notification(
        device_token=token, topic=BUNDLE, push_type=PushType.ALERT, payload={"aps": {}}
    )
    ours, sandbox = verdicts(push)
    if ours is not None:
        assert ours is sandbox, (ours, sandbox)
    else:  # well formed but not a token the sandbox issued for this topic
        assert sandbox in (ApnsReason.BAD_DEVICE_TOKEN, None), sandbox
