"""How a call ended for this device: the values the app is told, and the two ways they
are read (an event of the call's stream, a push saying the call is over).

A leaf module of plain values, so :mod:`ringpush.sdk.incoming` can read an ending out of
a push without loading the session machinery that follows a call's events.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class CallOutcome(StrEnum):
    ANSWERED_HERE = "answered-here"
    ANSWERED_ELSEWHERE = "answered-elsewhere"
    DECLINED_HERE = "declined-here"
    DECLINED_ELSEWHERE = "declined-elsewhere"
    CANCELED = "canceled"
    TIMEOUT = "timeout"
    #: The stream failed for good (e.g. the user token was revoked): treat as over.
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class CallEnded:
    call_id: str
    outcome: CallOutcome
    #: The device that answered or declined, when one did (and the news came from the
    #: call's events: pushes do not name it).
    device_id: str | None

    @property
    def here(self) -> bool:
        return self.outcome in (CallOutcome.ANSWERED_HERE, CallOutcome.DECLINED_HERE)


def outcome_of(event: dict[str, Any], my_device: str) -> CallEnded | None:
    """What an event means for this device; None while the call still rings."""
    state, reason, device = event.get("state"), event.get("reason"), event.get("device_id")
    call_id = str(event.get("call_id", ""))
    if state == "ringing":
        return None
    here = device == my_device
    if state == "answered":
        outcome = CallOutcome.ANSWERED_HERE if here else CallOutcome.ANSWERED_ELSEWHERE
    elif reason == "declined":
        outcome = CallOutcome.DECLINED_HERE if here else CallOutcome.DECLINED_ELSEWHERE
    elif reason == "timeout":
        outcome = CallOutcome.TIMEOUT
    else:
        outcome = CallOutcome.CANCELED
    return CallEnded(call_id, outcome, device if isinstance(device, str) else None)


#: A push's ``reason`` as an outcome. The server never tells the device that answered or
#: declined (docs/android.md §8), so a pushed answer or decline happened elsewhere.
_PUSHED_OUTCOMES = {
    "answered-elsewhere": CallOutcome.ANSWERED_ELSEWHERE,
    "declined": CallOutcome.DECLINED_ELSEWHERE,
    "canceled": CallOutcome.CANCELED,
    "timeout": CallOutcome.TIMEOUT,
}


def ended_by_push(info: object) -> CallEnded | None:
    """The ending a push's ``ringpush`` object tells (``call-ended`` on either platform,
    Android's ``missed-call``); None for anything else, including a reason this SDK does
    not know (a newer server's: the call's events still say how it ended)."""
    if not isinstance(info, dict) or info.get("type") not in ("call-ended", "missed-call"):
        return None
    call_id, outcome = info.get("call_id"), _PUSHED_OUTCOMES.get(str(info.get("reason")))
    if not isinstance(call_id, str) or outcome is None:
        return None
    return CallEnded(call_id, outcome, None)
