"""What delivery does with each outcome, APNs's or FCM's: one table, one comment per row.

Apple's rules (docs/apns.md §5): never resend BadDeviceToken, DeviceTokenNotForTopic,
Unregistered, PayloadTooLarge unchanged; 429/5xx and dropped connections are temporary.
ringpush adds one rule: BadDeviceToken is tried once on the other APS environment,
because a token sent to the wrong host gets exactly that answer (a mis-built app).
FCM's (docs/fcm.md §4) come from its error code's action: UNREGISTERED drops the token,
QUOTA_EXCEEDED / UNAVAILABLE / INTERNAL are retried no sooner than ``Retry-After``,
INVALID_ARGUMENT and SENDER_ID_MISMATCH are never resent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ringpush.apns.reasons import Action, ApnsReason
from ringpush.apns.result import ApnsResult
from ringpush.delivery.provider_answer import ProviderAnswer
from ringpush.fcm.answer import FcmResult


class Decision(StrEnum):
    #: APNs accepted it.
    DELIVERED = "delivered"
    #: The token is dead: remove it (unless re-registered after the 410 timestamp).
    DROP_TOKEN = "drop-token"
    #: BadDeviceToken: resend once on the other environment.
    TRY_OTHER_ENVIRONMENT = "try-other-environment"
    #: Temporary: resend after a backoff (while the push is still worth sending).
    RETRY = "retry"
    #: APNs will never take it as it is: record and stop.
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    #: The 410 timestamp (ms) for DROP_TOKEN, when APNs gave one.
    invalid_since_ms: int | None = None
    #: For RETRY: not before this many seconds (FCM's ``Retry-After``).
    retry_after: float | None = None


def classify(result: ProviderAnswer, *, tried_other_environment: bool) -> Verdict:
    if isinstance(result, ApnsResult):
        return _apns(result, tried_other_environment=tried_other_environment)
    if isinstance(result, FcmResult):
        return _fcm(result)
    return _by_action(result.action)


def _fcm(result: FcmResult) -> Verdict:
    verdict = _by_action(result.action)
    if verdict.decision is Decision.RETRY and result.retry_after is not None:
        return Verdict(Decision.RETRY, retry_after=result.retry_after)
    return verdict


def _by_action(action: Action) -> Verdict:
    if action is Action.DELIVERED:
        return Verdict(Decision.DELIVERED)
    if action is Action.DROP_TOKEN:
        return Verdict(Decision.DROP_TOKEN)
    if action in (Action.RETRY_LATER, Action.REFRESH_AUTH):
        # 429, 5xx, no answer, or an access token the client could not renew yet.
        return Verdict(Decision.RETRY)
    return Verdict(Decision.FAIL)


def _apns(result: ApnsResult, *, tried_other_environment: bool) -> Verdict:
    if result.sent:
        return Verdict(Decision.DELIVERED)
    reason = result.reason
    if reason is ApnsReason.BAD_DEVICE_TOKEN:
        # Either a wrong-environment token (heal it) or a garbage one (drop it).
        if tried_other_environment:
            return Verdict(Decision.DROP_TOKEN)
        return Verdict(Decision.TRY_OTHER_ENVIRONMENT)
    if reason in (ApnsReason.UNREGISTERED, ApnsReason.EXPIRED_TOKEN):
        return Verdict(Decision.DROP_TOKEN, result.timestamp_ms)
    action = result.action
    if action is Action.DROP_TOKEN:
        # DeviceTokenNotForTopic and kin: the token is not this app's.
        return Verdict(Decision.DROP_TOKEN)
    if action in (Action.RETRY_LATER, Action.REFRESH_AUTH):
        # 429, 5xx, no response, or a token that the client could not refresh yet.
        return Verdict(Decision.RETRY)
    return Verdict(Decision.FAIL)
