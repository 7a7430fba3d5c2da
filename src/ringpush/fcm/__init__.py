"""FCM HTTP v1: message rules, service-account credentials, the OAuth 2.0 token
exchange, error codes and the client (docs/fcm.md).

Typical use::

    async with FcmClient(ServiceAccount.from_file(path)) as client:
        result = await client.send(FcmMessage.for_call(token, {"call_id": "c1"},
                                                       ring_seconds=30))

The package's names load their modules when first used (PEP 562), as in
:mod:`ringpush.apns`, so that importing a light part (the rules, the error codes) does
not load httpx, cryptography or PyJWT.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ringpush.fcm.answer import AuthFailure, FcmResult, parse_answer
    from ringpush.fcm.client import FcmClient
    from ringpush.fcm.error_codes import FcmErrorCode, action_for
    from ringpush.fcm.errors import (
        FcmError,
        InvalidGrant,
        InvalidMessage,
        ServiceAccountError,
        TokenExchangeError,
    )
    from ringpush.fcm.message import AndroidPriority, FcmMessage
    from ringpush.fcm.oauth import AccessToken, AccessTokenCache, AccessTokenStore
    from ringpush.fcm.service_account import ServiceAccount

#: Where each public name lives.
_HOMES = {
    "AccessToken": "ringpush.fcm.oauth",
    "AccessTokenCache": "ringpush.fcm.oauth",
    "AccessTokenStore": "ringpush.fcm.oauth",
    "AndroidPriority": "ringpush.fcm.message",
    "AuthFailure": "ringpush.fcm.answer",
    "FcmClient": "ringpush.fcm.client",
    "FcmError": "ringpush.fcm.errors",
    "FcmErrorCode": "ringpush.fcm.error_codes",
    "FcmMessage": "ringpush.fcm.message",
    "FcmResult": "ringpush.fcm.answer",
    "InvalidGrant": "ringpush.fcm.errors",
    "InvalidMessage": "ringpush.fcm.errors",
    "ServiceAccount": "ringpush.fcm.service_account",
    "ServiceAccountError": "ringpush.fcm.errors",
    "TokenExchangeError": "ringpush.fcm.errors",
    "action_for": "ringpush.fcm.error_codes",
    "parse_answer": "ringpush.fcm.answer",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


__all__ = [
    "AccessToken",
    "AccessTokenCache",
    "AccessTokenStore",
    "AndroidPriority",
    "AuthFailure",
    "FcmClient",
    "FcmError",
    "FcmErrorCode",
    "FcmMessage",
    "FcmResult",
    "InvalidGrant",
    "InvalidMessage",
    "ServiceAccount",
    "ServiceAccountError",
    "TokenExchangeError",
    "action_for",
    "parse_answer",
]
