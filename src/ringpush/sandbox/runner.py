"""Running a sandbox in the foreground until the user stops it (for the CLI).

A CLI prints its ports and only then calls :func:`serve_forever`; a SIGTERM sent the
moment the ports appear would otherwise hit the default handler and kill the process
with -15. So :class:`TermSignal` is armed by ``Sandbox.start`` already: it remembers
the signal for ``serve_forever``, and if nobody is serving within a second it restores
the default and re-raises, so an in-process user still gets SIGTERM's usual effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ringpush.sandbox.sandbox import Sandbox

#: How long an early SIGTERM waits for serve_forever before it terminates as usual.
UNSERVED_GRACE_SECONDS = 1.0


class TermSignal:
    """SIGTERM captured from ``start`` to ``stop``, when nobody else handles it."""

    def __init__(self) -> None:
        self.received = asyncio.Event()
        self.serving = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def armed(self) -> bool:
        return self._loop is not None

    def arm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, self._on_signal)
            self._loop = loop

    def disarm(self) -> None:
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_signal_handler(signal.SIGTERM)
            self._loop = None

    def _on_signal(self) -> None:
        self.received.set()
        if not self.serving and self._loop is not None:
            self._loop.call_later(UNSERVED_GRACE_SECONDS, self._terminate_if_unserved)

    def _terminate_if_unserved(self) -> None:
        if not self.serving:
            self.disarm()
            signal.raise_signal(signal.SIGTERM)


async def serve_forever(
    sandbox: Sandbox,
    *,
    stop: asyncio.Event | None = None,
    ready: Callable[[], None] | None = None,
) -> None:
    """Return once SIGINT or SIGTERM arrives (or ``stop`` is set); the caller stops it.

    Signals become an event rather than ``KeyboardInterrupt`` so that the caller's
    ``finally: await sandbox.stop()`` runs and the process exits with 0. ``ready`` is
    called once they do (say "Ctrl-C stops it" only then: a Ctrl-C before would still
    be a KeyboardInterrupt).
    """
    event = stop or asyncio.Event()
    term = sandbox.term_signal
    term.serving = True
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, event.set)
            installed.append(sig)
    waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(term.received.wait())]
    if ready is not None:
        ready()
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        for sig in installed:
            loop.remove_signal_handler(sig)
        term.serving = False
