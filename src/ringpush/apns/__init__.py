"""The APNs provider: notification rules, provider tokens and an HTTP/2 client.

Typical use::

    async with ApnsClient(TokenCredentials.from_p8_file(path, key_id, team_id),
                          Environment.PRODUCTION) as client:
        result = await client.send(Notification.voip(bundle_id, token, {"call_id": "c1"}))

The package's names load their modules when first used (PEP 562), so that importing a
light part (``ringpush.apns.environment``, ``ringpush.apns.push_type``, as
``ringpush.sdk`` does) does not load the HTTP/2 client, h2, cryptography or PyJWT.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ringpush.apns.client import ApnsClient
    from ringpush.apns.credentials import (
        CertificateCredentials,
        Credentials,
        TokenCredentials,
        generate_signing_key,
    )
    from ringpush.apns.environment import Environment
    from ringpush.apns.errors import (
        ApnsError,
        CredentialsError,
        InvalidDeviceToken,
        InvalidNotification,
        PayloadTooLarge,
    )
    from ringpush.apns.jwt_signer import ProviderToken, ProviderTokenSigner
    from ringpush.apns.listener import ApnsListener
    from ringpush.apns.notification import Notification, PushRequest
    from ringpush.apns.push_type import PushType
    from ringpush.apns.reasons import Action, ApnsReason
    from ringpush.apns.result import ApnsResult

#: Where each public name lives.
_HOMES = {
    "Action": "ringpush.apns.reasons",
    "ApnsClient": "ringpush.apns.client",
    "ApnsError": "ringpush.apns.errors",
    "ApnsListener": "ringpush.apns.listener",
    "ApnsReason": "ringpush.apns.reasons",
    "ApnsResult": "ringpush.apns.result",
    "CertificateCredentials": "ringpush.apns.credentials",
    "Credentials": "ringpush.apns.credentials",
    "CredentialsError": "ringpush.apns.errors",
    "Environment": "ringpush.apns.environment",
    "InvalidDeviceToken": "ringpush.apns.errors",
    "InvalidNotification": "ringpush.apns.errors",
    "Notification": "ringpush.apns.notification",
    "PayloadTooLarge": "ringpush.apns.errors",
    "ProviderToken": "ringpush.apns.jwt_signer",
    "ProviderTokenSigner": "ringpush.apns.jwt_signer",
    "PushRequest": "ringpush.apns.notification",
    "PushType": "ringpush.apns.push_type",
    "TokenCredentials": "ringpush.apns.credentials",
    "generate_signing_key": "ringpush.apns.credentials",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


__all__ = [
    "Action",
    "ApnsClient",
    "ApnsError",
    "ApnsListener",
    "ApnsReason",
    "ApnsResult",
    "CertificateCredentials",
    "Credentials",
    "CredentialsError",
    "Environment",
    "InvalidDeviceToken",
    "InvalidNotification",
    "Notification",
    "PayloadTooLarge",
    "ProviderToken",
    "ProviderTokenSigner",
    "PushRequest",
    "PushType",
    "TokenCredentials",
    "generate_signing_key",
]
