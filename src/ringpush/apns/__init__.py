"""The APNs provider: notification rules, provider tokens and an HTTP/2 client.

Typical use::

    async with ApnsClient(TokenCredentials.from_p8_file(path, key_id, team_id),
                          Environment.PRODUCTION) as client:
        result = await client.send(Notification.voip(bundle_id, token, {"call_id": "c1"}))
"""

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
