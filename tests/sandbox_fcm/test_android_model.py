"""The simulated Android device's rules without a network or a loop: Doze, ttl, the
store, collapsing, notification deadlines and the 7-day deprioritization ledger."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from ringpush.sandbox.fcm import Fate, FirebaseMessagingService, NotificationLedger, Priority
from ringpush.sandbox.fcm.accounts import Projects
from ringpush.sandbox.fcm.android import AndroidDevice
from ringpush.sandbox.fcm.deprioritization import WINDOW_SECONDS
from ringpush.sandbox.fcm.directory import DeviceDirectory
from ringpush.sandbox.fcm.records import MessageRecord
from ringpush.sandbox.fcm.registrations import Registrations
from tests.sandbox_fcm.conftest import PACKAGE, PROJECT, Clock

_ids = itertools.count()


class Recorder(FirebaseMessagingService):
    def __init__(self) -> None:
        self.deleted = 0

    def on_deleted_messages(self) -> None:
        self.deleted += 1


def make(clock: Clock, **options: Any) -> tuple[DeviceDirectory, AndroidDevice]:
    directory = DeviceDirectory(Registrations(), Projects(), clock)
    return directory, directory.create("phone", PACKAGE, PROJECT, **options)


def push(directory: DeviceDirectory, device: AndroidDevice, **message: Any) -> None:
    assert device.token is not None
    record = MessageRecord(
        f"projects/{PROJECT}/messages/0:{next(_ids)}",
        PROJECT,
        "token",
        device.token,
        {"token": device.token, **message},
        directory.clock(),
        "pusher",
    )
    directory.accepted(record)


def high(**android: Any) -> dict[str, Any]:
    return {"data": {"call": "1"}, "android": {"priority": "high", **android}}


def normal(**android: Any) -> dict[str, Any]:
    return {"data": {"sync": "1"}, "android": {"priority": "normal", **android}}


def test_normal_priority_waits_for_the_doze_window() -> None:
    clock = Clock()
    directory, device = make(clock, doze_delay=900)
    push(directory, device, **normal())
    message = device.messages[0]
    assert message.due_at == clock() + 900
    fates = []
    for step in (0, 899, 1):
        clock.advance(step)
        device.deliver_due()
        fates.append(message.fate)
    assert fates == [Fate.PENDING, Fate.PENDING, Fate.DELIVERED]


def test_leaving_doze_delivers_normal_messages_at_once() -> None:
    clock = Clock()
    directory, device = make(clock)
    push(directory, device, **normal())
    device.set_state(dozing=False)
    assert device.messages[0].fate is Fate.DELIVERED


def test_an_awake_device_gets_normal_priority_at_once() -> None:
    directory, device = make(Clock(), dozing=False)
    push(directory, device, **normal())
    assert device.messages[0].fate is Fate.DELIVERED


def test_ttl_zero_normal_priority_to_a_dozing_device_is_dropped() -> None:
    directory, device = make(Clock())
    push(directory, device, **normal(ttl="0s"))
    assert device.messages[0].fate is Fate.DROPPED_TTL_ZERO


def test_a_message_whose_ttl_runs_out_in_doze_is_dropped_at_the_window() -> None:
    clock = Clock()
    directory, device = make(clock, doze_delay=900)
    push(directory, device, **normal(ttl="60s"))
    clock.advance(900)
    device.deliver_due()
    assert device.messages[0].fate is Fate.EXPIRED


def test_held_messages_collapse_to_the_newest_per_key() -> None:
    clock = Clock()
    directory, device = make(clock, online=False)
    for _ in range(3):
        push(directory, device, **high(collapse_key="call-1"))
    device.set_state(online=True)
    assert [m.fate for m in device.messages] == [Fate.COLLAPSED, Fate.COLLAPSED, Fate.DELIVERED]


def test_over_100_held_messages_are_all_dropped_and_the_app_told() -> None:
    directory, device = make(Clock(), online=False)
    app = Recorder()
    device.start(app)
    for _ in range(101):
        push(directory, device, **high())
    device.set_state(online=True)
    fates = [m.fate for m in device.messages]
    assert fates[:100] == [Fate.DROPPED_STORE_FULL] * 100 and fates[100] is Fate.DELIVERED
    assert app.deleted == 1


def test_a_notification_posted_within_the_deadline_counts() -> None:
    clock = Clock()
    directory, device = make(clock, notification_deadline=10, max_misses=1)
    push(directory, device, **high())
    clock.advance(5)
    credited = device.post_notification()
    clock.advance(10)
    device.deliver_due()
    assert credited is device.messages[0] and credited.notification_shown is True
    assert not device.deprioritized


def test_no_notification_by_the_deadline_is_a_miss() -> None:
    clock = Clock()
    directory, device = make(clock, notification_deadline=10, max_misses=1)
    push(directory, device, **high())
    clock.advance(10)
    device.deliver_due()
    assert device.messages[0].notification_shown is False
    assert device.deprioritized


def test_a_notification_message_counts_by_itself() -> None:
    directory, device = make(Clock(), notification_deadline=0, max_misses=1)
    push(directory, device, notification={"title": "Alice calls"}, android={"priority": "high"})
    assert device.messages[0].notification_shown is True
    assert not device.deprioritized


def test_normal_priority_messages_need_no_notification() -> None:
    directory, device = make(Clock(), dozing=False, notification_deadline=0, max_misses=1)
    push(directory, device, **normal())
    assert device.messages[0].notification_shown is None and not device.deprioritized


def test_deprioritization_ends_when_misses_leave_the_7_day_window() -> None:
    clock = Clock()
    directory, device = make(clock, notification_deadline=0, max_misses=2)
    push(directory, device, **high())
    push(directory, device, **high())
    assert device.deprioritized
    push(directory, device, **high())
    assert device.messages[-1].priority is Priority.NORMAL
    clock.advance(WINDOW_SECONDS)
    assert not device.deprioritized
    push(directory, device, **high())
    assert device.messages[-1].priority is Priority.HIGH


def test_a_reinstall_starts_a_clean_ledger() -> None:
    directory, device = make(Clock(), notification_deadline=0, max_misses=1)
    push(directory, device, **high())
    assert device.deprioritized
    device.reinstall()
    assert not device.deprioritized


def test_the_ledger_counts_misses_within_the_window_only() -> None:
    ledger = NotificationLedger(max_misses=3, window_seconds=100)
    for at in (0.0, 50.0, 99.0):
        ledger.record_miss(at)
    assert ledger.deprioritized(99.0)
    assert ledger.misses(100.0) == 2 and not ledger.deprioritized(100.0)


def test_the_ledger_needs_a_positive_threshold() -> None:
    with pytest.raises(ValueError, match="max_misses"):
        NotificationLedger(max_misses=0)


async def test_a_message_for_an_app_uninstalled_before_delivery_is_dropped() -> None:
    directory, device = make(Clock())
    push(directory, device, **high())  # delivered on a later loop turn...
    device.uninstall()  # ...which comes after the uninstall
    await asyncio.sleep(0)
    assert device.messages[0].fate is Fate.DROPPED_UNINSTALLED
