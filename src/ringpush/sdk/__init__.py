"""The client SDK: what an app on a phone uses to reach ringpush (over HTTP only).

- :class:`ManagedPush`: created once, early; gets push tokens (PushKit's, or on Android
  FirebaseMessaging's: :meth:`ManagedPush.fcm`) and registers them with every
  :class:`Client`.
- :class:`Client`: one signed-in user: register tokens, follow calls, answer, decline.
- :class:`IncomingCall`: built from a VoIP push or an FCM message, everything CallKit or
  the ringing notification needs at once.
- :class:`Notice`: on Android, the notification the app must show for a high-priority
  message before its handler returns.
- :class:`CallSession`: tells the app when a ringing call was answered elsewhere,
  declined, canceled or timed out (never by another VoIP push).
- :class:`BlockingClient`: the same calls without an event loop.
"""

from ringpush.sdk.android import (
    DataMessage,
    FcmDelegate,
    FcmTokenSource,
    MessagePriority,
    Notice,
    NoticeKind,
)
from ringpush.sdk.call_session import CallSession
from ringpush.sdk.client import Client, Registration
from ringpush.sdk.environment import ApsEnvironment, BuildConfiguration, resolve_environment
from ringpush.sdk.errors import (
    ApiError,
    CallNotRinging,
    DatabaseUnavailable,
    DeviceTokenUnavailable,
    Forbidden,
    InvalidRequest,
    InvalidToken,
    NotFound,
    RateLimited,
    RingpushError,
    ServerUnavailable,
    TooManyDevices,
    TooManyStreams,
    Unauthorized,
    UnknownCall,
    UnknownDevice,
)
from ringpush.sdk.incoming import IncomingCall, IncomingPush, NotACallPush
from ringpush.sdk.managed_push import ManagedPush, TokenSource
from ringpush.sdk.outcomes import CallEnded, CallOutcome
from ringpush.sdk.sync import BlockingClient

__all__ = [
    "ApiError",
    "ApsEnvironment",
    "BlockingClient",
    "BuildConfiguration",
    "CallEnded",
    "CallNotRinging",
    "CallOutcome",
    "CallSession",
    "Client",
    "DataMessage",
    "DatabaseUnavailable",
    "DeviceTokenUnavailable",
    "FcmDelegate",
    "FcmTokenSource",
    "Forbidden",
    "IncomingCall",
    "IncomingPush",
    "InvalidRequest",
    "InvalidToken",
    "ManagedPush",
    "MessagePriority",
    "NotACallPush",
    "NotFound",
    "Notice",
    "NoticeKind",
    "RateLimited",
    "Registration",
    "RingpushError",
    "ServerUnavailable",
    "TokenSource",
    "TooManyDevices",
    "TooManyStreams",
    "Unauthorized",
    "UnknownCall",
    "UnknownDevice",
    "resolve_environment",
]
