"""Following one incoming call after the phone rang: how the app learns it is over.

ringpush never sends a second VoIP push to stop a call (iOS would show it as a new
call), so a ringing device learns that the call was answered elsewhere, declined,
canceled or timed out from the call's event stream. The session keeps that stream open
(reconnecting, since the first event is always the current state, nothing is missed)
until the call is no longer ringing, then tells the app once. A push can say so first
(Android is told every end of a call, an iPhone not following the events a background
or alert push): :meth:`CallSession.end_by_push` ends the session then, and whichever
came second finds nothing left to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from ringpush.backoff import retry_delay
from ringpush.sdk.errors import ApiError, RingpushError
from ringpush.sdk.incoming import IncomingCall
from ringpush.sdk.outcomes import CallEnded, CallOutcome, outcome_of

if TYPE_CHECKING:
    from ringpush.sdk.client import Client

__all__ = ["CallEnded", "CallOutcome", "CallSession", "outcome_of"]

log = logging.getLogger(__name__)

#: The first wait before reconnecting a dropped event stream, and the longest (it
#: doubles, with jitter, while the stream keeps dropping).
RECONNECT_BASE_SECONDS = 0.2
RECONNECT_MAX_SECONDS = 5.0


class CallSession:
    """Created by :meth:`Client.follow` from the push handler; runs in the background."""

    def __init__(
        self,
        client: Client,
        call: IncomingCall,
        on_ended: Callable[[CallEnded], None] | None = None,
    ) -> None:
        self.client = client
        self.call = call
        self.on_ended = on_ended
        self.connected = asyncio.Event()
        self._ended: asyncio.Future[CallEnded] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._follow(), name=f"call-{call.call_id}")

    @property
    def result(self) -> CallEnded | None:
        """How the call ended, once it has."""
        return self._ended.result() if self._ended.done() else None

    async def wait_ended(self) -> CallEnded:
        """How the call ended (bound it with ``asyncio.timeout``)."""
        return await asyncio.shield(self._ended)

    async def answer(self) -> None:
        """The user answered here (CallKit's answer action). Raises CallNotRinging if
        another device won or the call is over."""
        await self.client.answer(self.call.call_id)

    async def decline(self) -> None:
        """The user declined here: the call ends on every device."""
        await self.client.decline(self.call.call_id)

    def when_done(self, callback: Callable[[CallSession], None]) -> None:
        """Call ``callback(self)`` once the session stops following (ended or closed)."""
        self._task.add_done_callback(lambda _task: callback(self))

    def end_by_push(self, ended: CallEnded) -> None:
        """A push said the call is over before its events did (a stream still
        connecting, or one that dropped): tell the app now and stop following."""
        self._finish(ended)
        self._task.cancel()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _follow(self) -> None:
        failures = 0
        while not self._ended.done():
            try:
                async for event in self.client.events(self.call.call_id):
                    self.connected.set()
                    failures = 0
                    ended = outcome_of(event, self.client.device_id)
                    if ended is not None:
                        self._finish(ended)
                        return
            except ApiError as exc:  # refused for good: retrying will not help
                log.warning("call %s: event stream refused: %s", self.call.call_id, exc)
                self._finish(CallEnded(self.call.call_id, CallOutcome.LOST, None))
                return
            except (httpx.TransportError, RingpushError) as exc:
                log.info("call %s: event stream dropped (%s); reconnecting", self.call.call_id, exc)
            failures += 1
            await asyncio.sleep(
                retry_delay(failures, base=RECONNECT_BASE_SECONDS, cap=RECONNECT_MAX_SECONDS)
            )

    def _finish(self, ended: CallEnded) -> None:
        if self._ended.done():
            return
        self._ended.set_result(ended)
        if self.on_ended is not None:
            try:
                self.on_ended(ended)
            except Exception:
                log.exception("call %s: the app's on_ended callback raised", self.call.call_id)
