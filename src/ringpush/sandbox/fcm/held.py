"""The messages FCM holds for one device it cannot reach now (docs/fcm.md §5).

Held messages wait for the device to come online (or, dozing, for a maintenance
window), unless their ttl runs out first. A message with a ``collapse_key`` replaces
the held one with the same key: only the newest is delivered. Of non-collapsible ones
FCM keeps at most :data:`MAX_HELD`; one more and it drops them all, and the app is told
(``onDeletedMessages``) when it is next reached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ringpush.sandbox.fcm.remote_message import Fate, RemoteMessage

MAX_HELD = 100


class HeldMessages:
    def __init__(self) -> None:
        self._held: list[RemoteMessage] = []

    def hold(self, message: RemoteMessage) -> bool:
        """Keep ``message``; True when that overflowed the store (everything older was
        dropped)."""
        overflowed = False
        if message.collapse_key is not None:
            for older in self._held:
                if older.collapse_key == message.collapse_key:
                    older.fate = Fate.COLLAPSED
        elif sum(1 for m in self._held if m.collapse_key is None) >= MAX_HELD:
            for older in self._held:
                older.fate = Fate.DROPPED_STORE_FULL
            overflowed = True
        self._held = [m for m in self._held if m.fate is Fate.PENDING]
        self._held.append(message)
        return overflowed

    def take_due(
        self, now: float, reachable: Callable[[RemoteMessage], bool]
    ) -> list[RemoteMessage]:
        """Drop what expired by ``now``; remove and return what is ``reachable``."""
        due: list[RemoteMessage] = []
        kept: list[RemoteMessage] = []
        for message in self._held:
            if now > message.expires_at:
                message.fate = Fate.EXPIRED
            elif reachable(message):
                due.append(message)
            else:
                kept.append(message)
        self._held = kept
        return due

    def drop_all(self, fate: Fate) -> None:
        for message in self._held:
            message.fate = fate
        self._held.clear()

    def __iter__(self) -> Iterator[RemoteMessage]:
        return iter(list(self._held))

    def __len__(self) -> int:
        return len(self._held)
