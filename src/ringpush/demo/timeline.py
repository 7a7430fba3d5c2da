"""The demo's output: what happened, when (ms since start) and on which device, with a
check mark for every claim the demo verified. A failed check ends the demo."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape

#: How often a step's condition is looked at while the demo waits for it.
POLL_SECONDS = 0.005


class DemoFailed(Exception):
    pass


class Timeline:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._start = time.monotonic()
        self.checks = 0

    def _at(self) -> str:
        return f"[dim]{(time.monotonic() - self._start) * 1000:7.0f} ms[/dim]"

    def _print(self, text: str) -> None:
        self.console.print(text, soft_wrap=True)

    def step(self, title: str) -> None:
        self.console.print()
        self._print(f"[bold cyan]{escape(title)}[/bold cyan]")

    def event(self, actor: str, text: str) -> None:
        self._print(f"{self._at()}  [bold]{escape(actor):<13}[/bold] {escape(text)}")

    def check(self, ok: bool, text: str) -> None:
        """A claim the demo makes; a false one fails the demo."""
        if not ok:
            self._print(f"{self._at()}  [bold red]✗ {escape(text)}[/bold red]")
            raise DemoFailed(text)
        self.checks += 1
        self._print(f"{self._at()}  [green]✓ {escape(text)}[/green]")

    async def wait_for(self, condition: Callable[[], bool], text: str, seconds: float) -> None:
        """Check ``text`` once ``condition`` holds; fail if it does not within ``seconds``."""
        deadline = time.monotonic() + seconds
        # Polling: the phones' state (CallKit, sessions) has no single event to await.
        while not condition():
            if time.monotonic() > deadline:
                self.check(False, f"{text} (not within {seconds:g} s)")
            await asyncio.sleep(POLL_SECONDS)
        self.check(True, text)
