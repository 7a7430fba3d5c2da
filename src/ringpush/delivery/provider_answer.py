"""What the delivery engine reads of a push service's answer, whichever service gave it.

An APNs answer (:class:`~ringpush.apns.result.ApnsResult`) and an FCM one
(:class:`~ringpush.fcm.answer.FcmResult`) both have these; the lanes, circuit breakers
and the recorder use only them, and :mod:`ringpush.delivery.classify` reads what is
particular to each (APNs's 410 timestamp, FCM's ``Retry-After``).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from ringpush.actions import Action
from ringpush.apns.transport import TransportFailure


class ProviderAnswer(Protocol):
    @property
    def status(self) -> int:
        """The HTTP status; 0 when no answer came."""

    @property
    def sent(self) -> bool: ...

    @property
    def action(self) -> Action: ...

    @property
    def failure(self) -> TransportFailure | None:
        """Why no answer came, when the transport is to blame."""

    @property
    def error(self) -> str | None:
        """Why no answer came, in words."""

    @property
    def reason_text(self) -> str | None:
        """The service's reason (APNs's ``reason``, FCM's error code)."""

    @property
    def reason_label(self) -> str:
        """A short, never empty name of the outcome, for metrics and logs."""


class LaneClient(Protocol):
    """What a lane sends through: one app's connections to one push service."""

    def send_request(self, request: Any, *, urgent: bool = False) -> asyncio.Future[Any]:
        """Send an encoded request; the future's result is a :class:`ProviderAnswer`."""
