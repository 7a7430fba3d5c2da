"""The delivery engine: due pushes flow from the outbox into per-(app, environment)
lanes, most urgent first, and their outcomes back into the outbox.

Every push is in the outbox before the engine sees it, and its row changes only after
APNs answered, so a crash at any point leaves it pending or leased, and it is sent again
with the same apns-id (at-least-once). There is no batch barrier: pushes are claimed as
room frees up, each lane sends as its own cap allows, and an answer is recorded the
moment it arrives. Lanes share nothing, so one app's dead or slow endpoint holds up only
its own pushes; a lane whose endpoint keeps failing opens its circuit and its pushes wait
in the outbox until the probe time instead of dialing the endpoint on every push.

Calls come first three times over: due pushes are claimed one urgency class at a time
(calls, then what follows a call, then bulk); a lane sends its most urgent waiting push
first; and a call's push jumps the connection pool's queue. Bulk pushes are claimed only
for lanes with room, so a lane with a backlog never takes the room of another.

A request that just stored its pushes (a call) hands them over in memory
(:meth:`DeliveryEngine.deliver`, after storing them already claimed): no claim query
stands between ``POST /v1/calls`` and the wire. VoIP pushes carry ``not_after`` (the end
of the call's ring time): once it has passed, a push is failed instead of sent or retried,
because a phone must never ring for a call that is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ringpush.apns.environment import Environment
from ringpush.apns.errors import ApnsError, InvalidNotification
from ringpush.apns.notification import Notification
from ringpush.apns.push_type import PushType
from ringpush.backoff import retry_delay
from ringpush.delivery.answers import PushAnswers
from ringpush.delivery.circuit import CircuitBreaker, CircuitState
from ringpush.delivery.clients import ApnsClients, NoCredentials
from ringpush.delivery.fcm_clients import FcmClients
from ringpush.delivery.fcm_pushes import fcm_message
from ringpush.delivery.lane import (
    DEFAULT_BACKLOG,
    DEFAULT_CONCURRENCY,
    Lane,
    LaneHealth,
    LaneKey,
    lane_name,
)
from ringpush.delivery.metrics import DeliveryMetrics
from ringpush.delivery.provider_answer import LaneClient, ProviderAnswer
from ringpush.delivery.recorder import OutcomeRecorder
from ringpush.fcm.errors import InvalidMessage
from ringpush.logs import Throttled
from ringpush.platforms import FCM
from ringpush.registry.app_cache import AppCache
from ringpush.registry.models import App
from ringpush.registry.outbox_models import OutboxPush, Urgency
from ringpush.registry.store import DatabaseUnavailable, Registry

log = logging.getLogger("ringpush.delivery")

#: The first wait before claiming again when the database cannot take the claim, and the
#: longest (the wait doubles, with jitter, while the trouble lasts).
DATABASE_RETRY_SECONDS = 0.2
DATABASE_MAX_SECONDS = 5.0

LEASE = timedelta(seconds=60)
#: How long a stopping engine waits for the answers to pushes it is sending.
DRAIN_SECONDS = 5.0
#: Pushes claimed by one statement at most.
CLAIM_BATCH = 500
#: Bulk pushes claimed by one statement at most: a claim holds SQLite's one writer, and
#: a call being stored waits for the statement under way (``bench/lanes.py``: 100 rows a
#: statement took call → APNs p99 under a bulk backlog from 20 to 30 ms).
BULK_CLAIM_BATCH = 32
#: Pushes dispatched in one go before the claimer lets the event loop run other work
#: (a request for a call must not wait behind a bulk batch being encoded).
DISPATCH_SLICE = 32
#: Pushes one instance holds claimed at once (on the wire and waiting in lanes).
MAX_HELD = 5000
#: Calls count as arriving for this long after the last one: bulk sending stays slowed
#: down (``bulk_share_during_calls``) until none has come for that long.
CALLS_QUIET_SECONDS = 1.0
#: The share of a lane's cap bulk pushes may use while calls are arriving.
DEFAULT_BULK_SHARE_DURING_CALLS = 0.05
#: How often the outbox depth gauge is refreshed.
DEPTH_SECONDS = 5.0
_CIRCUIT_LEVEL = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}


def utc_now() -> datetime:
    return datetime.now(UTC)


class DeliveryEngine:
    def __init__(
        self,
        registry: Registry,
        clients: ApnsClients,
        *,
        apps: AppCache | None = None,
        answers: PushAnswers | None = None,
        clock: Callable[[], datetime] = utc_now,
        poll_seconds: float = 0.5,
        metrics: DeliveryMetrics | None = None,
        lease: timedelta = LEASE,
        lane_concurrency: int = DEFAULT_CONCURRENCY,
        lane_backlog: int = DEFAULT_BACKLOG,
        max_held: int = MAX_HELD,
        breaker: Callable[[], CircuitBreaker] = CircuitBreaker,
        bulk_share_during_calls: float = DEFAULT_BULK_SHARE_DURING_CALLS,
        fcm_clients: FcmClients | None = None,
    ) -> None:
        self.metrics = metrics or DeliveryMetrics()
        self.answers = answers or PushAnswers(registry.notifications)
        self._own_apps = apps is None
        self.apps = apps or AppCache(registry)
        self.apps.subscribe(self._app_changed)
        self._registry = registry
        self._clients = clients
        self._own_fcm_clients = fcm_clients is None
        self._fcm_clients = fcm_clients or FcmClients()
        self._clock = clock
        self._poll = poll_seconds
        self._lease = lease
        self._lane_concurrency = lane_concurrency
        self._lane_backlog = lane_backlog
        #: What a lane not yet created has room for.
        self._lane_room = lane_concurrency + lane_backlog
        #: Bulk pushes a lane may have in flight while calls are arriving: every bulk
        #: push sent and answered is work for the one event loop and the one SQLite
        #: writer that each call's request also waits for (``bench/lanes.py``).
        self._bulk_cap_during_calls = (
            None
            if bulk_share_during_calls >= 1
            else max(1, int(lane_concurrency * bulk_share_during_calls))
        )
        self._calls_until = 0.0
        self._calls_arriving = False
        self._max_held = max_held
        self._breaker = breaker
        self._recorder = OutcomeRecorder(registry, self.metrics, clock)
        self._lanes: dict[LaneKey, Lane] = {}
        #: Claimed pushes not yet answered, each with a future done once it is recorded
        #: (or handed back): what a stopping engine waits for, then releases.
        self._held: dict[str, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        #: The last claim round stopped at MAX_HELD: claim again when a push is done.
        self._full = False
        #: The last claim round left bulk in the outbox for lanes without room: claim
        #: again when one of them has room.
        self._lanes_full = False
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._troubles = Throttled(log)
        self._closed = False

    # -- life cycle -------------------------------------------------------------------
    async def listen(self) -> None:
        """Hear other instances' answers and app changes."""
        await self.answers.listen()
        if self._own_apps:
            await self.apps.start()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def wake(self) -> None:
        """New pushes are in the outbox: look now rather than at the next poll."""
        self._wake.set()

    async def stop(self, drain: float = DRAIN_SECONDS) -> None:
        """Stop claiming; give the pushes being sent up to ``drain`` seconds to get their
        answers; hand the rest back to the outbox, due now, so another instance sends
        them at once rather than after the lease (a VoIP push late by a lease is a
        missed call)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), drain)
            if not self._task.done():
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._held:
            await asyncio.wait(list(self._held.values()), timeout=drain)
        self._closed = True
        for lane in self._lanes.values():
            lane.close()
        if self._held:
            unanswered = list(self._held)
            for push_id in unanswered:
                self._release_hold(push_id)
            try:
                released = await self._registry.outbox.release(unanswered, self._clock())
            except Exception:  # their lease runs out instead
                log.warning("could not hand back %d pushes being sent", len(unanswered))
            else:
                log.info("stopping: handed back %d pushes still being sent", released)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=drain)
        if self._own_fcm_clients:
            await self._fcm_clients.close()
        await self.answers.close()

    # -- what requests and tests call -------------------------------------------------
    def claim_until(self) -> datetime | None:
        """The lease under which a request may store new pushes already claimed by this
        engine, then pass them to :meth:`deliver`; None when the engine is not running
        (store them pending: whoever runs will claim them)."""
        if not self.running or self._stopping:
            return None
        return self._clock() + self._lease

    async def deliver(self, pushes: Sequence[OutboxPush]) -> None:
        """Send pushes this engine holds claimed (stored with :meth:`claim_until`)."""
        await self._take(pushes)

    async def run_once(self) -> int:
        """Claim every push due now (every class, most urgent first), send them and wait
        until each is recorded or handed back; returns how many were claimed."""
        now = self._clock()
        troubled = self._troubled_lanes()
        claimed = await self._registry.outbox.claim_due(
            now, CLAIM_BATCH, self._lease, skip_lanes=troubled
        )
        claimed = [*claimed, *await self._claim_probes(now)]
        done = await self._take(claimed)
        if done:
            await asyncio.gather(*done)
        await self._refresh_depth()
        return len(claimed)

    def lanes(self) -> list[LaneHealth]:
        return [lane.health() for lane in self._lanes.values()]

    # -- the claim loop ---------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        depth_at = 0.0
        failures = 0
        while not self._stopping:
            self._wake.clear()
            try:
                more = await self._claim_round()
            except DatabaseUnavailable as exc:
                # Full, read-only, locked, gone: every claim would fail the same way
                # until it is mended, so wait (longer each time), then try again.
                failures += 1
                delay = retry_delay(failures, base=DATABASE_RETRY_SECONDS, cap=DATABASE_MAX_SECONDS)
                self._troubles.log(
                    logging.WARNING, "claim", "cannot claim due pushes (%s); trying again", exc
                )
                await asyncio.sleep(delay)
                continue
            except Exception:
                log.exception("claiming due pushes failed; retrying")
                more = False
            failures = 0
            if loop.time() >= depth_at:
                depth_at = loop.time() + DEPTH_SECONDS
                await self._refresh_depth()
            if not more and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)

    async def _claim_round(self) -> bool:
        """Claim what is due, calls first; True if more may be due right now."""
        outbox = self._registry.outbox
        now = self._clock()
        troubled = self._troubled_lanes()
        await self._take(await self._claim_probes(now))
        more = False
        for level in (Urgency.CALL, Urgency.CALL_FOLLOW_UP):
            claimed = await outbox.claim_due(
                now, CLAIM_BATCH, self._lease, urgency=level, skip_lanes=troubled
            )
            more |= len(claimed) == CLAIM_BATCH
            await self._take(claimed)
            if self._stopping:
                return False
        room = self._max_held - len(self._held)
        self._full = room <= 0
        self._lanes_full = False
        if self._full:
            return more
        # Bulk is claimed lane by lane, each as far as it has room: a lane with a backlog
        # never takes another's room, and no claim walks past the rows of a full lane. A
        # lane given all it had room for is claimed for again when its backlog has run
        # down (lane_has_room), not at every answer.
        for key in await outbox.due_lanes(Urgency.BULK, now):
            lane = self._lanes.get(key)
            if lane is not None and key in troubled:
                continue
            if lane is not None and not lane.hungry:
                self._lanes_full = True
                continue
            wanted = min(room, self._lane_room if lane is None else lane.room)
            while wanted > 0 and not self._stopping:
                chunk = min(BULK_CLAIM_BATCH, wanted)
                claimed = await outbox.claim_due(
                    now, chunk, self._lease, urgency=Urgency.BULK, lane=key
                )
                await self._take(claimed)
                room -= len(claimed)
                wanted -= len(claimed)
                if len(claimed) < chunk:
                    break  # nothing more due in this lane
            else:
                self._lanes_full = True  # it may hold more than it had room for
            if room <= 0:
                self._full = True
                break
            if self._stopping:
                break
        return more

    def _troubled_lanes(self) -> list[LaneKey]:
        """Lanes whose circuit is not closed: claims leave their pushes in the outbox."""
        return [key for key, lane in self._lanes.items() if lane.troubled]

    async def _claim_probes(self, now: datetime) -> list[OutboxPush]:
        """One push, the most urgent due, for each lane whose probe time has come and
        that has none to probe with.

        Only that one can go before the probe's answer: claiming the lane's whole backlog
        at the probe time, to hand it back when the probe failed, cost the event loop
        100 ms at each probe of a dead lane, and the healthy lanes' calls waited for it
        (``bench/lanes.py``, dead lane).
        """
        claimed: list[OutboxPush] = []
        for key, lane in list(self._lanes.items()):
            if lane.wants_probe:
                claimed += await self._registry.outbox.claim_due(now, 1, self._lease, lane=key)
        return claimed

    async def _take(self, claimed: Sequence[OutboxPush]) -> list[asyncio.Future[None]]:
        """Hold and dispatch claimed pushes; returns futures done once each is recorded
        or handed back."""
        if not claimed:
            return []
        self.metrics.claimed.inc(len(claimed))
        if self._bulk_cap_during_calls is not None and any(
            push.urgency is Urgency.CALL for push in claimed
        ):
            self._call_arrived()
        done = [self._hold(push) for push in claimed]
        for n, push in enumerate(claimed, start=1):
            await self._dispatch(push)
            if n % DISPATCH_SLICE == 0:
                await asyncio.sleep(0)
        return done

    async def _refresh_depth(self) -> None:
        try:
            self.metrics.queue_depth.set(await self._registry.outbox.depth())
        except Exception:
            log.warning("could not read the outbox depth")

    # -- one push ---------------------------------------------------------------------
    async def _dispatch(self, push: OutboxPush) -> None:
        """Into its lane, or to its final state when it cannot be sent."""
        try:
            if push.not_after is not None and self._clock() >= push.not_after:
                await self._fail(push, "ring time over", "ring_time_over")
                return
            app = await self.apps.get(push.app_id)
            if app is None:
                await self._fail(push, "app deleted", "app_deleted")
                return
            try:
                lane = await self._lane(app, push)
                if lane.open:
                    await self._defer(lane, [push])
                    return
                request = self._request(app, push)
            except NoCredentials as exc:
                await self._fail(push, str(exc), "no_credentials")
                return
            except InvalidNotification as exc:
                await self._fail(push, f"{exc.reason.value}: {exc}", exc.reason.value)
                return
            except InvalidMessage as exc:  # what FCM would refuse
                await self._fail(push, str(exc), "invalid_message")
                return
            except ApnsError as exc:  # unusable credentials, CA or URL
                await self._fail(push, str(exc), "bad_configuration")
                return
            lane.offer(push, request)
            self.metrics.lane_in_flight.labels(*_labels(lane.key)).set(lane.in_flight)
        except DatabaseUnavailable as exc:
            self._troubles.log(
                logging.WARNING,
                "dispatch",
                "could not dispatch a push (%s); it is retried after its lease",
                exc,
            )
            self._release_hold(push.push_id)
        except Exception:
            log.exception("could not dispatch push %s; it is retried after its lease", push.push_id)
            self._release_hold(push.push_id)

    def _request(self, app: App, push: OutboxPush) -> Any:
        """The push as its service takes it: APNs headers and body, or FCM's JSON."""
        if push.push_type is FCM:
            return fcm_message(push, self._clock()).encode()
        assert isinstance(push.push_type, PushType)  # not FCM: an APNs push type
        return Notification.for_app(
            app.bundle_id,
            push.push_type,
            push.token,
            push.payload,
            priority=push.priority,
            expiration=push.expiration,
            collapse_id=push.collapse_id,
            apns_id=push.apns_id,
        ).encode()

    async def _lane(self, app: App, push: OutboxPush) -> Lane:
        environment = push.environment
        client: LaneClient
        if isinstance(environment, Environment):
            client = await self._clients.for_app(app, environment)
        else:
            client = await self._fcm_clients.for_app(app)
        key = push.lane
        lane = self._lanes.get(key)
        if lane is None or lane.client is not client:
            if lane is not None:  # the app changed: its old connections are closed
                self._spawn(self._release(lane.close()))
            lane = Lane(
                key,
                client,
                self,
                concurrency=self._lane_concurrency,
                backlog=self._lane_backlog,
                breaker=self._breaker(),
            )
            if self._calls_arriving:
                lane.bulk_cap = self._bulk_cap_during_calls
            self._lanes[key] = lane
        return lane

    async def _fail(self, push: OutboxPush, reason: str, label: str) -> None:
        try:
            self.answers.answered(await self._recorder.fail(push, reason, label))
        finally:
            self._release_hold(push.push_id)

    async def _record(self, push: OutboxPush, result: ProviderAnswer) -> None:
        try:
            after = await self._recorder.record(push, result)
        except DatabaseUnavailable as exc:
            self._troubles.log(
                logging.WARNING,
                "record",
                "could not record an answer (%s); its push is sent again after its lease",
                exc,
            )
        except Exception:
            log.exception(
                "could not record the answer to push %s; it is sent again after its lease",
                push.push_id,
            )
        else:
            self.answers.answered(after)
        finally:
            self._release_hold(push.push_id)

    async def _defer(
        self, lane: Lane, pushes: list[OutboxPush], *, whole_lane: bool = False
    ) -> None:
        """Back to the outbox until the lane's probe time, the claim not counted."""
        now = self._clock()
        until = now + timedelta(seconds=lane.breaker.retry_in())
        app_id, environment = lane.key
        try:
            if pushes:
                await self._registry.outbox.defer([p.push_id for p in pushes], until, now)
                self.metrics.lane_deferred.labels(*_labels(lane.key)).inc(len(pushes))
            if whole_lane:
                await self._registry.outbox.defer_lane(app_id, environment, until, now)
        except Exception:
            log.warning("could not put back %d pushes of lane %s", len(pushes), lane_name(lane.key))
        finally:
            for push in pushes:
                self._release_hold(push.push_id)

    async def _release(self, pushes: list[OutboxPush]) -> None:
        try:
            await self._registry.outbox.release([p.push_id for p in pushes], self._clock())
        finally:
            for push in pushes:
                self._release_hold(push.push_id)

    def _hold(self, push: OutboxPush) -> asyncio.Future[None]:
        future = self._held.get(push.push_id)
        if future is None:
            future = self._held[push.push_id] = asyncio.get_running_loop().create_future()
        return future

    def _release_hold(self, push_id: str) -> None:
        future = self._held.pop(push_id, None)
        if future is not None and not future.done():
            future.set_result(None)
        if self._full and len(self._held) < self._max_held:
            self._full = False
            self._wake.set()

    # -- calls first, for the whole process ---------------------------------------------
    def _call_arrived(self) -> None:
        """Slow bulk sending down in every lane until calls stop arriving."""
        loop = asyncio.get_running_loop()
        self._calls_until = loop.time() + CALLS_QUIET_SECONDS
        if not self._calls_arriving:
            self._calls_arriving = True
            for lane in self._lanes.values():
                lane.bulk_cap = self._bulk_cap_during_calls
            loop.call_at(self._calls_until, self._calls_quiet)

    def _calls_quiet(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() < self._calls_until:
            loop.call_at(self._calls_until, self._calls_quiet)
            return
        self._calls_arriving = False
        for lane in self._lanes.values():
            lane.bulk_cap = None
            lane.pump()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- what lanes tell the engine (LaneOwner) ---------------------------------------
    def lane_answered(self, lane: Lane, push: OutboxPush, result: ProviderAnswer) -> None:
        self.metrics.lane_in_flight.labels(*_labels(lane.key)).set(lane.in_flight)
        if self._closed:
            return  # handed back when the engine stopped
        self._spawn(self._record(push, result))

    def lane_opened(self, lane: Lane, unsent: list[OutboxPush]) -> None:
        labels = _labels(lane.key)
        self.metrics.lane_opened.labels(*labels).inc()
        self.metrics.lane_state.labels(*labels).set(_CIRCUIT_LEVEL[CircuitState.OPEN])
        log.warning(
            "lane %s: APNs endpoint failing (%d failures in a row, last: %s); circuit open,"
            " next probe in %.1f s",
            lane_name(lane.key),
            lane.breaker.failures,
            lane.last_error,
            lane.breaker.retry_in(),
        )
        if not self._closed:
            self._spawn(self._defer(lane, unsent, whole_lane=True))

    def lane_recovered(self, lane: Lane) -> None:
        self.metrics.lane_state.labels(*_labels(lane.key)).set(_CIRCUIT_LEVEL[CircuitState.CLOSED])
        log.warning("lane %s: APNs endpoint answers again; circuit closed", lane_name(lane.key))
        self._wake.set()

    def lane_probing(self, lane: Lane) -> None:
        self.metrics.lane_state.labels(*_labels(lane.key)).set(
            _CIRCUIT_LEVEL[CircuitState.HALF_OPEN]
        )
        log.info("lane %s: probing its APNs endpoint", lane_name(lane.key))

    def lane_has_room(self, lane: Lane) -> None:
        if self._lanes_full:
            self._lanes_full = False
            self._wake.set()

    # -- apps -------------------------------------------------------------------------
    def _app_changed(self, app_id: str) -> None:
        """Changed or deleted on some instance: its lanes are rebuilt on the next push."""
        for key in [key for key in self._lanes if key[0] == app_id]:
            lane = self._lanes.pop(key)
            self._spawn(self._release(lane.close()))
        self._spawn(self._clients.forget(app_id))
        self._spawn(self._fcm_clients.forget(app_id))


def _labels(key: LaneKey) -> tuple[str, str]:
    return key[0], key[1].value
