"""``ringpush serve``'s settings: one table of every setting, with its type, default and
bounds, and one way to combine where values come from.

A value given as a flag or a ``RINGPUSH_*`` variable wins over the config file's, which
wins over the default. Every value is checked against the same bounds wherever it came
from (a config file's values used to skip the checks the flags had), and a bad one is a
``ValueError`` of one line, which the CLI prints before exiting 2.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ringpush.delivery.engine import DEFAULT_BULK_SHARE_DURING_CALLS
from ringpush.delivery.lane import DEFAULT_CONCURRENCY
from ringpush.logs import LogFormat, LogLevel
from ringpush.server.body_limit import DEFAULT_MAX_BODY_BYTES
from ringpush.server.rate_limits import DEFAULT_RATES, RateLimitSettings
from ringpush.server.state import (
    DEFAULT_MAX_DEVICES_PER_USER,
    DEFAULT_MAX_EVENT_STREAMS_PER_USER,
)

Value = str | int | float


@dataclass(frozen=True, slots=True)
class Setting:
    #: The config file's key; the flag is ``--`` and the name with dashes, the
    #: variable ``RINGPUSH_`` and the name in capitals.
    name: str
    kind: type[str] | type[int] | type[float]
    default: Value | None
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def envvar(self) -> str:
        return "RINGPUSH_" + self.name.upper()

    def check(self, value: object, where: str) -> Value:
        """``value`` as this setting's type, or ValueError saying what is wrong."""
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.kind) or isinstance(value, bool):
            what = {str: "a string", int: "an integer", float: "a number"}[self.kind]
            raise ValueError(f"{where}{self.name} must be {what}, got {value!r}")
        if self.choices and value not in self.choices:
            raise ValueError(f"{where}{self.name} must be one of {', '.join(self.choices)}")
        if isinstance(value, int | float):
            if self.minimum is not None and value < self.minimum:
                raise ValueError(
                    f"{where}{self.name} must be at least {self.minimum:g}, got {value:g}"
                )
            if self.maximum is not None and value > self.maximum:
                raise ValueError(
                    f"{where}{self.name} must be at most {self.maximum:g}, got {value:g}"
                )
        return value


def _rate(name: str, what: str) -> Setting:
    return Setting(
        f"rate_{name}",
        float,
        getattr(DEFAULT_RATES, name),
        f"{what} per second, each with a burst of ten seconds' worth; beyond it 429 with"
        " Retry-After (0: no limit).",
        minimum=0.0,
    )


SETTINGS: tuple[Setting, ...] = (
    Setting("host", str, "127.0.0.1", "Address to listen on."),
    Setting("port", int, 8080, "HTTP port (0: any free).", minimum=0, maximum=65535),
    Setting(
        "database",
        str,
        None,
        "sqlite:///path (one instance; by default ringpush.db in --state-dir, beside the"
        " keys) or postgresql://user@host:port/db (several instances on one database).",
    ),
    Setting("state_dir", str, ".ringpush", "Key files (master key, operator key) live here."),
    Setting(
        "tls_cert",
        str,
        None,
        "PEM certificate chain: serve HTTPS (with --tls-key). Without it serve speaks plain"
        " HTTP, for a TLS-terminating proxy in front.",
    ),
    Setting(
        "tls_key",
        str,
        None,
        "PEM private key of --tls-cert; refused when others can read it (chmod 600).",
    ),
    Setting(
        "delivery_lease",
        float,
        60.0,
        "Seconds a claimed push stays with its sender before it is sent again (after a crash).",
        minimum=1.0,
    ),
    Setting(
        "retention_days",
        float,
        30.0,
        "Days the delivery log (finished pushes) and ended calls are kept.",
        minimum=0.01,
    ),
    Setting(
        "lane_concurrency",
        int,
        DEFAULT_CONCURRENCY,
        "Pushes each app's lane keeps in flight to APNs (a call's VoIP push goes past the cap).",
        minimum=1,
    ),
    Setting(
        "bulk_share_during_calls",
        float,
        DEFAULT_BULK_SHARE_DURING_CALLS,
        "Share of each lane's cap that bulk pushes (POST /v1/pushes) may use while calls"
        " are arriving (until none came for a second); 1 never slows bulk down.",
        minimum=0.0,
        maximum=1.0,
    ),
    Setting(
        "max_devices_per_user",
        int,
        DEFAULT_MAX_DEVICES_PER_USER,
        "Devices one user may register (a call rings them all at once); a new one beyond"
        " it is 409 too_many_devices.",
        minimum=1,
    ),
    Setting(
        "max_body_bytes",
        int,
        DEFAULT_MAX_BODY_BYTES,
        "The largest request body taken; a larger one is 413 before it is read.",
        minimum=1024,
    ),
    Setting(
        "max_event_streams_per_user",
        int,
        DEFAULT_MAX_EVENT_STREAMS_PER_USER,
        "Call event streams one user may hold open at once; one more is 429 too_many_streams.",
        minimum=1,
    ),
    _rate("calls", "Calls (POST /v1/calls) one app's service keys may place"),
    _rate("pushes", "Push requests (POST /v1/pushes) one app's service keys may make"),
    _rate("registrations", "Device registrations and removals one user may make"),
    _rate(
        "auth_failures",
        "Failed authentications from one client address (beyond it, every request from"
        " the address is 429 until it has waited)",
    ),
    Setting(
        "log_level",
        str,
        LogLevel.INFO.value,
        "Least severe log lines shown.",
        choices=tuple(level.value for level in LogLevel),
    ),
    Setting(
        "log_format",
        str,
        LogFormat.TEXT.value,
        "text, or json (one object per line) on stderr.",
        choices=tuple(form.value for form in LogFormat),
    ),
)
BY_NAME = {setting.name: setting for setting in SETTINGS}


