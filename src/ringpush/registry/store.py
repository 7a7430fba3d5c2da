"""The registry interface: what delivery and the server may ask of storage.

They depend on these protocols only, never on a class; :class:`SqlRegistry
<ringpush.registry.sql_registry.SqlRegistry>` implements them on SQLite and PostgreSQL.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from ringpush.apns.credentials import TokenCredentials
from ringpush.apns.environment import Environment
from ringpush.apns.jwt_signer import ProviderToken
from ringpush.apns.push_type import PushType
from ringpush.fcm.oauth import AccessTokenStore
from ringpush.platforms import Channel, PushKind
from ringpush.registry.call_models import Call, CallEnding, EndReason
from ringpush.registry.database import Notifications
from ringpush.registry.models import App, Device, Registration
from ringpush.registry.outbox_models import OutboxPush, PushState, Urgency
from ringpush.registry.retention import Swept

if TYPE_CHECKING:
    from ringpush.registry.database_errors import WriteHealth


class RegistryError(Exception):
    """Base of the registry's errors about the database itself (the CLI prints them as
    one line)."""


class TokenHeldElsewhere(Exception):
    """A token another user's install registered, asked for without that install's
    credential. Deliberately says nothing of who holds it."""

    def __init__(self) -> None:
        super().__init__(
            "this device token cannot be registered by this install: a token moves to"
            " another user only with the install_secret of the install that registered it,"
            " or once APNs has reported it invalid"
        )


class TooManyDevices(Exception):
    """A new device for a user who already has as many as the deployment allows."""

    def __init__(self, user_id: str, limit: int) -> None:
        super().__init__(
            f"user {user_id!r} already has {limit} devices, the most allowed: unregister one"
            " (DELETE /v1/devices/{device_id}) before adding another"
        )
        self.user_id = user_id
        self.limit = limit


class Trouble(enum.StrEnum):
    """Why the database cannot take a statement now (see ``registry/database_errors.py``)."""

    LOCKED = "locked"
    BUSY = "busy"
    FULL = "full"
    READ_ONLY = "read_only"
    IO_ERROR = "io_error"
    UNREACHABLE = "unreachable"


class DatabaseUnavailable(RegistryError):
    """The database cannot be reached or opened, or cannot take a statement now: the
    caller may try again later; nothing of the failed statement happened."""

    def __init__(self, message: str, trouble: Trouble = Trouble.UNREACHABLE) -> None:
        super().__init__(message)
        self.trouble = trouble


class MasterKeyMismatch(RegistryError):
    """This process's master key is not the one the database's secrets are sealed with
    (two instances with different ``RINGPUSH_SECRET_KEY`` values or key files)."""


class Outbox(Protocol):
    """Every push is written here before it is sent; senders claim due ones under a lease."""

    async def enqueue(
        self, pushes: Sequence[OutboxPush], *, claimed_until: datetime | None = None
    ) -> None:
        """Store pushes pending, or already claimed by the caller until ``claimed_until``."""

    async def claim_due(
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        *,
        urgency: Urgency | None = None,
        skip_lanes: Sequence[tuple[str, Channel]] = (),
        lane: tuple[str, Channel] | None = None,
    ) -> list[OutboxPush]:
        """Take up to ``limit`` due pushes (and ones whose sender's lease ran out) of one
        urgency class, or of all, most urgent first; none of ``skip_lanes``, or only
        those of ``lane``. Each push is claimed by exactly one sender per attempt."""

    async def due_lanes(self, urgency: Urgency, now: datetime) -> list[tuple[str, Channel]]:
        """The (app, environment) lanes with pushes of ``urgency`` due at ``now``, found
        at a cost that follows the number of lanes, not of the pushes queued."""

    async def defer(self, push_ids: Sequence[str], until: datetime, now: datetime) -> int:
        """Claimed pushes not tried now: due at ``until``, the claim not an attempt."""

    async def defer_lane(
        self, app_id: str, environment: Channel, until: datetime, now: datetime
    ) -> int:
        """The lane's pending pushes due before ``until`` are due at ``until``."""

    async def get_many(self, push_ids: Sequence[str]) -> list[OutboxPush]: ...

    async def finish(
        self,
        push_id: str,
        state: PushState,
        now: datetime,
        *,
        status: int | None = None,
        reason: str | None = None,
    ) -> None: ...

    async def retry_at(
        self,
        push_id: str,
        when: datetime,
        now: datetime,
        *,
        status: int | None = None,
        reason: str | None = None,
        environment: Channel | None = None,
    ) -> None: ...

    async def release(self, push_ids: Sequence[str], now: datetime) -> int:
        """Claimed pushes this sender will not finish become due now, for anyone."""

    async def withdraw_call(self, app_id: str, call_id: str, now: datetime) -> int: ...

    async def get(self, push_id: str) -> OutboxPush | None: ...

    async def query(
        self,
        *,
        app_id: str | None = None,
        call_id: str | None = None,
        user_id: str | None = None,
        device_id: str | None = None,
        apns_id: str | None = None,
        limit: int = 500,
    ) -> list[OutboxPush]: ...

    async def depth(self) -> int: ...


class CallStore(Protocol):
    async def create(
        self,
        call: Call,
        pushes: Sequence[OutboxPush] = (),
        *,
        claimed_until: datetime | None = None,
    ) -> bool:
        """Store the call and the pushes that ring it together, or neither; False if the
        app already has a call with this id. ``claimed_until``: as for the outbox."""

    async def get(self, app_id: str, call_id: str) -> Call | None: ...

    async def end(
        self,
        app_id: str,
        call_id: str,
        reason: EndReason,
        now: datetime,
        *,
        device_id: str | None = None,
        answered: bool = False,
        then_send: Sequence[OutboxPush] = (),
    ) -> CallEnding:
        """End a ringing call, withdraw its unsent pushes and queue ``then_send``, all
        together; ``changed`` says whether this request ended it."""

    async def overdue(self, now: datetime) -> list[Call]: ...


class ProviderTokens(Protocol):
    """The provider token of each signing key, one for the whole deployment."""

    async def exchange(
        self,
        credentials: TokenCredentials,
        choose: Callable[[ProviderToken | None], ProviderToken],
    ) -> ProviderToken:
        """Hold the key's row, let ``choose(stored)`` keep it or sign anew, store the
        choice and return it."""


class CallListeners(Protocol):
    """Devices following a call's events on some instance, under renewable leases."""

    async def add(
        self, app_id: str, call_id: str, device_id: str, instance_id: str, until: datetime
    ) -> None: ...

    async def remove(self, app_id: str, call_id: str, device_id: str, instance_id: str) -> None: ...

    async def renew(self, instance_id: str, until: datetime, now: datetime) -> None: ...

    async def listening(self, app_id: str, call_id: str, now: datetime) -> set[str]: ...


class Retention(Protocol):
    """Finished work is kept for a while, then deleted."""

    async def sweep(self, now: datetime, keep: timedelta, batch: int = ...) -> Swept: ...


class Registry(Protocol):
    @property
    def outbox(self) -> Outbox: ...

    @property
    def retention(self) -> Retention: ...

    @property
    def call_listeners(self) -> CallListeners: ...

    @property
    def notifications(self) -> Notifications:
        """Messages to every instance on this database (call events)."""

    @property
    def provider_tokens(self) -> ProviderTokens: ...

    @property
    def access_tokens(self) -> AccessTokenStore: ...

    @property
    def calls(self) -> CallStore: ...

    @property
    def write_health(self) -> WriteHealth:
        """Whether the database took the last write (``/readyz`` shows it)."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise if the database cannot answer a query now."""

    # apps
    async def put_app(self, app: App) -> App: ...
    async def get_app(self, app_id: str) -> App | None: ...
    async def list_apps(self) -> list[App]: ...
    async def delete_app(self, app_id: str) -> bool: ...

    # user tokens (signed, not stored: revoked by the time they were minted before)
    async def revoke_user_tokens(
        self, app_id: str, now: datetime, user_id: str | None = None
    ) -> bool:
        """Every user token of the app (of ``user_id`` only, if given) minted before
        ``now`` is refused from now on, on every instance; False if there is no app."""

    async def user_tokens_not_before(self, app_id: str, user_id: str) -> datetime | None:
        """When the user's tokens were last revoked one by one (None: never)."""

    # calling services' API keys (stored hashed)
    async def add_service_key(self, *, app_id: str, key: str, name: str) -> None: ...
    async def app_of_service_key(self, key: str) -> str | None: ...

    # devices
    async def register_device(
        self,
        *,
        app_id: str,
        user_id: str,
        device_id: str,
        push_type: PushKind,
        token: str,
        environment: Channel,
        now: datetime,
        max_devices: int | None = None,
        install_secret: str | None = None,
    ) -> Registration:
        """Idempotent: the same token again only refreshes ``last_seen_at``; a token held
        by another device of the user moves here (never duplicated). A token another
        user holds moves only when ``install_secret`` is the one it was registered with
        (the same install, signed in as someone else), else :class:`TokenHeldElsewhere`.
        A device id new to the user raises :class:`TooManyDevices` when the user has
        ``max_devices`` already."""

    async def unregister_device(
        self, *, app_id: str, user_id: str, device_id: str, push_type: PushKind | None = None
    ) -> int: ...

    async def devices_of_user(
        self, app_id: str, user_id: str, push_type: PushKind | None = None
    ) -> list[Device]: ...

    async def list_users(self, app_id: str) -> list[str]: ...

    async def invalidate_token(
        self,
        *,
        app_id: str,
        token: str,
        invalid_since: datetime,
        reason: str,
        push_type: PushKind = PushType.VOIP,
    ) -> bool:
        """Delete the token's registration unless it was registered again after
        ``invalid_since`` (Apple's 410 rule); returns whether it was removed."""

    async def set_environment(
        self, *, app_id: str, token: str, environment: Environment
    ) -> bool: ...
