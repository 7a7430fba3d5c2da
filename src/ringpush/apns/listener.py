"""Callbacks that measure the client (metrics, logs); they never drive its logic."""

from __future__ import annotations

from typing import Protocol

from ringpush.apns.result import ApnsResult


class ApnsListener(Protocol):
    def answered(self, result: ApnsResult, seconds: float) -> None:
        """A push got its final answer from APNs, ``seconds`` after it was first written."""

    def connection_opened(self) -> None: ...

    def connection_closed(self) -> None: ...
