"""Simulated iOS devices: an installed app, its push tokens, and the iOS 13 VoIP rule.

A :class:`SimulatedDevice` stands in for PushKit (and the UserNotifications token) on one
phone: the app sets the push types it wants (:meth:`SimulatedDevice.register`, PushKit's
``desiredPushTypes``), gets one sandbox-issued token per type through its delegate, and
receives the pushes the sandbox accepts for those tokens. Like iOS 13 and later, every
VoIP push must be reported to CallKit before the app's handler returns (or within
``report_deadline`` seconds when one is set); each miss is recorded, and after
``max_report_failures`` misses VoIP pushes are no longer delivered to this install, with
the reason in :attr:`SimulatedDevice.voip_blocked_reason`. APNs itself still answers 200
then, as it does for a real phone: only the device knows.

Uninstalling makes every token answer 410 with the uninstall time; reinstalling starts a
new install with new tokens. The devices run on the sandbox's event loop: a push is
handed to the app on a later loop turn, never inside the HTTP/2 handler.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from ringpush.apns.device_token import mask_device_token
from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.sandbox.callkit import CallKit
from ringpush.sandbox.records import NotificationRecord
from ringpush.sandbox.tokens import TokenRegistry

log = logging.getLogger(__name__)

#: iOS's threshold is unpublished (docs/apns.md §7); ours, configurable per device.
DEFAULT_MAX_REPORT_FAILURES = 3


class PushRegistryDelegate(Protocol):
    """What the app gives PushKit: ``PKPushRegistryDelegate``."""

    def did_update_token(self, push_type: PushType, token: str) -> None: ...

    def did_invalidate_token(self, push_type: PushType) -> None: ...

    def did_receive_push(self, push_type: PushType, payload: dict[str, Any]) -> None: ...


@dataclass(slots=True)
class DeliveredPush:
    """A push that reached the phone; ``dropped`` says why the app never saw it."""

    apns_id: str
    push_type: PushType
    payload: dict[str, Any]
    received_at: float
    dropped: str | None = None
    #: VoIP only: reported to CallKit in time (None while the deadline runs).
    reported: bool | None = None

    @property
    def delivered(self) -> bool:
        return self.dropped is None


@dataclass(frozen=True, slots=True)
class ReportFailure:
    apns_id: str
    at: float
    reason: str


def _later(callback: Callable[..., object], *args: object) -> None:
    """Run on a later loop turn, like iOS calling a delegate; at once without a loop."""
    try:
        asyncio.get_running_loop().call_soon(callback, *args)
    except RuntimeError:
        callback(*args)


class SimulatedDevice:
    def __init__(
        self,
        directory: DeviceDirectory,
        name: str,
        bundle_id: str,
        environment: Environment,
        *,
        report_deadline: float = 0.0,
        max_report_failures: int = DEFAULT_MAX_REPORT_FAILURES,
    ) -> None:
        if report_deadline < 0 or max_report_failures < 1:
            raise ValueError("report_deadline must be >= 0 and max_report_failures >= 1")
        self._directory = directory
        self.name = name
        self.bundle_id = bundle_id
        self.environment = environment
        self.report_deadline = report_deadline
        self.max_report_failures = max_report_failures
        self.install_id = ""
        self.installed = False
        self.tokens: dict[PushType, str] = {}
        self.received: list[DeliveredPush] = []
        self.report_failures: list[ReportFailure] = []
        self.voip_blocked_reason: str | None = None
        self.callkit = CallKit(directory.clock, self._reported)
        self._delegate: PushRegistryDelegate | None = None
        self._awaiting_report: list[DeliveredPush] = []
        self.reinstall()

    def __repr__(self) -> str:
        state = "installed" if self.installed else "uninstalled"
        return f"<SimulatedDevice {self.name} {self.bundle_id} {self.environment.value} {state}>"

    # -- PushKit, as the app sees it --------------------------------------------------

    def register(self, push_types: Iterable[PushType], delegate: PushRegistryDelegate) -> None:
        """Set the desired push types (this starts registration, as in PushKit).

        Tokens arrive through ``delegate.did_update_token`` on a later loop turn; a type
        no longer desired loses its token (``did_invalidate_token``).
        """
        if not self.installed:
            raise RuntimeError(f"{self.name}: the app is not installed")
        wanted = frozenset(push_types)
        self._delegate = delegate
        for push_type in set(self.tokens) - wanted:
            self._directory.retire(self.tokens.pop(push_type))
            _later(delegate.did_invalidate_token, push_type)
        for push_type in sorted(wanted):
            token = self.tokens.get(push_type)
            if token is None:
                token = self.tokens[push_type] = self._directory.issue(self, push_type)
            _later(delegate.did_update_token, push_type, token)

    # -- what happens to the phone ----------------------------------------------------

    def rotate_token(self, push_type: PushType) -> str:
        """The system hands the app a new token; the old one answers 410 from now on."""
        old = self._token_of(push_type)
        self._directory.retire(old)
        token = self.tokens[push_type] = self._directory.issue(self, push_type)
        if self._delegate is not None:
            _later(self._delegate.did_update_token, push_type, token)
        return token

    def invalidate_token(self, push_type: PushType) -> None:
        """PushKit invalidates a token (``didInvalidatePushTokenFor``)."""
        token = self._token_of(push_type)
        del self.tokens[push_type]
        self._directory.retire(token)
        if self._delegate is not None:
            _later(self._delegate.did_invalidate_token, push_type)

    def uninstall(self) -> int:
        """Remove the app: every token answers 410 with this time (ms), which is returned."""
        at_ms = int(self._directory.clock() * 1000)
        for token in self.tokens.values():
            self._directory.retire(token, at_ms)
        self.tokens.clear()
        self.installed = False
        self._delegate = None
        self._awaiting_report.clear()
        self.callkit.clear()
        return at_ms

    def reinstall(self) -> None:
        """A fresh install: new install id, no tokens until the app registers, and VoIP
        delivery restored (iOS forgives a reinstalled app)."""
        if self.installed:
            self.uninstall()
        self.install_id = f"{self.name}-{uuid.uuid4().hex[:8]}"
        self.installed = True
        self.report_failures.clear()
        self.voip_blocked_reason = None

    def _token_of(self, push_type: PushType) -> str:
        try:
            return self.tokens[push_type]
        except KeyError:
            raise LookupError(f"{self.name} has no {push_type.value} token") from None

    # -- pushes -------------------------------------------------------------------------

    def receive(self, record: NotificationRecord) -> None:
        """A push the sandbox accepted for one of this device's tokens."""
        push = DeliveredPush(
            record.apns_id, record.push_type, record.payload, self._directory.clock()
        )
        self.received.append(push)
        delegate = self._delegate
        if record.push_type is not PushType.VOIP:
            if delegate is not None:
                delegate.did_receive_push(record.push_type, push.payload)
            return
        if self.voip_blocked_reason is not None:
            push.dropped = self.voip_blocked_reason
            return
        if delegate is None:
            push.dropped = "the app has no PushKit delegate"
            return
        self._awaiting_report.append(push)
        try:
            delegate.did_receive_push(PushType.VOIP, push.payload)
        except Exception as exc:  # the app crashed in its handler
            log.warning("%s: the app's VoIP push handler raised %r", self.name, exc)
        if self.report_deadline:
            asyncio.get_running_loop().call_later(self.report_deadline, self._check_report, push)
        else:
            self._check_report(push)

    def _reported(self) -> None:
        """CallKit got a report: it answers the oldest VoIP push still waiting for one."""
        if self._awaiting_report:
            self._awaiting_report.pop(0).reported = True

    def _check_report(self, push: DeliveredPush) -> None:
        if push.reported or push not in self._awaiting_report:
            return
        self._awaiting_report.remove(push)
        push.reported = False
        when = (
            f"within {self.report_deadline:g} s"
            if self.report_deadline
            else "before its handler returned"
        )
        self.report_failures.append(
            ReportFailure(
                push.apns_id,
                push.received_at,
                f"VoIP push {push.apns_id} was not reported to CallKit {when};"
                " iOS terminates the app",
            )
        )
        failures = len(self.report_failures)
        log.warning("%s: %s", self.name, self.report_failures[-1].reason)
        if failures >= self.max_report_failures and self.voip_blocked_reason is None:
            self.voip_blocked_reason = (
                f"VoIP pushes are no longer delivered: the app failed to report {failures}"
                f" VoIP pushes to CallKit (last: {push.apns_id}); reinstall to recover"
            )
            log.warning("%s: %s", self.name, self.voip_blocked_reason)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "install_id": self.install_id,
            "bundle_id": self.bundle_id,
            "environment": self.environment.value,
            "installed": self.installed,
            "tokens": {t.value: mask_device_token(v) for t, v in self.tokens.items()},
            "received": len(self.received),
            "dropped": sum(1 for p in self.received if not p.delivered),
            "report_failures": [f.reason for f in self.report_failures],
            "voip_blocked_reason": self.voip_blocked_reason,
            "ringing": [str(c.uuid) for c in self.callkit.ringing()],
        }


