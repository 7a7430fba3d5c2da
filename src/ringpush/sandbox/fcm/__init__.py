"""A faithful local FCM HTTP v1: the token endpoint, the send endpoint's checks and
answers, rate limits, faults, records and simulated Android devices.

Use :class:`FcmSandbox` in-process (``async with FcmSandbox() as fcm``); mount
:func:`build_fcm_control_app` wherever a JSON control API is wanted.
"""

from ringpush.sandbox.fcm.accounts import AccountKey, ServiceAccountError
from ringpush.sandbox.fcm.android import AndroidDevice
from ringpush.sandbox.fcm.control_api import build_fcm_control_app
from ringpush.sandbox.fcm.deprioritization import NotificationLedger
from ringpush.sandbox.fcm.faults import FcmFaults
from ringpush.sandbox.fcm.records import MessageRecord, Stats
from ringpush.sandbox.fcm.rejection import AccessProblem, FcmRejected
from ringpush.sandbox.fcm.remote_message import (
    Fate,
    FirebaseMessagingService,
    Priority,
    RemoteMessage,
)
from ringpush.sandbox.fcm.sandbox import FcmSandbox, NotRunning

__all__ = [
    "AccessProblem",
    "AccountKey",
    "AndroidDevice",
    "Fate",
    "FcmFaults",
    "FcmRejected",
    "FcmSandbox",
    "FirebaseMessagingService",
    "MessageRecord",
    "NotRunning",
    "NotificationLedger",
    "Priority",
    "RemoteMessage",
    "ServiceAccountError",
    "Stats",
    "build_fcm_control_app",
]
