"""The commands that run ringpush's parts on this machine: keys, one push, the sandbox,
the server, the quickstart and the demo. Argument parsing only; the work is done by
library code."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from ringpush.apns.credentials import (
    CertificateCredentials,
    Credentials,
    TokenCredentials,
    generate_signing_key,
)
from ringpush.apns.environment import Environment
from ringpush.apns.errors import ApnsError
from ringpush.apns.notification import Notification, parse_push_type
from ringpush.cli.root import EXIT_NOT_SENT, EnvironmentChoice, command, fail
from ringpush.logs import configure_logging
from ringpush.server.settings import BY_NAME as SETTINGS_BY_NAME

#: The local FCM's port, next to the sandbox's 2197 (APNs) and 2198 (control).
DEFAULT_FCM_PORT = 2199


@command()
def keygen(
    out: Annotated[Path, typer.Option(help="Directory to write AuthKey_<KEYID>.p8 into.")],
    team_id: Annotated[
        str | None, typer.Option(help="Team id to print (random when not given).")
    ] = None,
) -> None:
    """Write a new Apple-style signing key (AuthKey_<KEYID>.p8) and print its ids as JSON."""
    try:
        key = generate_signing_key(team_id)
    except ApnsError as exc:
        fail(str(exc))
    try:
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"AuthKey_{key.key_id}.p8"
        path.touch(mode=0o600)
        path.write_bytes(key.pem)
    except OSError as exc:
        fail(f"cannot write key into {out}: {exc.strerror}")
    typer.echo(json.dumps({"key_id": key.key_id, "team_id": key.team_id, "key_file": str(path)}))


def _load_payload(payload: str) -> bytes:
    """``--payload`` takes JSON text, or ``@FILE`` to read it from a file."""
    if payload.startswith("@"):
        try:
            return Path(payload[1:]).read_bytes()
        except OSError as exc:
            fail(f"cannot read payload file {payload[1:]}: {exc.strerror}")
    return payload.encode()


def _credentials(
    key_file: Path | None,
    key_id: str | None,
    team_id: str | None,
    cert_file: Path | None,
    cert_key_file: Path | None,
) -> Credentials:
    if cert_file is not None:
        if key_file is not None:
            fail("give either --key-file or --cert-file, not both")
        return CertificateCredentials.from_files(cert_file, cert_key_file)
    if key_file is None or key_id is None or team_id is None:
        fail("token auth needs --key-file, --key-id and --team-id (or use --cert-file)")
    return TokenCredentials.from_p8_file(key_file, key_id, team_id)


@command()
def send(
    bundle_id: Annotated[str, typer.Option(help="The app's bundle id.")],
    token: Annotated[str, typer.Option(help="Device token, hex.")],
    payload: Annotated[str, typer.Option(help="JSON payload, or @FILE.")],
    push_type: Annotated[str, typer.Option(help="APNs push type.")] = "voip",
    environment: Annotated[
        EnvironmentChoice, typer.Option(help="APS environment of the token.")
    ] = EnvironmentChoice.development,
    key_file: Annotated[Path | None, typer.Option(help=".p8 signing key.")] = None,
    key_id: Annotated[str | None, typer.Option(help="Key id of the signing key.")] = None,
    team_id: Annotated[str | None, typer.Option(help="Apple team id.")] = None,
    cert_file: Annotated[
        Path | None, typer.Option(help="PEM client certificate (instead of a key).")
    ] = None,
    cert_key_file: Annotated[
        Path | None, typer.Option(help="PEM key of the certificate, if not in it.")
    ] = None,
    apns_url: Annotated[
        str | None, typer.Option(help="APNs base URL, e.g. https://127.0.0.1:2197.")
    ] = None,
    ca_file: Annotated[Path | None, typer.Option(help="Extra CA to trust (PEM).")] = None,
    priority: Annotated[int | None, typer.Option(help="apns-priority (10, 5 or 1).")] = None,
    expiration: Annotated[
        int | None, typer.Option(help="apns-expiration, UNIX seconds (0: deliver now or never).")
    ] = None,
    collapse_id: Annotated[str | None, typer.Option(help="apns-collapse-id.")] = None,
    apns_id: Annotated[str | None, typer.Option(help="apns-id (a UUID).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for APNs.")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Send one push and print its outcome; exit 1 if APNs did not accept it."""
    try:
        credentials = _credentials(key_file, key_id, team_id, cert_file, cert_key_file)
        kind = parse_push_type(push_type)
        body = _load_payload(payload)
        notification = Notification.for_app(
            bundle_id,
            kind,
            token,
            body,
            priority=priority,
            expiration=0 if expiration is None and kind.value == "voip" else expiration,
            collapse_id=collapse_id,
            apns_id=apns_id,
        )
        notification.encode()  # every rule checked here, before any connection
    except ApnsError as exc:
        fail(str(exc))
    if ca_file is not None and not ca_file.is_file():
        fail(f"cannot read CA file {ca_file}")

    async def run() -> int:
        from ringpush.apns.client import ApnsClient

        try:
            client = ApnsClient(
                credentials,
                Environment(environment.value),
                base_url=apns_url,
                ca_file=ca_file,
                request_timeout=timeout,
                connect_timeout=timeout,
            )
        except ApnsError as exc:  # the URL or the CA file
            fail(str(exc))
        async with client:
            result = await client.send(notification)
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "apns_id": result.apns_id,
                        "status": result.status,
                        "reason": result.reason_text,
                        "unique_id": result.unique_id,
                        "timestamp": result.timestamp_ms,
                        "action": result.action.value,
                        "error": result.error,
                    }
                )
            )
        else:
            typer.echo(result.describe())
        return 0 if result.sent else EXIT_NOT_SENT

    raise typer.Exit(asyncio.run(run()))


