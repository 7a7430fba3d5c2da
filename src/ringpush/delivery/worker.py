"""The delivery loop: claim due pushes from the outbox, send them, record what happened.

Every push is in the outbox before this loop sees it, and its row changes only after
APNs answered, so a crash at any point leaves it pending or leased, and it is sent again
with the same apns-id (at-least-once). VoIP pushes carry ``not_after`` (the end of the
call's ring time): once it has passed, a push is failed instead of retried, because a
phone must never ring for a call that is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ringpush.apns.device_token import mask_device_token
from ringpush.apns.errors import ApnsError
from ringpush.apns.notification import Notification
from ringpush.apns.result import ApnsResult
from ringpush.delivery.backoff import retry_delay
from ringpush.delivery.classify import Decision, classify
from ringpush.delivery.clients import ApnsClients, NoCredentials
from ringpush.delivery.metrics import DeliveryMetrics
from ringpush.registry.outbox_models import OutboxPush, PushState
from ringpush.registry.store import Registry

log = logging.getLogger(__name__)

#: Push ids answered by some instance, so a request waiting on another learns it.
ANSWERS_CHANNEL = "ringpush_push_answers"
#: PostgreSQL caps a notification at 8000 bytes; push ids are 36 characters.
ANSWERS_PER_MESSAGE = 150
LEASE = timedelta(seconds=60)
#: How long a stopping worker waits for the answers to pushes it is sending.
DRAIN_SECONDS = 5.0
RECENT_ANSWERS = 10_000
BATCH = 500


def utc_now() -> datetime:
    return datetime.now(UTC)


class DeliveryWorker:
    def __init__(
        self,
        registry: Registry,
        clients: ApnsClients,
        *,
        clock: Callable[[], datetime] = utc_now,
        poll_seconds: float = 0.5,
        metrics: DeliveryMetrics | None = None,
        lease: timedelta = LEASE,
    ) -> None:
        self._lease = lease
        self.metrics = metrics or DeliveryMetrics()
        self._registry = registry
        self._clients = clients
        self._clock = clock
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._watchers: dict[str, list[asyncio.Future[None]]] = {}
        # Answers recorded lately, so a watch that starts late still sees them.
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._to_announce: list[str] = []
        self._announcing: set[asyncio.Task[None]] = set()
        self._stopping = False
        #: Pushes of the current round not answered yet (handed back if we stop).
        self._in_flight: set[str] = set()

    def watch(self, push_id: str) -> asyncio.Future[None]:
        """A future resolved when an answer for ``push_id`` is recorded, by this instance
        or (told through the database's notifications) by another one."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if push_id in self._recent:
            future.set_result(None)
        else:
            self._watchers.setdefault(push_id, []).append(future)
        return future

    def _answered(self, push_id: str) -> None:
        self._resolve(push_id)
        if not self._to_announce:
            asyncio.get_running_loop().call_soon(self._announce)
        self._to_announce.append(push_id)

    def _announce(self) -> None:
        """Tell the other instances which pushes were answered, in a few messages per
        loop turn rather than one per push."""
        ids, self._to_announce = self._to_announce, []
        for start in range(0, len(ids), ANSWERS_PER_MESSAGE):
            message = ",".join(ids[start : start + ANSWERS_PER_MESSAGE])
            task = asyncio.create_task(self._send_announcement(message))
            self._announcing.add(task)
            task.add_done_callback(self._announcing.discard)

    async def _send_announcement(self, message: str) -> None:
        try:
            await self._registry.notifications.notify(ANSWERS_CHANNEL, message)
        except Exception:  # the waiting request times out and reads the row instead
            log.warning("could not announce push answers to the other instances")

    def _heard(self, message: str) -> None:
        for push_id in message.split(","):
            self._resolve(push_id)

    def _resolve(self, push_id: str) -> None:
        self._recent[push_id] = None
        if len(self._recent) > RECENT_ANSWERS:
            self._recent.popitem(last=False)
        for future in self._watchers.pop(push_id, ()):
            if not future.done():
                future.set_result(None)

    def wake(self) -> None:
        """New pushes are in the outbox: look now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def listen(self) -> None:
        """Hear other instances' answers (a request here may wait on a push they sent)."""
        await self._registry.notifications.listen(ANSWERS_CHANNEL, self._heard)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self, drain: float = DRAIN_SECONDS) -> None:
        """Stop claiming; give the pushes being sent up to ``drain`` seconds to get their
        answers; hand the rest back to the outbox, due now, so another instance sends
        them at once rather than after the lease (a VoIP push late by a lease is a
        missed call)."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), drain)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        if self._in_flight:
            unanswered, self._in_flight = list(self._in_flight), set()
            try:
                released = await self._registry.outbox.release(unanswered, self._clock())
            except Exception:  # their lease runs out instead
                log.warning("could not hand back %d pushes being sent", len(unanswered))
            else:
                log.info("stopping: handed back %d pushes still being sent", released)
        if self._announcing:
            await asyncio.gather(*self._announcing, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                sent = await self.run_once()
            except Exception:
                log.exception("delivery round failed; retrying")
                sent = 0
            if sent == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)
                self._wake.clear()

    async def run_once(self) -> int:
        """Send every push that is due now; returns how many were attempted."""
        claimed = await self._registry.outbox.claim_due(self._clock(), BATCH, self._lease)
        if claimed:
            self.metrics.claimed.inc(len(claimed))
            self._in_flight.update(push.push_id for push in claimed)
            await asyncio.gather(*(self._delivering(push) for push in claimed))
        self.metrics.queue_depth.set(await self._registry.outbox.depth())
        return len(claimed)

    async def _delivering(self, push: OutboxPush) -> None:
        try:
            await self._deliver(push)
        except Exception:
            self._in_flight.discard(push.push_id)  # left to its lease
            raise
        self._in_flight.discard(push.push_id)  # only once its outcome is stored

    async def _deliver(self, push: OutboxPush) -> None:
        now = self._clock()
        outbox = self._registry.outbox
        if push.not_after is not None and now >= push.not_after:
            await outbox.finish(push.push_id, PushState.FAILED, now, reason="ring time over")
            self._answered(push.push_id)
            return
        app = await self._registry.get_app(push.app_id)
        if app is None:
            await outbox.finish(push.push_id, PushState.FAILED, now, reason="app deleted")
            return
        try:
            client = await self._clients.for_app(app, push.environment)
        except (NoCredentials, ApnsError) as exc:
            # Unusable credentials or CA: nothing can be sent for this app until fixed.
            await outbox.finish(push.push_id, PushState.FAILED, now, reason=str(exc))
            self._answered(push.push_id)
            return
        notification = Notification.for_app(
            app.bundle_id,
            push.push_type,
            push.token,
            push.payload,
            priority=push.priority,
            expiration=push.expiration,
            collapse_id=push.collapse_id,
            apns_id=push.apns_id,
        )
        result = await client.send(notification)
        try:
            await self._record(push, result)
        finally:
            self._answered(push.push_id)

    async def _record(self, push: OutboxPush, result: ApnsResult) -> None:
        now = self._clock()
        outbox = self._registry.outbox
        verdict = classify(result, tried_other_environment=push.tried_other_environment)
        status, reason = result.status, result.reason_text or result.error
        kind = push.push_type.value
        self.metrics.pushes.labels(kind, verdict.decision.value, result.reason_text or "").inc()
        self.metrics.latency.labels(kind).observe((now - push.created_at).total_seconds())
        if verdict.decision is Decision.DELIVERED:
            if push.tried_other_environment:
                # The token works only on the other host: the app was built for it.
                healed = await self._registry.set_environment(
                    app_id=push.app_id, token=push.token, environment=push.environment
                )
                if healed:
                    log.warning(
                        "device %s of user %s (app %s) registered its token as the wrong APS"
                        " environment; corrected to %s. The app's build and the environment"
                        " it reports disagree.",
                        push.device_id,
                        push.user_id,
                        push.app_id,
                        push.environment.value,
                    )
            await outbox.finish(push.push_id, PushState.DELIVERED, now, status=status)
        elif verdict.decision is Decision.TRY_OTHER_ENVIRONMENT:
            await outbox.retry_at(
                push.push_id,
                now,
                now,
                status=status,
                reason=reason,
                environment=push.environment.other,
            )
        elif verdict.decision is Decision.DROP_TOKEN:
            since = (
                datetime.fromtimestamp(verdict.invalid_since_ms / 1000, tz=UTC)
                if verdict.invalid_since_ms is not None
                else now
            )
            removed = await self._registry.invalidate_token(
                app_id=push.app_id, token=push.token, invalid_since=since, reason=reason or ""
            )
            log.info(
                "token %s of device %s: %s; %s",
                mask_device_token(push.token),
                push.device_id,
                reason,
                "removed" if removed else "kept (registered again since)",
            )
            await outbox.finish(push.push_id, PushState.DROPPED, now, status=status, reason=reason)
        elif verdict.decision is Decision.RETRY:
            when = now + timedelta(seconds=retry_delay(push.attempts))
            if push.not_after is not None and when >= push.not_after:
                await outbox.finish(
                    push.push_id,
                    PushState.FAILED,
                    now,
                    status=status,
                    reason=f"{reason}; ring time over before a retry",
                )
            else:
                await outbox.retry_at(push.push_id, when, now, status=status, reason=reason)
        else:
            await outbox.finish(push.push_id, PushState.FAILED, now, status=status, reason=reason)
