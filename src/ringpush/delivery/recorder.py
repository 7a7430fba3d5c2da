"""What happens to a push after APNs answered (or could not be reached): the outbox row,
the device registry, a log line for every failure, and the metrics.

The decision comes from :func:`ringpush.delivery.classify.classify`; this module only
carries it out. Log lines name the app, device, push type, APNs status and reason (or the
transport failure) and the attempt, never the token, a key or the payload.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from ringpush.apns.environment import Environment
from ringpush.backoff import retry_delay
from ringpush.delivery.classify import Decision, classify
from ringpush.delivery.metrics import DeliveryMetrics
from ringpush.delivery.provider_answer import ProviderAnswer
from ringpush.platforms import Platform
from ringpush.registry.outbox_models import OutboxPush, PushState
from ringpush.registry.store import Registry

log = logging.getLogger("ringpush.delivery")


class OutcomeRecorder:
    def __init__(
        self, registry: Registry, metrics: DeliveryMetrics, clock: Callable[[], datetime]
    ) -> None:
        self._registry = registry
        self._metrics = metrics
        self._clock = clock

    async def fail(self, push: OutboxPush, reason: str, label: str) -> OutboxPush:
        """A push that cannot be sent at all (ring time over, app deleted, no usable
        credentials, a request APNs would refuse): final, with ``reason``."""
        now = self._clock()
        await self._registry.outbox.finish(push.push_id, PushState.FAILED, now, reason=reason)
        self._metrics.pushes.labels(push.push_type.value, "fail", label).inc()
        self._log_failure(push, "failed", status=None, reason=reason)
        return replace(push, state=PushState.FAILED, reason=reason, updated_at=now)

    async def record(self, push: OutboxPush, result: ProviderAnswer) -> OutboxPush:
        """Carry out the decision for the service's answer; returns the push as it now
        stands."""
        now = self._clock()
        outbox = self._registry.outbox
        verdict = classify(result, tried_other_environment=push.tried_other_environment)
        status, reason = result.status, result.reason_text or result.error
        kind = push.push_type.value
        label = result.reason_label
        self._metrics.pushes.labels(kind, verdict.decision.value, label).inc()
        self._metrics.latency.labels(kind).observe((now - push.created_at).total_seconds())
        after = replace(push, status=status, reason=reason, updated_at=now)
        decision = verdict.decision
        if decision is Decision.DELIVERED:
            if push.tried_other_environment:
                await self._heal_environment(push)
            await outbox.finish(push.push_id, PushState.DELIVERED, now, status=status)
            return replace(after, state=PushState.DELIVERED, reason=None)
        if decision is Decision.TRY_OTHER_ENVIRONMENT:
            assert isinstance(push.environment, Environment)  # an APNs answer's verdict
            other = push.environment.other
            await outbox.retry_at(
                push.push_id, now, now, status=status, reason=reason, environment=other
            )
            log.info(
                "push to device %s of app %s (%s): %s %s on %s; trying %s",
                push.device_id,
                push.app_id,
                kind,
                status,
                label,
                push.environment.value,
                other.value,
            )
            return replace(
                after,
                state=PushState.PENDING,
                environment=other,
                tried_other_environment=True,
                next_attempt_at=now,
            )
        if decision is Decision.DROP_TOKEN:
            # APNs's 410 says since when the token is invalid; FCM says nothing, so the
            # attempt's own time: a device that registered the token again since keeps it.
            since = (
                datetime.fromtimestamp(verdict.invalid_since_ms / 1000, tz=UTC)
                if verdict.invalid_since_ms is not None
                else min(push.updated_at, now)
                if push.platform is Platform.FCM
                else now
            )
            removed = await self._registry.invalidate_token(
                app_id=push.app_id,
                token=push.token,
                invalid_since=since,
                reason=reason or "",
                push_type=push.push_type,
            )
            await outbox.finish(push.push_id, PushState.DROPPED, now, status=status, reason=reason)
            self._log_failure(
                push,
                "dropped, token removed" if removed else "dropped, token kept (registered again)",
                status=status,
                reason=label,
            )
            return replace(after, state=PushState.DROPPED)
        if decision is Decision.RETRY:
            wait = max(retry_delay(push.attempts), verdict.retry_after or 0.0)
            when = now + timedelta(seconds=wait)
            if push.not_after is not None and when >= push.not_after:
                reason = f"{reason}; ring time over before a retry"
                await outbox.finish(
                    push.push_id, PushState.FAILED, now, status=status, reason=reason
                )
                self._log_failure(push, "failed", status=status, reason=f"{label}; ring time over")
                return replace(after, state=PushState.FAILED, reason=reason)
            await outbox.retry_at(push.push_id, when, now, status=status, reason=reason)
            log.info(
                "push to device %s of app %s (%s), attempt %d: %s; retrying in %.1f s",
                push.device_id,
                push.app_id,
                kind,
                push.attempts,
                _answer(status, label),
                (when - now).total_seconds(),
            )
            return replace(after, state=PushState.PENDING, next_attempt_at=when)
        await outbox.finish(push.push_id, PushState.FAILED, now, status=status, reason=reason)
        self._log_failure(push, "failed", status=status, reason=label)
        return replace(after, state=PushState.FAILED)

    async def _heal_environment(self, push: OutboxPush) -> None:
        assert isinstance(push.environment, Environment)  # only APNs tries the other one
        healed = await self._registry.set_environment(
            app_id=push.app_id, token=push.token, environment=push.environment
        )
        if healed:
            log.warning(
                "device %s of user %s (app %s) registered its token as the wrong APS"
                " environment; corrected to %s. The app's build and the environment it"
                " reports disagree.",
                push.device_id,
                push.user_id,
                push.app_id,
                push.environment.value,
            )

    def _log_failure(self, push: OutboxPush, what: str, *, status: int | None, reason: str) -> None:
        log.warning(
            "push %s: app=%s device=%s push_type=%s environment=%s attempt=%d %s",
            what,
            push.app_id,
            push.device_id,
            push.push_type.value,
            push.environment.value,
            push.attempts,
            _answer(status, reason),
        )


def _answer(status: int | None, reason: str) -> str:
    if not status:
        return f"reason={reason}"
    return f"status={status} reason={reason}"
