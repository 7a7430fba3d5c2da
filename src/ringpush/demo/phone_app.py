"""The app on a simulated phone, written the way an iOS app uses the SDK.

It is the reference for app developers as much as a test fixture: create
:class:`~ringpush.sdk.ManagedPush` first, set the push types last, sign in later with a
:class:`~ringpush.sdk.Client`; on a VoIP push report the call to CallKit before the
handler returns, then follow the call's events; CallKit's answer and decline actions go
back to the server, and a call that ended elsewhere is ended in CallKit.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ringpush.apns.push_type import PushType
from ringpush.sandbox.callkit import CallEndedReason
from ringpush.sandbox.devices import SimulatedDevice
from ringpush.sdk import (
    CallEnded,
    CallOutcome,
    CallSession,
    Client,
    IncomingCall,
    IncomingPush,
    ManagedPush,
    RingpushError,
)
from ringpush.sdk.incoming import call_uuid

log = logging.getLogger(__name__)

#: How CallKit is told a call ended that the user did not end on this phone.
_CALLKIT_REASONS = {
    CallOutcome.ANSWERED_ELSEWHERE: CallEndedReason.ANSWERED_ELSEWHERE,
    CallOutcome.DECLINED_ELSEWHERE: CallEndedReason.DECLINED_ELSEWHERE,
    CallOutcome.CANCELED: CallEndedReason.REMOTE_ENDED,
    CallOutcome.TIMEOUT: CallEndedReason.UNANSWERED,
    CallOutcome.LOST: CallEndedReason.FAILED,
}


@dataclass(frozen=True, slots=True)
class Ring:
    """The phone rang: the call and how long after the server queued the push (ms)."""

    call: IncomingCall
    latency_ms: float


Listener = Callable[[str, str], None]


class PhoneApp:
    def __init__(
        self,
        device: SimulatedDevice,
        server_url: str,
        *,
        build: str = "debug",
        push_types: Iterable[PushType] = (PushType.VOIP,),
        report_calls: bool = True,
        listener: Listener | None = None,
    ) -> None:
        self.device = device
        self.server_url = server_url
        #: False makes a misbehaving app that ignores VoIP pushes (iOS punishes that).
        self.report_calls = report_calls
        self._listener = listener
        self.client: Client | None = None
        self.rings: list[Ring] = []
        self.sessions: dict[uuid.UUID, CallSession] = {}
        self.ended: list[CallEnded] = []
        self._tasks: set[asyncio.Task[None]] = set()
        device.callkit.on_answer = self._user_answered
        device.callkit.on_end = self._user_declined
        # As early as possible in the app's life; push types last: that starts PushKit.
        self.push = ManagedPush(
            device,
            device_id=device.install_id,
            environment="automatic",
            build=build,
            on_incoming_push=self._on_push,
        )
        self.push.desired_push_types = frozenset(push_types)

    @property
    def name(self) -> str:
        return self.device.name

    def _say(self, what: str) -> None:
        if self._listener is not None:
            self._listener(self.name, what)

    async def sign_in(self, user_token: str) -> Client:
        """Later in the app's life: the user signs in; ManagedPush registers with it."""
        self.client = Client(self.server_url, user_token, push=self.push)
        return self.client

    async def close(self) -> None:
        for session in self.sessions.values():
            await session.close()
        for task in list(self._tasks):
            task.cancel()
        if self.client is not None:
            await self.client.close()
        await self.push.close()

    # -- PushKit ------------------------------------------------------------------------

    def _on_push(self, push: IncomingPush) -> None:
        if push.push_type is not PushType.VOIP or not self.report_calls:
            return
        call = push.call
        callkit = self.device.callkit
        if call is None:  # still must be reported: report, then end it
            stray = uuid.uuid4()
            callkit.report_new_incoming_call(stray, "unknown")
            callkit.report_call_ended(stray, CallEndedReason.FAILED)
            return
        error = callkit.report_new_incoming_call(call.uuid, call.handle, video=call.video)
        if error is not None:  # the same call twice (a resent push): already ringing
            return
        ring = Ring(call, time.time() * 1000 - call.sent_at_ms)
        self.rings.append(ring)
        self._say(f"ringing: {call.handle} calling (push took {ring.latency_ms:.0f} ms)")
        if self.client is not None:
            self.sessions[call.uuid] = self.client.follow(call, self._call_ended)

    def _call_ended(self, ended: CallEnded) -> None:
        self.ended.append(ended)
        if not ended.here:  # CallKit ignores a call it does not show
            reason = _CALLKIT_REASONS[ended.outcome]
            self.device.callkit.report_call_ended(call_uuid(ended.call_id), reason)
            who = f" on {ended.device_id}" if ended.device_id else ""
            self._say(f"stopped ringing: {ended.outcome.value}{who} (call event, no push)")

    # -- CallKit actions ----------------------------------------------------------------

    def _user_answered(self, call_uuid: uuid.UUID) -> None:
        self._act(call_uuid, "answer")

    def _user_declined(self, call_uuid: uuid.UUID) -> None:
        self._act(call_uuid, "decline")

    def _act(self, call_uuid: uuid.UUID, action: str) -> None:
        session = self.sessions.get(call_uuid)
        if session is None:
            return

        async def send() -> None:
            try:
                await (session.answer() if action == "answer" else session.decline())
                self._say(f"{action}ed")
            except RingpushError as exc:
                self._say(f"{action} refused: {exc}")
                self.device.callkit.report_call_ended(call_uuid, CallEndedReason.FAILED)

        task = asyncio.get_running_loop().create_task(send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settled(self) -> None:
        """Until pending answer/decline requests are done."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
