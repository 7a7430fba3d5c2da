"""Who is calling: the operator, a calling service, or an app on a user's device.

- operator: the admin API key (``RINGPUSH_ADMIN_KEY`` or a key file made on first start);
- calling service: an API key minted per app by the operator, stored only as a hash;
- app on a device: a short-lived user token (HS256 JWT signed by this server) naming
  the user and the app, which the app's own backend obtains from ringpush.

A missing, malformed, expired or forged credential is 401 with ``WWW-Authenticate``; a
valid credential of the wrong kind is 403.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import jwt

from ringpush.registry.app_cache import AppCache
from ringpush.registry.models import App
from ringpush.registry.sealing import StateFileError, check_private_file, private_dir
from ringpush.registry.store import Registry
from ringpush.registry.timestamps import to_us
from ringpush.server.error_codes import ErrorCode
from ringpush.server.errors import ApiError

ADMIN_KEY_ENV = "RINGPUSH_ADMIN_KEY"
#: Seconds a service key's app is remembered; an app's change or deletion forgets it
#: at once (:meth:`Authenticator.forget_app`).
SERVICE_KEY_TTL = 10.0
USER_TOKEN_ISSUER = "ringpush"
DEFAULT_USER_TOKEN_TTL = 3600
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ringpush"'}


class Role(StrEnum):
    OPERATOR = "operator"
    SERVICE = "service"
    USER = "user"


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    app_id: str | None = None
    user_id: str | None = None


def unauthorized(message: str) -> ApiError:
    return ApiError(ErrorCode.UNAUTHORIZED, message, headers=_CHALLENGE)


def forbidden(message: str) -> ApiError:
    return ApiError(ErrorCode.FORBIDDEN, message)


#: An operator key shorter than this is refused: it opens every app.
MIN_ADMIN_KEY_LENGTH = 32


@dataclass(frozen=True, slots=True)
class AdminKey:
    key: str
    #: The file it is kept in (None: from RINGPUSH_ADMIN_KEY), and whether this start
    #: wrote it.
    file: Path | None = None
    created: bool = False


def load_admin_key(state_dir: Path) -> AdminKey:
    """The operator key from the environment, or from a 0600 file created on first start;
    refused (:class:`StateFileError`) when short or in a file others may read."""
    from_env = os.environ.get(ADMIN_KEY_ENV)
    if from_env:
        _check_admin_key(from_env, ADMIN_KEY_ENV)
        return AdminKey(from_env)
    path = state_dir / "admin.key"
    created = not path.exists()
    if created:
        private_dir(state_dir)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("rpa_" + secrets.token_urlsafe(32))
    check_private_file(path)
    key = path.read_text().strip()
    _check_admin_key(key, str(path))
    return AdminKey(key, path, created)


def _check_admin_key(key: str, where: str) -> None:
    if len(key) < MIN_ADMIN_KEY_LENGTH:
        raise StateFileError(
            f"the operator key in {where} is {len(key)} characters; it needs at least"
            f" {MIN_ADMIN_KEY_LENGTH} (it opens every app)"
        )


def app_generation(app: App) -> int:
    """An app's incarnation: when it was created (µs)."""
    return to_us(app.created_at) if app.created_at is not None else 0


def new_service_key() -> str:
    return "rps_" + secrets.token_urlsafe(32)


class Authenticator:
    def __init__(
        self,
        registry: Registry,
        admin_key: str,
        signing_secret: bytes,
        apps: AppCache | None = None,
    ) -> None:
        self._registry = registry
        #: Apps as the whole server sees them (changes heard through NOTIFY): a user
        #: token is checked against its app's incarnation without reading a row.
        self._apps = apps or AppCache(registry)
        self._admin_key = admin_key
        self._secret = signing_secret
        #: Service key -> (app id, when looked up): a call's request reads no row for it.
        self._service_keys: dict[str, tuple[str, float]] = {}

    def forget_app(self, app_id: str) -> None:
        """The app changed or was deleted (on any instance): look its keys up again."""
        for key in [k for k, (app, _) in self._service_keys.items() if app == app_id]:
            del self._service_keys[key]

    async def _app_of_service_key(self, key: str) -> str | None:
        cached = self._service_keys.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[1] < SERVICE_KEY_TTL:
            return cached[0]
        app_id = await self._registry.app_of_service_key(key)
        if app_id is not None:
            if len(self._service_keys) > 10_000:
                self._service_keys.clear()
            self._service_keys[key] = (app_id, now)
        return app_id

    def mint_user_token(self, app: App, user_id: str, ttl: int = DEFAULT_USER_TOKEN_TTL) -> str:
        now = int(time.time())
        claims = {
            "iss": USER_TOKEN_ISSUER,
            "sub": user_id,
            "app": app.app_id,
            "gen": app_generation(app),
            # When it was minted, to the microsecond: revocation refuses every token
            # minted before it, and a token minted the same second after it works.
            "mus": time.time_ns() // 1000,
            "iat": now,
            "exp": now + ttl,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    async def identify(self, authorization: str | None) -> Principal:
        if not authorization:
            raise unauthorized("missing Authorization header (use: Bearer <key or token>)")
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise unauthorized("Authorization must be 'Bearer <key or token>'")
        if hmac.compare_digest(credential.encode(), self._admin_key.encode()):
            return Principal(Role.OPERATOR)
        if credential.startswith("rps_"):
            app_id = await self._app_of_service_key(credential)
            if app_id is None:
                raise unauthorized("unknown service API key")
            return Principal(Role.SERVICE, app_id=app_id)
        if credential.startswith("rpa_"):
            raise unauthorized("wrong admin API key")
        try:
            claims = jwt.decode(
                credential,
                self._secret,
                algorithms=["HS256"],
                issuer=USER_TOKEN_ISSUER,
                options={"require": ["exp", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("user token has expired") from None
        except jwt.InvalidTokenError:
            raise unauthorized("credential is not a valid key or user token") from None
        app_id, user_id = claims.get("app"), claims.get("sub")
        if not isinstance(app_id, str) or not isinstance(user_id, str):
            raise unauthorized("user token does not name an app and a user")
        # A token names the incarnation of its app it was minted for: it dies with the
        # app and does not come back when an app of the same id is created again.
        app = await self._apps.get(app_id)
        if app is None or claims.get("gen") != app_generation(app):
            raise unauthorized("user token of an app that was deleted")
        minted = claims.get("mus")
        if not isinstance(minted, int):  # minted before tokens said it to the µs
            iat = claims.get("iat")
            minted = iat * 1_000_000 if isinstance(iat, int) else 0
        # The app's revocation (cached with the app) and the user's (one row by primary
        # key; calls, made with service keys, never read it).
        user_revoked = await self._registry.user_tokens_not_before(app_id, user_id)
        for revoked in (app.user_tokens_not_before, user_revoked):
            if revoked is not None and minted < to_us(revoked):
                raise unauthorized("user token was revoked: ask the app's backend for a new one")
        return Principal(Role.USER, app_id=app_id, user_id=user_id)
