"""A call as ringpush tracks it: ringing until answered, ended, or its ring time is over."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class CallState(StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


class EndReason(StrEnum):
    ANSWERED_ELSEWHERE = "answered-elsewhere"
    CANCELED = "canceled"
    DECLINED = "declined"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class Call:
    app_id: str
    call_id: str
    caller_id: str
    caller_name: str
    callee_user_id: str
    video: bool
    state: CallState
    created_at: datetime
    ring_until: datetime
    data: dict[str, Any] = field(default_factory=dict)
    end_reason: EndReason | None = None
    ended_by_device: str | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CallEnding:
    """What an end request did: the call as it is now, whether this request ended it
    (of two racing, exactly one), and how many unsent pushes it withdrew."""

    call: Call | None
    changed: bool
    withdrawn: int = 0
