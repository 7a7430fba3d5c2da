"""A simulated Android phone with one app: its FCM token, its connectivity, Doze, and
the high-priority rule (docs/fcm.md §6).

- **Token**: installing issues one; the app learns it through
  ``FirebaseMessagingService.on_new_token`` when it starts (:meth:`AndroidDevice.start`)
  and on every refresh. :meth:`AndroidDevice.refresh_token` ends the old token and
  :meth:`AndroidDevice.uninstall` ends the current one: sends to an ended token get
  ``404 UNREGISTERED``.
- **Reachability**: online and awake, every message is delivered at once. Dozing (the
  default: a phone waiting for a call lies idle, screen off), only high-priority
  messages are; normal ones wait ``doze_delay`` seconds for a maintenance window.
  Offline, messages are held until the device is back, unless their ttl runs out first
  (then they are dropped) or is 0 (dropped at once: "now or never"); see
  :mod:`ringpush.sandbox.fcm.held` for collapsing and the store's limit.
- **Deprioritization**: a high-priority message must lead to a user-visible
  notification (:meth:`AndroidDevice.post_notification`, e.g. the incoming call's
  full-screen one; a message with a ``notification`` counts by itself) within
  ``notification_deadline`` seconds (0: before ``on_message_received`` returns).
  Misses go to a :class:`~ringpush.sandbox.fcm.deprioritization.NotificationLedger`;
  once it says so, high-priority messages arrive as normal priority (late, while
  dozing) and the device's state says so.

Time is the sandbox's clock. What is due later is also delivered whenever
:meth:`AndroidDevice.deliver_due` is called (see :mod:`ringpush.sandbox.fcm.timers`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from ringpush.apns.device_token import mask_device_token
from ringpush.sandbox.fcm.deprioritization import DEFAULT_MAX_MISSES, NotificationLedger
from ringpush.sandbox.fcm.held import HeldMessages
from ringpush.sandbox.fcm.records import MessageRecord
from ringpush.sandbox.fcm.registrations import EndReason
from ringpush.sandbox.fcm.remote_message import (
    Fate,
    FirebaseMessagingService,
    Priority,
    RemoteMessage,
)
from ringpush.sandbox.fcm.timers import Timers, later

log = logging.getLogger(__name__)

#: The 2017 guarantee for ``onMessageReceived`` on Android O (§6: "several seconds" now).
DEFAULT_NOTIFICATION_DEADLINE = 10.0
#: Seconds to the next Doze maintenance window (Android's first windows come about every
#: 15 minutes, later ones less often).
DEFAULT_DOZE_DELAY = 900.0


class DeviceOwner(Protocol):
    """What a device needs from the sandbox: the clock and its token registry."""

    clock: Callable[[], float]

    def issue(self, device: AndroidDevice) -> str: ...

    def end(self, token: str, reason: EndReason) -> None: ...


class AndroidDevice:
    def __init__(
        self,
        owner: DeviceOwner,
        name: str,
        package: str,
        project_id: str,
        *,
        online: bool = True,
        dozing: bool = True,
        notification_deadline: float = DEFAULT_NOTIFICATION_DEADLINE,
        max_misses: int = DEFAULT_MAX_MISSES,
        doze_delay: float = DEFAULT_DOZE_DELAY,
    ) -> None:
        if notification_deadline < 0 or doze_delay < 0:
            raise ValueError("notification_deadline and doze_delay must be >= 0")
        self._owner = owner
        self.name = name
        self.package = package
        self.project_id = project_id
        self.online = online
        self.dozing = dozing
        self.notification_deadline = notification_deadline
        self.doze_delay = doze_delay
        self.ledger = NotificationLedger(max_misses)
        self.messages: list[RemoteMessage] = []
        self.notifications_posted = 0
        self.installed = False
        self.instance_id = ""
        self.token: str | None = None
        self._service: FirebaseMessagingService | None = None
        self._held = HeldMessages()
        self._awaiting: list[RemoteMessage] = []
        self._deleted_pending = False
        self._timers = Timers()
        self.install()

    def __repr__(self) -> str:
        state = "installed" if self.installed else "uninstalled"
        return f"<AndroidDevice {self.name} {self.package} {state}>"

    # -- the app's life ---------------------------------------------------------------

    def install(self) -> str:
        """A fresh app instance with a new token and a clean ledger."""
        if self.installed:
            raise RuntimeError(f"{self.name}: {self.package} is already installed")
        self.instance_id = f"{self.name}-{uuid.uuid4().hex[:8]}"
        self.installed = True
        self.ledger.clear()
        self.token = self._owner.issue(self)
        return self.token

    def start(self, service: FirebaseMessagingService) -> None:
        """The app starts: its messaging service gets the token (``onNewToken``)."""
        self._require_installed()
        self._service = service
        later(service.on_new_token, self.token)

    def refresh_token(self) -> str:
        """The SDK rotates the token: the old one is UNREGISTERED from now on."""
        self._require_installed()
        assert self.token is not None
        self._owner.end(self.token, EndReason.REFRESHED)
        self.token = self._owner.issue(self)
        if self._service is not None:
            later(self._service.on_new_token, self.token)
        return self.token

    def uninstall(self) -> None:
        """Remove the app: its token is UNREGISTERED, held messages are gone."""
        self._require_installed()
        assert self.token is not None
        self._owner.end(self.token, EndReason.UNINSTALLED)
        self._held.drop_all(Fate.DROPPED_UNINSTALLED)
        self._awaiting.clear()
        self._service = None
        self.installed = False
        self.token = None

    def reinstall(self) -> str:
        if self.installed:
            self.uninstall()
        return self.install()

    def _require_installed(self) -> None:
        if not self.installed:
            raise RuntimeError(f"{self.name}: {self.package} is not installed")

    # -- the phone's state --------------------------------------------------------------

    def set_state(self, *, online: bool | None = None, dozing: bool | None = None) -> None:
        """Change connectivity or Doze; what became deliverable is delivered."""
        if online is not None:
            self.online = online
        if dozing is not None:
            self.dozing = dozing
        self.deliver_due()

    @property
    def deprioritized(self) -> bool:
        return self.ledger.deprioritized(self._owner.clock())

    def post_notification(self, *, full_screen: bool = True) -> RemoteMessage | None:
        """The app shows a notification: it answers the oldest high-priority message
        still waiting for one (which is returned; None if none waits)."""
        self.notifications_posted += 1
        if not self._awaiting:
            return None
        message = self._awaiting.pop(0)
        message.notification_shown = True
        message.full_screen = full_screen
        return message

    # -- messages -------------------------------------------------------------------------

    def receive(self, record: MessageRecord) -> RemoteMessage:
        """A message FCM accepted for this device's token."""
        now = self._owner.clock()
        message = RemoteMessage.accepted(
            record.name, record.message, now, deprioritized=self.ledger.deprioritized(now)
        )
        self.messages.append(message)
        if message.deprioritized:
            log.info("%s: %s arrives as normal priority (deprioritized)", self.name, record)
        if self._reachable(message, now):
            later(self._deliver, message)
        elif message.ttl == 0:
            message.fate = Fate.DROPPED_TTL_ZERO
        else:
            self._hold(message, now)
        return message

    def _reachable(self, message: RemoteMessage, now: float) -> bool:
        if not (self.online and self.installed):
            return False
        if message.priority is Priority.HIGH or not self.dozing:
            return True
        return message.due_at is not None and now >= message.due_at

    def _hold(self, message: RemoteMessage, now: float) -> None:
        if self._held.hold(message):
            self._deleted_pending = True
        self._wait_for_window(message, now)

    def _wait_for_window(self, message: RemoteMessage, now: float) -> None:
        """Online but dozing: the next maintenance window delivers a normal message."""
        if self.online and self.dozing and message.due_at is None:
            message.due_at = now + self.doze_delay
            self._timers.after(self.doze_delay, self.deliver_due)

    def deliver_due(self) -> None:
        """Deliver what is deliverable by now, drop what expired, judge notification
        deadlines that have passed."""
        now = self._owner.clock()
        for message in self._held.take_due(now, lambda m: self._reachable(m, now)):
            self._deliver(message)
        for message in self._held:
            self._wait_for_window(message, now)
        if self._deleted_pending and self.online and self._service is not None:
            self._deleted_pending = False
            later(self._service.on_deleted_messages)
        for message in list(self._awaiting):
            assert message.delivered_at is not None
            if now >= message.delivered_at + self.notification_deadline:
                self._miss(message, now)

    def _deliver(self, message: RemoteMessage) -> None:
        if message.fate is not Fate.PENDING:
            return
        if not self.installed:  # uninstalled between acceptance and delivery
            message.fate = Fate.DROPPED_UNINSTALLED
            return
        message.fate = Fate.DELIVERED
        message.delivered_at = self._owner.clock()
        if message.priority is Priority.HIGH:
            if message.has_notification:
                message.notification_shown = True  # the system shows it, no app code
            else:
                self._awaiting.append(message)
        if self._service is not None:
            try:
                self._service.on_message_received(message)
            except Exception as exc:  # the app crashed in its handler
                log.warning("%s: on_message_received raised %r", self.name, exc)
        if message in self._awaiting:
            if self.notification_deadline:
                self._timers.after(self.notification_deadline, self.deliver_due)
            else:
                self._miss(message, message.delivered_at)

    def _miss(self, message: RemoteMessage, now: float) -> None:
        self._awaiting.remove(message)
        message.notification_shown = False
        was = self.ledger.deprioritized(now)
        self.ledger.record_miss(now)
        if not was and self.ledger.deprioritized(now):
            log.warning(
                "%s: %d high-priority messages without a notification in 7 days; further"
                " ones arrive as normal priority",
                self.name,
                self.ledger.misses(now),
            )

    def close(self) -> None:
        """Cancel the scheduled deliveries (the sandbox stops)."""
        self._timers.cancel()

    def to_json(self) -> dict[str, Any]:
        now = self._owner.clock()
        return {
            "name": self.name,
            "package": self.package,
            "project_id": self.project_id,
            "instance_id": self.instance_id,
            "installed": self.installed,
            "token": mask_device_token(self.token) if self.token else None,
            "online": self.online,
            "dozing": self.dozing,
            "deprioritized": self.ledger.deprioritized(now),
            "misses_in_window": self.ledger.misses(now),
            "max_misses": self.ledger.max_misses,
            "notification_deadline": self.notification_deadline,
            "doze_delay": self.doze_delay,
            "notifications_posted": self.notifications_posted,
            "received": len(self.messages),
            "delivered": sum(1 for m in self.messages if m.fate is Fate.DELIVERED),
            "pending": len(self._held),
            "deprioritized_messages": sum(1 for m in self.messages if m.deprioritized),
            "messages": [m.to_json() for m in self.messages[-20:]],
        }
