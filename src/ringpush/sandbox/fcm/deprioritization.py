"""Android's high-priority rule, as a ledger of misses (docs/fcm.md §6).

FCM expects every high-priority message to lead to a user-visible notification; when
an app instance shows a pattern of them without one, judged over the last 7 days,
further high-priority messages are treated as normal (delivered late while the device
dozes). Google publishes no threshold, so the model is ours and configurable: a
high-priority message that reached the app and led to no notification within its
deadline is a *miss*; with ``max_misses`` or more misses in the last
``window_seconds`` of simulated time the instance is deprioritized. Misses age out of
the window, so an app that behaves again recovers; notifications shown do not cancel
earlier misses. A reinstall is a new app instance and starts a clean ledger.
"""

from __future__ import annotations

from collections import deque

#: The window FCM judges an app instance over (§6).
WINDOW_SECONDS = 7 * 24 * 3600.0
#: Our threshold (FCM's is unpublished), the same default as the APNs sandbox's rule for
#: unreported VoIP pushes.
DEFAULT_MAX_MISSES = 3


class NotificationLedger:
    """Misses of one app instance, by the time they were judged."""

    def __init__(
        self, max_misses: int = DEFAULT_MAX_MISSES, window_seconds: float = WINDOW_SECONDS
    ) -> None:
        if max_misses < 1 or window_seconds <= 0:
            raise ValueError("max_misses must be >= 1 and window_seconds > 0")
        self.max_misses = max_misses
        self.window_seconds = window_seconds
        self._misses: deque[float] = deque()

    def record_miss(self, at: float) -> None:
        self._misses.append(at)

    def misses(self, now: float) -> int:
        """Misses within the window ending ``now``."""
        while self._misses and self._misses[0] <= now - self.window_seconds:
            self._misses.popleft()
        return len(self._misses)

    def deprioritized(self, now: float) -> bool:
        return self.misses(now) >= self.max_misses

    def clear(self) -> None:
        self._misses.clear()
