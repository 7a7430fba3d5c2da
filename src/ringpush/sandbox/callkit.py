"""A simulated CallKit: the system call UI of one simulated iOS device.

An app reports an incoming call (``report_new_incoming_call``) and the phone rings; the
user answers or declines at the phone (:meth:`CallKit.answer`, :meth:`CallKit.decline`)
and CallKit asks the app to perform that action (``on_answer`` / ``on_end``, the
``CXProviderDelegate`` of iOS); the app reports a call it learned has ended elsewhere
with ``report_call_ended``. Reporting is what the iOS 13 rule for VoIP pushes checks,
so every report is also handed to the device (``on_report``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class CallKitState(StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


class CallEndedReason(StrEnum):
    """``CXCallEndedReason``: why the app says a call ended without the user's action."""

    FAILED = "failed"
    REMOTE_ENDED = "remoteEnded"
    UNANSWERED = "unanswered"
    ANSWERED_ELSEWHERE = "answeredElsewhere"
    DECLINED_ELSEWHERE = "declinedElsewhere"


#: What CallKit answers when a call with the same UUID is already showing.
CALL_UUID_ALREADY_EXISTS = "callUUIDAlreadyExists"


@dataclass(slots=True)
class CallKitCall:
    """One call as the phone's UI shows it."""

    uuid: uuid.UUID
    handle: str
    video: bool
    state: CallKitState
    reported_at: float
    ended_at: float | None = None
    #: Set when the app ended it (``report_call_ended``) or the user declined ("declined").
    end_reason: str | None = None


class CallKit:
    def __init__(self, clock: Callable[[], float], on_report: Callable[[], None]) -> None:
        self._clock = clock
        self._on_report = on_report
        self.calls: dict[uuid.UUID, CallKitCall] = {}
        #: The app's answer action (``CXAnswerCallAction``): the user tapped Answer.
        self.on_answer: Callable[[uuid.UUID], None] | None = None
        #: The app's end action (``CXEndCallAction``): the user declined or hung up.
        self.on_end: Callable[[uuid.UUID], None] | None = None

    # -- the app ---------------------------------------------------------------------

    def report_new_incoming_call(
        self, call_uuid: uuid.UUID, handle: str, *, video: bool = False
    ) -> str | None:
        """Show an incoming call; returns None, or CallKit's error for a duplicate UUID.

        A report counts for the VoIP rule even when CallKit refuses it (the app did
        what iOS asks); the app should then end the call it could not show.
        """
        self._on_report()
        existing = self.calls.get(call_uuid)
        if existing is not None and existing.state is not CallKitState.ENDED:
            return CALL_UUID_ALREADY_EXISTS
        self.calls[call_uuid] = CallKitCall(
            call_uuid, handle, video, CallKitState.RINGING, self._clock()
        )
        return None

    def report_call_ended(self, call_uuid: uuid.UUID, reason: CallEndedReason) -> None:
        """The app learned the call is over (answered elsewhere, canceled, …)."""
        call = self.calls.get(call_uuid)
        if call is not None and call.state is not CallKitState.ENDED:
            call.state = CallKitState.ENDED
            call.end_reason = reason.value
            call.ended_at = self._clock()

    # -- the user at the phone -------------------------------------------------------

    def answer(self, call_uuid: uuid.UUID) -> None:
        """The user taps Answer on a ringing call."""
        call = self._ringing(call_uuid)
        call.state = CallKitState.ANSWERED
        if self.on_answer is not None:
            self.on_answer(call_uuid)

    def decline(self, call_uuid: uuid.UUID) -> None:
        """The user taps Decline on a ringing call."""
        call = self._ringing(call_uuid)
        call.state = CallKitState.ENDED
        call.end_reason = "declined"
        call.ended_at = self._clock()
        if self.on_end is not None:
            self.on_end(call_uuid)

    def _ringing(self, call_uuid: uuid.UUID) -> CallKitCall:
        call = self.calls.get(call_uuid)
        if call is None or call.state is not CallKitState.RINGING:
            raise LookupError(f"no ringing call {call_uuid}")
        return call

    # -- what the screen shows -------------------------------------------------------

    def ringing(self) -> list[CallKitCall]:
        return [c for c in self.calls.values() if c.state is CallKitState.RINGING]

    def clear(self) -> None:
        self.calls.clear()