class DeviceDirectory:
    """The sandbox's simulated devices and which token belongs to which."""

    def __init__(self, tokens: TokenRegistry, clock: Callable[[], float]) -> None:
        self._tokens = tokens
        self.clock = clock
        self._by_token: dict[str, SimulatedDevice] = {}
        self.devices: dict[str, SimulatedDevice] = {}

    def create(
        self,
        name: str,
        bundle_id: str,
        environment: Environment,
        *,
        report_deadline: float = 0.0,
        max_report_failures: int = DEFAULT_MAX_REPORT_FAILURES,
    ) -> SimulatedDevice:
        if name in self.devices:
            raise ValueError(f"a device named {name!r} exists")
        device = SimulatedDevice(
            self,
            name,
            bundle_id,
            environment,
            report_deadline=report_deadline,
            max_report_failures=max_report_failures,
        )
        self.devices[name] = device
        return device

    def issue(self, device: SimulatedDevice, push_type: PushType) -> str:
        token = self._tokens.issue(device.bundle_id, push_type, device.environment)
        self._by_token[token] = device
        return token

    def retire(self, token: str, at_ms: int | None = None) -> None:
        """The token is dead: APNs answers 410 with ``at_ms`` (now if not given)."""
        self._tokens.uninstall(token, at_ms if at_ms is not None else int(self.clock() * 1000))
        self._by_token.pop(token, None)

    def accepted(self, record: NotificationRecord) -> None:
        """Hand an accepted push to its device on a later loop turn."""
        device = self._by_token.get(record.token)
        if device is not None:
            _later(device.receive, record)

    def all(self) -> Collection[SimulatedDevice]:
        return self.devices.values()
