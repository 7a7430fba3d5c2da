"""What the registry stores: apps with their APNs credentials, and users' devices.

Values are frozen dataclasses; secrets (device tokens, signing keys) are plaintext only in
memory and never in a repr.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ringpush.apns.device_token import mask_device_token
from ringpush.apns.environment import Environment
from ringpush.platforms import Channel, Platform, PushKind, platform_of


@dataclass(frozen=True, slots=True)
class App:
    """An app (bundle id) and how to reach APNs for it.

    Token auth: ``signing_key_pem`` + ``key_id`` + ``team_id``. Certificate auth:
    ``certificate_pem`` (with its key). ``apns_base_url`` (both environments) or
    ``apns_url_development`` / ``apns_url_production`` (one each, winning over it) and
    ``ca_pem`` point the app at another APNs-compatible endpoint (the sandbox, say).
    """

    app_id: str
    bundle_id: str
    team_id: str | None
    key_id: str | None
    default_environment: Environment
    signing_key_pem: bytes | None = field(default=None, repr=False)
    certificate_pem: bytes | None = field(default=None, repr=False)
    apns_base_url: str | None = None
    ca_pem: bytes | None = field(default=None, repr=False)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    apns_url_development: str | None = None
    apns_url_production: str | None = None
    #: User tokens minted before this were revoked (all of the app's users).
    user_tokens_not_before: datetime | None = None
    #: FCM: the service account's JSON as Google issues it (sealed at rest), the HTTP v1
    #: API's base URL when it is not Google's (a sandbox) and a CA to trust for it.
    fcm_service_account: bytes | None = field(default=None, repr=False)
    fcm_url: str | None = None
    fcm_ca_pem: bytes | None = field(default=None, repr=False)

    def apns_url_for(self, environment: Environment) -> str | None:
        """The endpoint for ``environment``; None: Apple's own host for it."""
        own = (
            self.apns_url_production
            if environment is Environment.PRODUCTION
            else self.apns_url_development
        )
        return own or self.apns_base_url

    @property
    def auth(self) -> str:
        if self.signing_key_pem is not None:
            return "token"
        if self.certificate_pem is not None:
            return "certificate"
        return "none"


@dataclass(frozen=True, slots=True)
class Device:
    """One push registration: a device's token for one push type of one app (APNs), or
    its one FCM token (``push_type`` and ``environment`` both :data:`FCM`)."""

    app_id: str
    user_id: str
    device_id: str
    push_type: PushKind
    token: str = field(repr=False)
    environment: Channel
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime

    @property
    def masked_token(self) -> str:
        return mask_device_token(self.token)

    @property
    def platform(self) -> Platform:
        return platform_of(self.push_type)


@dataclass(frozen=True, slots=True)
class Registration:
    """The outcome of registering a token: the device row and what changed."""

    device: Device
    created: bool
    #: Other registrations of the same token removed (the token moved to this user/device).
    moved_from: tuple[tuple[str, str], ...] = ()
