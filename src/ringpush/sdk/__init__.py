"""The client SDK: what an app on a phone uses to reach ringpush (over HTTP only).

- :class:`ManagedPush`: created once, early; gets push tokens and registers them with
  every :class:`Client`.
- :class:`Client`: one signed-in user: register tokens, follow calls, answer, decline.
- :class:`IncomingCall`: built from a VoIP push, everything CallKit needs at once.
- :class:`CallSession`: tells the app when a ringing call was answered elsewhere,
  declined, canceled or timed out (never by another VoIP push).
- :class:`BlockingClient`: the same calls without an event loop.
"""

from ringpush.sdk.call_session import CallEnded, CallOutcome, CallSession
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
    "DatabaseUnavailable",
    "DeviceTokenUnavailable",
    "Forbidden",
    "IncomingCall",
    "IncomingPush",
    "InvalidRequest",
    "InvalidToken",
    "ManagedPush",
    "NotACallPush",
    "NotFound",
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
