"""A faithful local APNs: HTTP/2 over TLS, APNs's checks and answers, faults, records.

Use :class:`Sandbox` in-process (``async with Sandbox(keys) as sandbox``) or run it in
the foreground with :func:`serve_forever` (what ``ringpush sandbox`` does).
"""

from ringpush.sandbox.auth import ClientIdentity, ConnectionAuth
from ringpush.sandbox.callkit import CallEndedReason, CallKit, CallKitCall, CallKitState
from ringpush.sandbox.certificates import IssuedCertificate
from ringpush.sandbox.devices import (
    DeliveredPush,
    PushRegistryDelegate,
    ReportFailure,
    SimulatedDevice,
)
from ringpush.sandbox.faults import FaultError, Faults
from ringpush.sandbox.keys import SandboxKey, parse_key_spec
from ringpush.sandbox.records import NotificationRecord, Stats
from ringpush.sandbox.rejected import Rejected
from ringpush.sandbox.runner import serve_forever
from ringpush.sandbox.sandbox import DEFAULT_MAX_CONCURRENT_STREAMS, Sandbox
from ringpush.sandbox.validation import PushValidator, ValidPush

__all__ = [
    "DEFAULT_MAX_CONCURRENT_STREAMS",
    "CallEndedReason",
    "CallKit",
    "CallKitCall",
    "CallKitState",
    "ClientIdentity",
    "ConnectionAuth",
    "DeliveredPush",
    "FaultError",
    "Faults",
    "IssuedCertificate",
    "NotificationRecord",
    "PushRegistryDelegate",
    "PushValidator",
    "Rejected",
    "ReportFailure",
    "Sandbox",
    "SandboxKey",
    "SimulatedDevice",
    "Stats",
    "ValidPush",
    "parse_key_spec",
    "serve_forever",
]
