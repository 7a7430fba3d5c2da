"""The outbox: written before sending, leased while sending, nothing lost on a crash."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.registry import SecretBox, SqlRegistry, open_registry
from ringpush.registry.call_models import Call, CallState, EndReason
from ringpush.registry.outbox_models import OutboxPush, PushState, Urgency

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
TOKEN = "ab" * 32


def push(call_id: str | None = "call-1", **changes: object) -> OutboxPush:
    values: dict[str, object] = {
        "push_id": str(uuid.uuid4()),
        "app_id": "demo",
        "user_id": "bob",
        "device_id": "phone",
        "push_type": PushType.VOIP,
        "environment": Environment.DEVELOPMENT,
        "token": TOKEN,
        "apns_id": str(uuid.uuid4()),
        "payload": b'{"call_id":"call-1"}',
        "state": PushState.PENDING,
        "next_attempt_at": T0,
        "created_at": T0,
        "updated_at": T0,
        "call_id": call_id,
        "not_after": T0 + timedelta(seconds=60),
    }
    values.update(changes)
    return OutboxPush(**values)  # type: ignore[arg-type]


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlRegistry]:
    registry = await open_registry(database_url, SecretBox({"k": b"\2" * 32}, "k"))
    try:
        yield registry
    finally:
        await registry.close()


async def test_claimed_push_is_not_claimed_twice_while_leased(store: SqlRegistry) -> None:
    queued = push()
    await store.outbox.enqueue([queued])
    [claimed] = await store.outbox.claim_due(T0, 10, LEASE)
    assert claimed.push_id == queued.push_id
    assert claimed.state is PushState.SENDING
    assert claimed.attempts == 1
    assert claimed.token == TOKEN
    assert await store.outbox.claim_due(T0 + timedelta(seconds=5), 10, LEASE) == []


async def test_a_crashed_senders_push_is_claimed_again_after_its_lease(
    database_url: str,
) -> None:
    """Restart mid-delivery: the push comes back with the same apns-id."""
    box = SecretBox({"k": b"\2" * 32}, "k")
    first = await open_registry(database_url, box)
    queued = push()
    await first.outbox.enqueue([queued])
    await first.outbox.claim_due(T0, 10, LEASE)
    await first.close()  # the process dies here, push unsent
    second = await open_registry(database_url, box)
    assert await second.outbox.claim_due(T0 + timedelta(seconds=10), 10, LEASE) == []
    [again] = await second.outbox.claim_due(T0 + LEASE, 10, LEASE)
    assert again.apns_id == queued.apns_id
    assert again.attempts == 2
    await second.close()


async def test_pushes_are_due_only_at_their_time(store: SqlRegistry) -> None:
    later = push(next_attempt_at=T0 + timedelta(seconds=3))
    await store.outbox.enqueue([later])
    assert await store.outbox.claim_due(T0, 10, LEASE) == []
    assert len(await store.outbox.claim_due(T0 + timedelta(seconds=3), 10, LEASE)) == 1


async def test_bulk_is_found_and_claimed_lane_by_lane(store: SqlRegistry) -> None:
    def bulk(app_id: str, environment: Environment, due: datetime) -> OutboxPush:
        return push(
            None,
            app_id=app_id,
            environment=environment,
            push_type=PushType.ALERT,
            urgency=Urgency.BULK,
            next_attempt_at=due,
            created_at=due,
        )

    later = T0 + timedelta(seconds=5)
    backlog = [bulk("big", Environment.PRODUCTION, T0 - timedelta(seconds=n)) for n in range(30)]
    await store.outbox.enqueue(
        [
            *backlog,
            bulk("big", Environment.DEVELOPMENT, later),  # not due yet
            bulk("small", Environment.PRODUCTION, T0),
            push(app_id="calls", urgency=Urgency.CALL),  # a call: not bulk
        ]
    )
    outbox = store.outbox
    assert await outbox.due_lanes(Urgency.BULK, T0) == [
        ("big", Environment.PRODUCTION),
        ("small", Environment.PRODUCTION),
    ]
    assert await outbox.due_lanes(Urgency.BULK, later) == [
        ("big", Environment.DEVELOPMENT),
        ("big", Environment.PRODUCTION),
        ("small", Environment.PRODUCTION),
    ]
    assert await outbox.due_lanes(Urgency.CALL, T0) == [("calls", Environment.DEVELOPMENT)]

    # one lane's claim takes its oldest first and nothing of another lane
    first = await outbox.claim_due(
        T0, 10, LEASE, urgency=Urgency.BULK, lane=("big", Environment.PRODUCTION)
    )
    oldest = sorted(backlog, key=lambda p: p.next_attempt_at)[:10]
    assert {p.push_id for p in first} == {p.push_id for p in oldest}
    [small] = await outbox.claim_due(
        T0, 10, LEASE, urgency=Urgency.BULK, lane=("small", Environment.PRODUCTION)
    )
    assert small.app_id == "small"
    # claimed (leased) pushes are not due again until their lease ends
    assert await outbox.due_lanes(Urgency.BULK, T0) == [("big", Environment.PRODUCTION)]


async def test_finish_and_retry_record_the_outcome(store: SqlRegistry) -> None:
    a, b = push(), push()
    await store.outbox.enqueue([a, b])
    await store.outbox.claim_due(T0, 10, LEASE)
    await store.outbox.finish(a.push_id, PushState.DELIVERED, T0, status=200)
    await store.outbox.retry_at(
        b.push_id,
        T0 + timedelta(seconds=2),
        T0,
        status=400,
        reason="BadDeviceToken",
        environment=Environment.PRODUCTION,
    )
    done, retried = await store.outbox.get(a.push_id), await store.outbox.get(b.push_id)
    assert done is not None
    assert (done.state, done.status) == (PushState.DELIVERED, 200)
    assert retried is not None
    assert retried.state is PushState.PENDING
    assert retried.environment is Environment.PRODUCTION
    assert retried.tried_other_environment
    assert retried.reason == "BadDeviceToken"
    assert await store.outbox.depth() == 1


async def test_withdrawing_a_call_stops_its_unsent_pushes_only(store: SqlRegistry) -> None:
    waiting, in_flight, other = push(), push(), push(call_id="call-2")
    await store.outbox.enqueue([in_flight])
    await store.outbox.claim_due(T0, 10, LEASE)
    await store.outbox.enqueue([waiting, other])
    assert await store.outbox.withdraw_call("demo", "call-1", T0) == 1
    assert await store.outbox.withdraw_call("other-app", "call-2", T0) == 0
    assert await state_of(store, waiting.push_id) is PushState.WITHDRAWN
    assert await state_of(store, in_flight.push_id) is PushState.SENDING
    [claimed] = await store.outbox.claim_due(T0, 10, LEASE)
    assert claimed.push_id == other.push_id


async def test_deliveries_are_queryable(store: SqlRegistry) -> None:
    a, b = push(), push(call_id="call-2", user_id="alice", device_id="pad")
    await store.outbox.enqueue([a, b])
    assert [p.push_id for p in await store.outbox.query(call_id="call-1")] == [a.push_id]
    assert [p.push_id for p in await store.outbox.query(user_id="alice")] == [b.push_id]
    assert [p.push_id for p in await store.outbox.query(apns_id=b.apns_id)] == [b.push_id]
    assert [p.push_id for p in await store.outbox.query(device_id="phone")] == [a.push_id]


async def test_instances_claiming_at_once_never_take_a_push_twice(database_url: str) -> None:
    """Three instances on one database drain 300 pushes together: each push is claimed by
    exactly one of them (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: one writer)."""
    box = SecretBox({"k": b"\2" * 32}, "k")
    instances = [await open_registry(database_url, box) for _ in range(3)]
    try:
        queued = [push(call_id=f"c{i}") for i in range(300)]
        await instances[0].outbox.enqueue(queued)

        results: list[list[str]] = [[] for _ in instances]
        while True:  # rounds in which all three claim at the same moment
            rounds = await asyncio.gather(
                *(store.outbox.claim_due(T0, 7, LEASE) for store in instances)
            )
            if not any(rounds):
                break
            for taken, claimed in zip(results, rounds, strict=True):
                taken.extend(p.push_id for p in claimed)
        everything = [push_id for taken in results for push_id in taken]
        assert len(everything) == len(set(everything)) == 300
        assert set(everything) == {p.push_id for p in queued}
        assert all(taken for taken in results)  # every instance got a share
    finally:
        for store in instances:
            await store.close()


async def state_of(store: SqlRegistry, push_id: str) -> PushState:
    stored = await store.outbox.get(push_id)
    assert stored is not None
    return stored.state


def ringing_call(call_id: str) -> Call:
    return Call(
        app_id="demo", call_id=call_id, caller_id="alice", caller_name="Alice",
        callee_user_id="bob", video=False, state=CallState.RINGING, created_at=T0,
        ring_until=T0 + timedelta(seconds=60), data={},
    )  # fmt: skip


async def test_a_call_and_its_pushes_are_stored_together_or_not_at_all(
    store: SqlRegistry,
) -> None:
    """An instance that fails between storing the call and its pushes must not leave a
    call that exists (a retry gets 409) but rings nothing."""
    taken = push(call_id="other")
    await store.outbox.enqueue([taken])
    clash = push(call_id="c-atomic", push_id=taken.push_id)  # the insert will fail
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await store.calls.create(ringing_call("c-atomic"), [push(call_id="c-atomic"), clash])
    assert await store.calls.get("demo", "c-atomic") is None
    assert await store.outbox.query(call_id="c-atomic") == []
    # Stored for real, the call and its push come together; the id is then taken.
    ring = push(call_id="c-atomic")
    assert await store.calls.create(ringing_call("c-atomic"), [ring])
    assert [p.push_id for p in await store.outbox.query(call_id="c-atomic")] == [ring.push_id]
    assert not await store.calls.create(ringing_call("c-atomic"), [push(call_id="c-atomic")])
    assert len(await store.outbox.query(call_id="c-atomic")) == 1


async def test_ending_a_call_withdraws_and_queues_together_or_not_at_all(
    store: SqlRegistry,
) -> None:
    """An end that fails half-way must not leave the call ended with its VoIP push still
    due (a phone ringing for a call that is over) or its end-of-call pushes lost."""
    voip = push(call_id="c-end")
    assert await store.calls.create(ringing_call("c-end"), [voip])
    clash = push(call_id=None, push_id=voip.push_id)  # the end push's insert will fail
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await store.calls.end("demo", "c-end", EndReason.CANCELED, T0, then_send=[clash])
    call = await store.calls.get("demo", "c-end")
    assert call is not None and call.state is CallState.RINGING
    assert await state_of(store, voip.push_id) is PushState.PENDING
    told = push(call_id=None, push_type=PushType.ALERT)
    ended = await store.calls.end("demo", "c-end", EndReason.CANCELED, T0, then_send=[told])
    assert ended.changed and ended.withdrawn == 1
    assert await state_of(store, voip.push_id) is PushState.WITHDRAWN
    assert await state_of(store, told.push_id) is PushState.PENDING
    again = await store.calls.end("demo", "c-end", EndReason.CANCELED, T0, then_send=[push()])
    assert not again.changed and again.withdrawn == 0


async def test_the_retention_sweep_deletes_only_old_finished_work(store: SqlRegistry) -> None:
    """Finished pushes and ended calls older than the retention go (in batches); pending
    or sending pushes and ringing calls stay however old; so does anything recent."""
    keep = timedelta(days=30)
    now = T0 + timedelta(days=40)
    old_final = [push(call_id="old") for _ in range(5)]
    await store.calls.create(ringing_call("old"), old_final)
    claimed = await store.outbox.claim_due(T0, 10, LEASE)
    assert {p.push_id for p in claimed} == {p.push_id for p in old_final}
    for queued in old_final:
        await store.outbox.finish(queued.push_id, PushState.DELIVERED, T0, status=200)
    await store.calls.end("demo", "old", EndReason.CANCELED, T0)
    old_pending = push(call_id="stuck")
    old_sending = push(call_id="stuck")
    await store.calls.create(ringing_call("stuck"), [old_pending, old_sending])  # still ringing
    await store.outbox.claim_due(T0, 1, LEASE)  # one of them is being sent
    recent = push(call_id="recent", created_at=now, updated_at=now, next_attempt_at=now)
    await store.calls.create(ringing_call("recent"), [recent])
    await store.calls.end("demo", "recent", EndReason.CANCELED, now - timedelta(days=1))
    await store.call_listeners.add("demo", "stuck", "ipad", "gone", T0 + LEASE)
    await store.call_listeners.add("demo", "recent", "ipad", "alive", now + LEASE)

    swept = await store.retention.sweep(now, keep, batch=2)
    assert (swept.pushes, swept.calls, swept.listeners) == (5, 1, 1)
    assert await store.outbox.query(app_id="demo", call_id="old") == []
    assert await store.calls.get("demo", "old") is None
    stuck = await store.outbox.query(app_id="demo", call_id="stuck")
    assert sorted(p.state for p in stuck) == [PushState.PENDING, PushState.SENDING]
    assert (await store.calls.get("demo", "stuck")) is not None
    assert [p.push_id for p in await store.outbox.query(app_id="demo", call_id="recent")] == [
        recent.push_id
    ]
    assert (await store.calls.get("demo", "recent")) is not None
    assert await store.call_listeners.listening("demo", "recent", now) == {"ipad"}
    again = await store.retention.sweep(now, keep)
    assert (again.pushes, again.calls, again.listeners) == (0, 0, 0)