@command()
def sandbox(
    port: Annotated[int, typer.Option(help="APNs port (0 picks a free one).")] = 2197,
    control_port: Annotated[
        int, typer.Option(help="Control API port (0 picks a free one).")
    ] = 2198,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    ca_out: Annotated[
        Path | None, typer.Option(help="Write the sandbox CA (PEM) here for clients to trust.")
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option(help="Signing key to accept, as K.p8:KEYID:TEAMID (repeatable)."),
    ] = None,
    environment: Annotated[
        EnvironmentChoice, typer.Option(help="Environment the APNs port stands for.")
    ] = EnvironmentChoice.development,
    production_port: Annotated[
        int | None,
        typer.Option(help="Also serve the production environment on this port (0: free port)."),
    ] = None,
    max_streams: Annotated[
        int, typer.Option(help="SETTINGS_MAX_CONCURRENT_STREAMS after authentication.")
    ] = 1000,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="Keep the CA, ports, signing keys and issued tokens here across restarts"
            " (ports given as 0 take the last run's). Of FCM only its port is kept."
        ),
    ] = None,
    fcm: Annotated[
        bool,
        typer.Option(
            "--fcm",
            help="Also serve a local FCM (HTTP v1 over TLS) on --fcm-port, its control API"
            " under /fcm of the control port.",
        ),
    ] = False,
    fcm_port: Annotated[
        int | None,
        typer.Option(
            help=f"FCM port ({DEFAULT_FCM_PORT} when not given; 0 picks a free one)."
            " Giving it implies --fcm.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a local APNs: HTTP/2 + TLS on --port, a JSON control API on --control-port;
    with --fcm a local FCM beside it.

    Prints one JSON line with the chosen ports and the CA file (with --fcm also
    fcm_port, fcm_url and fcm_ca_file: FCM has a CA of its own), then serves until Ctrl-C.
    """
    from ringpush.sandbox import Sandbox, parse_key_spec, serve_forever
    from ringpush.sandbox.persistence import SavedStateError

    try:
        keys = [parse_key_spec(spec) for spec in key or []]
    except (ValueError, ApnsError) as exc:
        fail(str(exc))
    primary = Environment(environment.value)
    ports = {primary: port}
    if production_port is not None:
        if primary is Environment.PRODUCTION:
            fail("--production-port serves production next to development; drop --environment")
        ports[Environment.PRODUCTION] = production_port

    serve_fcm = fcm or fcm_port is not None
    try:
        server = Sandbox(
            keys, max_concurrent_streams=max_streams, state_dir=state_dir, fcm=serve_fcm
        )
    except SavedStateError as exc:
        fail(str(exc))

    async def run() -> None:
        try:
            await server.start(
                host=host,
                control_port=control_port,
                ca_out=ca_out,
                environments=tuple(ports),
                ports=ports,
                fcm_port=DEFAULT_FCM_PORT if fcm_port is None else fcm_port,
            )
        except OSError as exc:
            fail(f"cannot listen: {exc.strerror or exc}")
        info: dict[str, object] = {
            "port": server.port(primary),
            "control_port": server.control_port,
            "environment": primary.value,
            "ca_file": str(server.ca_file),
        }
        if Environment.PRODUCTION in ports and primary is not Environment.PRODUCTION:
            info["production_port"] = server.port(Environment.PRODUCTION)
        if server.fcm is not None:
            info["fcm_port"] = server.fcm.port
            info["fcm_url"] = server.fcm.url
            info["fcm_ca_file"] = str(server.fcm_ca_file)
        typer.echo(json.dumps(info), nl=True)
        try:
            await serve_forever(server)
        finally:
            await server.stop()

    asyncio.run(run())


def _setting(name: str) -> typer.models.OptionInfo:
    """A serve flag as the settings table describes it (its default shown, not set:
    None says the flag was not given, so a config file's value can fill it)."""
    setting = SETTINGS_BY_NAME[name]
    help_text = setting.help
    if setting.choices:
        help_text += f" One of: {', '.join(setting.choices)}."
    option: typer.models.OptionInfo = typer.Option(
        setting.flag,
        envvar=setting.envvar,
        help=help_text,
        show_default=str(setting.default) if setting.default is not None else False,
    )
    return option


#: ``serve --help``: where the two secrets come from (never from flags).
SERVE_HELP = (
    "Run the ringpush server: HTTP API, delivery engine, ring timer.\n\n"
    "Secrets come from the environment or the state dir, never from flags:"
    " RINGPUSH_ADMIN_KEY is the operator key (at least 32 characters; without it one is"
    " made in <state-dir>/admin.key, mode 0600); RINGPUSH_SECRET_KEY is the master key"
    " that seals device tokens and signing keys (base64 of 32 bytes; without it"
    " <state-dir>/secret.json, mode 0600)."
)


@command(help=SERVE_HELP)
def serve(
    host: Annotated[str | None, _setting("host")] = None,
    port: Annotated[int | None, _setting("port")] = None,
    database: Annotated[str | None, _setting("database")] = None,
    state_dir: Annotated[str | None, _setting("state_dir")] = None,
    tls_cert: Annotated[str | None, _setting("tls_cert")] = None,
    tls_key: Annotated[str | None, _setting("tls_key")] = None,
    delivery_lease: Annotated[float | None, _setting("delivery_lease")] = None,
    retention_days: Annotated[float | None, _setting("retention_days")] = None,
    lane_concurrency: Annotated[int | None, _setting("lane_concurrency")] = None,
    bulk_share_during_calls: Annotated[float | None, _setting("bulk_share_during_calls")] = None,
    max_devices_per_user: Annotated[int | None, _setting("max_devices_per_user")] = None,
    max_body_bytes: Annotated[int | None, _setting("max_body_bytes")] = None,
    max_event_streams_per_user: Annotated[
        int | None, _setting("max_event_streams_per_user")
    ] = None,
    rate_calls: Annotated[float | None, _setting("rate_calls")] = None,
    rate_pushes: Annotated[float | None, _setting("rate_pushes")] = None,
    rate_registrations: Annotated[float | None, _setting("rate_registrations")] = None,
    rate_auth_failures: Annotated[float | None, _setting("rate_auth_failures")] = None,
    log_level: Annotated[str | None, _setting("log_level")] = None,
    log_format: Annotated[str | None, _setting("log_format")] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            envvar="RINGPUSH_CONFIG",
            help="TOML file with any of the settings above, named as the flags are with"
            " underscores (max_body_bytes = 65536). Flags and RINGPUSH_* variables win over"
            " it.",
        ),
    ] = None,
) -> None:
    """Run the ringpush server: HTTP API, delivery engine, ring timer."""
    import signal

    from ringpush.server.service import serve_until_stopped
    from ringpush.server.settings import read_config_file, resolve

    given = {
        "host": host,
        "port": port,
        "database": database,
        "state_dir": state_dir,
        "tls_cert": tls_cert,
        "tls_key": tls_key,
        "delivery_lease": delivery_lease,
        "retention_days": retention_days,
        "lane_concurrency": lane_concurrency,
        "bulk_share_during_calls": bulk_share_during_calls,
        "max_devices_per_user": max_devices_per_user,
        "max_body_bytes": max_body_bytes,
        "max_event_streams_per_user": max_event_streams_per_user,
        "rate_calls": rate_calls,
        "rate_pushes": rate_pushes,
        "rate_registrations": rate_registrations,
        "rate_auth_failures": rate_auth_failures,
        "log_level": log_level,
        "log_format": log_format,
    }
    try:
        from_file = read_config_file(config) if config is not None else None
        settings = resolve(given, from_file)
    except ValueError as exc:
        fail(str(exc))
    from ringpush.registry.connect import sqlite_path
    from ringpush.registry.sealing import StateFileError
    from ringpush.registry.store import RegistryError

    try:
        sqlite_path(settings.database)
    except ValueError as exc:
        fail(str(exc))
    configure_logging(settings.log_level, settings.log_format)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await serve_until_stopped(settings, typer.echo, stop)
        except (RegistryError, StateFileError) as exc:  # database, keys, state files
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")

    from ringpush.event_loop import run as run_loop

    run_loop(run())


@command("run")
def run_command(
    state_dir: Annotated[
        Path, typer.Option(help="Where the database and key files are kept.")
    ] = Path(".ringpush"),
    port: Annotated[int, typer.Option(help="HTTP API port.")] = 8080,
    sandbox_port: Annotated[int, typer.Option(help="APNs sandbox port (development).")] = 2197,
    control_port: Annotated[int, typer.Option(help="Sandbox control API port.")] = 2198,
    fcm_port: Annotated[
        int, typer.Option(help="FCM sandbox port (the demo app's FCM endpoint).")
    ] = DEFAULT_FCM_PORT,
    once: Annotated[
        bool, typer.Option("--once", help="Ring the demo phone once and exit instead of serving.")
    ] = False,
) -> None:
    """Run ringpush on embedded defaults: SQLite, the built-in APNs and FCM sandboxes, a
    demo app; ring bob's simulated iPhone and Android phone once."""
    from ringpush.quickstart import run_local

    ok = asyncio.run(
        run_local(
            state_dir,
            port=port,
            sandbox_port=sandbox_port,
            control_port=control_port,
            fcm_port=fcm_port,
            say=typer.echo,
            serve=not once,
        )
    )
    raise typer.Exit(0 if ok else EXIT_NOT_SENT)


@command()
def demo(
    step_timeout: Annotated[
        float, typer.Option(help="Seconds each step may take before the demo fails.")
    ] = 10.0,
) -> None:
    """Show the whole call path on a simulated iPhone and Android phone: ring both,
    answer on Android, the iPhone stops, uninstall and the UNREGISTERED clean-up.

    Runs the sandbox (APNs and FCM) and the server in this process; exits 0 only if
    every step happened as shown.
    """
    from rich.console import Console

    from ringpush.demo.run import run_demo

    ok = asyncio.run(run_demo(Console(highlight=False), step_seconds=step_timeout))
    raise typer.Exit(0 if ok else 1)