def read_config_file(path: Path) -> dict[str, Value]:
    """The settings a TOML file gives; unknown keys and wrong values are errors, not
    silently ignored."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config file {path} is not valid TOML: {exc}") from None
    checked: dict[str, Value] = {}
    for key, value in data.items():
        setting = BY_NAME.get(key)
        if setting is None:
            known = ", ".join(BY_NAME)
            raise ValueError(f"config file {path}: unknown setting {key!r} (known: {known})")
        checked[key] = setting.check(value, f"config file {path}: ")
    return checked


@dataclass(frozen=True, slots=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    database: str = "sqlite:///.ringpush/ringpush.db"
    state_dir: Path = Path(".ringpush")
    #: How long a claimed push stays with its sender before another may take it.
    lease_seconds: float = 60.0
    #: Pushes each lane (app, APS environment) keeps in flight; a call's push goes past.
    lane_concurrency: int = DEFAULT_CONCURRENCY
    #: Devices one user may register; a call rings at most that many.
    max_devices_per_user: int = DEFAULT_MAX_DEVICES_PER_USER
    #: The largest request body taken; a larger one is 413 before it is read.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: Call event streams one user may hold open at once.
    max_event_streams_per_user: int = DEFAULT_MAX_EVENT_STREAMS_PER_USER
    #: The share of a lane's cap bulk pushes may use while calls are arriving (1: all).
    bulk_share_during_calls: float = DEFAULT_BULK_SHARE_DURING_CALLS
    #: Finished pushes (the delivery log) and ended calls are deleted after this long.
    retention_days: float = 30.0
    retention_sweep_seconds: float = 600.0
    #: Requests per second per credential (and failed authentications per address).
    rates: RateLimitSettings = DEFAULT_RATES
    log_level: LogLevel = LogLevel.INFO
    log_format: LogFormat = LogFormat.TEXT
    #: HTTPS: the certificate chain and its key (both, or neither: plain HTTP).
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert is not None else "http"


def resolve(
    given: Mapping[str, object], from_file: Mapping[str, Value] | None = None
) -> ServeSettings:
    """Settings from what flags and variables ``given`` (None: not given), then the
    config file, then the defaults; every value checked."""
    values: dict[str, Value | None] = {}
    for setting in SETTINGS:
        value = given.get(setting.name)
        if value is None and from_file is not None:
            value = from_file.get(setting.name)
        values[setting.name] = setting.default if value is None else setting.check(value, "")
    state_dir = Path(str(values["state_dir"]))
    database = values["database"]
    tls_cert, tls_key = values["tls_cert"], values["tls_key"]
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("tls_cert and tls_key go together: give both, or neither for HTTP")
    return ServeSettings(
        host=str(values["host"]),
        port=int(values["port"] or 0),
        # Beside the keys that seal its secrets, unless it is said to be elsewhere.
        database=str(database) if database else f"sqlite:///{state_dir / 'ringpush.db'}",
        state_dir=state_dir,
        lease_seconds=float(values["delivery_lease"] or 0),
        retention_days=float(values["retention_days"] or 0),
        lane_concurrency=int(values["lane_concurrency"] or 0),
        bulk_share_during_calls=float(values["bulk_share_during_calls"] or 0),
        max_devices_per_user=int(values["max_devices_per_user"] or 0),
        max_body_bytes=int(values["max_body_bytes"] or 0),
        max_event_streams_per_user=int(values["max_event_streams_per_user"] or 0),
        rates=RateLimitSettings(
            calls=float(values["rate_calls"] or 0),
            pushes=float(values["rate_pushes"] or 0),
            registrations=float(values["rate_registrations"] or 0),
            auth_failures=float(values["rate_auth_failures"] or 0),
        ),
        log_level=LogLevel(str(values["log_level"])),
        log_format=LogFormat(str(values["log_format"])),
        tls_cert=Path(str(tls_cert)) if tls_cert is not None else None,
        tls_key=Path(str(tls_key)) if tls_key is not None else None,
    )
