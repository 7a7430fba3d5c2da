"""The SDK's reading of FCM messages, without a network: the same incoming call as from a
VoIP push, the notice each high-priority message needs, the ending a push tells, and the
order ManagedPush hands them to the app in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ringpush.apns.push_type import PushType
from ringpush.platforms import FCM
from ringpush.sdk import (
    CallEnded,
    CallOutcome,
    DataMessage,
    FcmDelegate,
    IncomingPush,
    ManagedPush,
    MessagePriority,
    Notice,
    NoticeKind,
)
from ringpush.sdk.android import fcm_payload, notice_for

RING_UNTIL = 1_764_633_630_000
INFO = {
    "version": 1,
    "type": "incoming-call",
    "call_id": "c1",
    "caller": {"id": "alice", "name": "Alice"},
    "video": True,
    "sent_at": RING_UNTIL - 30_000,
    "ring_until": RING_UNTIL,
}


def fcm_push(info: dict[str, Any], **data: str) -> IncomingPush:
    """An FCM message's push as ManagedPush makes it: the data is all strings."""
    return IncomingPush(FCM, fcm_payload({"ringpush": json.dumps(info), **data}))


def test_an_fcm_message_gives_the_same_incoming_call_as_the_voip_push() -> None:
    voip = IncomingPush(PushType.VOIP, {"ringpush": INFO, "data": {"room": "r-17"}})
    android = fcm_push(INFO, data=json.dumps({"room": "r-17"}))
    assert android.call is not None
    assert android.call == voip.call
    assert android.call.data == {"room": "r-17"}


def test_data_that_is_no_json_object_stays_the_text_it_was() -> None:
    data = {"ringpush": "not json", "data": "[1, 2]", "chat": '{"a": 1}'}
    assert fcm_payload(data) == data
    assert IncomingPush(FCM, fcm_payload(data)).call is None


def test_an_incoming_call_is_a_ringing_notice_until_its_ring_time() -> None:
    notice = notice_for(fcm_push(INFO), now_ms=RING_UNTIL - 1)
    assert notice == Notice(
        kind=NoticeKind.RINGING,
        call_id="c1",
        caller_id="alice",
        caller_name="Alice",
        video=True,
        ring_until_ms=RING_UNTIL,
    )


def test_an_incoming_call_arriving_after_its_ring_time_is_a_missed_call_notice() -> None:
    """Clocks differ and Doze delays: a call over by then still gets a notification."""
    notice = notice_for(fcm_push(INFO), now_ms=RING_UNTIL)
    assert notice is not None
    assert (notice.kind, notice.reason, notice.ring_until_ms) == (NoticeKind.MISSED, "timeout", 0)


def test_a_missed_call_message_is_a_missed_call_notice_named_for_the_caller() -> None:
    info = {"version": 1, "type": "missed-call", "call_id": "c1", "reason": "canceled",
            "caller": {"id": "alice", "name": ""}}  # fmt: skip
    notice = notice_for(fcm_push(info), now_ms=0)
    assert notice is not None
    assert (notice.kind, notice.call_id, notice.reason) == (NoticeKind.MISSED, "c1", "canceled")
    assert notice.handle == "alice"  # Android's Person must not be nameless


@pytest.mark.parametrize(
    "data",
    [
        {"ringpush": json.dumps({"type": "call-ended", "call_id": "c1", "reason": "declined"})},
        {"chat": "hello"},  # the app's own message
    ],
)
def test_messages_that_ask_for_nothing_shown_give_no_notice(data: dict[str, str]) -> None:
    assert notice_for(IncomingPush(FCM, fcm_payload(data)), now_ms=0) is None


@pytest.mark.parametrize(
    ("kind", "reason", "outcome"),
    [
        ("call-ended", "answered-elsewhere", CallOutcome.ANSWERED_ELSEWHERE),
        ("call-ended", "declined", CallOutcome.DECLINED_ELSEWHERE),
        ("call-ended", "canceled", CallOutcome.CANCELED),  # an iPhone's missed-call alert
        ("missed-call", "canceled", CallOutcome.CANCELED),
        ("missed-call", "timeout", CallOutcome.TIMEOUT),
    ],
)
def test_a_pushed_ending_is_the_outcome_the_events_would_give(
    kind: str, reason: str, outcome: CallOutcome
) -> None:
    info = {"version": 1, "type": kind, "call_id": "c1", "reason": reason}
    assert fcm_push(info).ended == CallEnded("c1", outcome, None)
    alert = IncomingPush(PushType.ALERT, {"aps": {}, "ringpush": info})
    assert alert.ended == CallEnded("c1", outcome, None)


def test_an_unknown_reason_or_an_incoming_call_tells_no_ending() -> None:
    """A newer server's reason: the call's events still say how it ended."""
    info = {"version": 1, "type": "call-ended", "call_id": "c1", "reason": "transferred"}
    assert fcm_push(info).ended is None
    assert fcm_push(INFO).ended is None


class FakeFirebase:
    """A token source that only remembers who it tells."""

    def __init__(self) -> None:
        self.delegate: FcmDelegate | None = None

    def start(self, delegate: FcmDelegate) -> None:
        self.delegate = delegate


def test_the_fcm_source_starts_with_the_managed_push_and_its_token_comes_and_goes() -> None:
    firebase = FakeFirebase()
    push = ManagedPush.fcm(firebase, device_id="pixel", show_notification=lambda notice: None)
    assert firebase.delegate is push
    push.did_update_fcm_token("t-1")
    assert push.tokens == {FCM: "t-1"}
    push.did_invalidate_fcm_token()
    assert push.tokens == {}


def test_an_fcm_managed_push_has_no_push_types() -> None:
    push = ManagedPush.fcm(FakeFirebase(), device_id="pixel", show_notification=print)
    with pytest.raises(TypeError, match="no push types"):
        push.desired_push_types = {PushType.VOIP}


def test_the_notification_is_shown_before_the_app_handler_sees_the_push() -> None:
    """Android gives the handler seconds and judges the message by the notification:
    nothing the app does with the push comes first."""
    seen: list[str] = []
    push = ManagedPush.fcm(
        FakeFirebase(),
        device_id="pixel",
        show_notification=lambda notice: seen.append(f"notice {notice.kind}"),
        on_incoming_push=lambda incoming: seen.append("push"),
    )
    push.did_receive_fcm_message(DataMessage(data={"ringpush": json.dumps(INFO)}))
    assert seen == ["notice missed", "push"]  # INFO's ring time is long past


def test_a_failing_show_notification_still_hands_the_push_to_the_app() -> None:
    def broken(notice: Notice) -> None:
        raise RuntimeError("no channel")

    pushes: list[IncomingPush] = []
    push = ManagedPush.fcm(
        FakeFirebase(), device_id="pixel", show_notification=broken, on_incoming_push=pushes.append
    )
    push.did_receive_fcm_message(
        DataMessage(
            data={"ringpush": json.dumps(INFO)},
            priority=MessagePriority.NORMAL,  # deprioritized: logged, still handled
            original_priority=MessagePriority.HIGH,
        )
    )
    [incoming] = pushes
    assert incoming.call is not None and incoming.call.call_id == "c1"
