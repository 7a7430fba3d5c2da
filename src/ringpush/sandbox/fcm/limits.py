"""FCM's send quotas: per device (240 a minute, 5000 an hour) and per project.

Sliding windows (docs/fcm.md §5: the project's minutes are "not
clock-aligned"), counted on the sandbox's clock. A send over any limit is not counted,
and its answer says how long until the oldest counted send leaves the window: the
``Retry-After`` of the 429. A device is an app instance (its token may be refreshed,
the count stays). Only sends that would be delivered count: ``validate_only`` ones
deliver nothing. FCM also counts 4xx answers against the project quota; the sandbox
counts accepted sends only.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

#: (window in seconds, sends allowed in it) for one Android app instance (§5).
DEVICE_LIMITS: tuple[tuple[float, int], ...] = ((60.0, 240), (3600.0, 5000))
#: FCM's default project quota: 600,000 messages a minute (§5).
DEFAULT_PROJECT_PER_MINUTE = 600_000


@dataclass(frozen=True, slots=True)
class Throttled:
    """A send over a limit: what to put in ``QuotaFailure`` and ``Retry-After``."""

    subject: str
    description: str
    retry_after: int


class Window:
    """Send times within the last ``span`` seconds, at most ``limit`` of them."""

    def __init__(self, span: float, limit: int) -> None:
        if span <= 0 or limit < 1:
            raise ValueError("a rate window needs a positive span and limit")
        self.span = span
        self.limit = limit
        self._times: deque[float] = deque()

    def wait(self, now: float) -> float | None:
        """None if one more send fits now, else the seconds until one does."""
        while self._times and self._times[0] <= now - self.span:
            self._times.popleft()
        if len(self._times) < self.limit:
            return None
        return self._times[0] + self.span - now

    def count(self, now: float) -> None:
        self._times.append(now)


def _retry_after(seconds: float) -> int:
    return max(1, math.ceil(seconds))


class RateLimits:
    """The device and project windows; ``project_per_minute`` None means no quota."""

    def __init__(
        self,
        *,
        device_limits: Sequence[tuple[float, int]] = DEVICE_LIMITS,
        project_per_minute: int | None = DEFAULT_PROJECT_PER_MINUTE,
    ) -> None:
        for span, limit in device_limits:
            Window(span, limit)  # fail now, not at the first send
        self.device_limits = tuple(device_limits)
        self.project_per_minute = project_per_minute
        self._devices: dict[str, list[Window]] = {}
        self._projects: dict[str, Window] = {}

    @property
    def project_per_minute(self) -> int | None:
        return self._project_per_minute

    @project_per_minute.setter
    def project_per_minute(self, value: int | None) -> None:
        if value is not None and value < 1:
            raise ValueError("the project quota must be at least 1 a minute (or None)")
        self._project_per_minute = value
        self._projects = {}

    def admit(self, project_id: str, instance_id: str | None, now: float) -> Throttled | None:
        """Count one send, or say which limit it is over (then nothing is counted)."""
        windows: list[tuple[Window, str, str]] = []
        if self._project_per_minute is not None:
            window = self._projects.get(project_id)
            if window is None:
                window = self._projects[project_id] = Window(60.0, self._project_per_minute)
            description = f"Project quota of {self._project_per_minute} messages a minute"
            windows.append((window, f"projects/{project_id}", description))
        if instance_id is not None:
            device = self._devices.get(instance_id)
            if device is None:
                device = self._devices[instance_id] = [
                    Window(span, limit) for span, limit in self.device_limits
                ]
            for window in device:
                description = f"Device message rate of {window.limit} messages in {window.span:g} s"
                windows.append((window, "device", description))
        for window, subject, description in windows:
            wait = window.wait(now)
            if wait is not None:
                return Throttled(subject, f"{description} exceeded", _retry_after(wait))
        for window, _, _ in windows:
            window.count(now)
        return None

    def clear(self) -> None:
        self._devices.clear()
        self._projects.clear()
