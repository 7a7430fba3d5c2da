"""What delivery does with each APNs outcome: one table, one comment per row.

Apple's rules (docs/apns.md §5): never resend BadDeviceToken, DeviceTokenNotForTopic,
Unregistered, PayloadTooLarge unchanged; 429/5xx and dropped connections are temporary.
ringpush adds one rule: BadDeviceToken is tried once on the other APS environment,
because a token sent to the wrong host gets exactly that answer (a mis-built app).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ringpush.apns.reasons import Action, ApnsReason
from ringpush.apns.result import ApnsResult


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


def classify(result: ApnsResult, *, tried_other_environment: bool) -> Verdict:
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
