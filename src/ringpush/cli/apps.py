"""``ringpush apps``: an app's bundle id and APNs credentials, put from the files Apple
issues (nobody escapes a .p8 into JSON by hand), listed, shown and deleted."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from ringpush.cli.output import Column, field, print_fields, print_json, print_table, when
from ringpush.cli.root import EnvironmentChoice, fail, new_group
from ringpush.cli.server_api import JsonOption, ServerApi, operator_command

apps = new_group("Apps and their APNs credentials (operator key).")
#: Apple names a downloaded key ``AuthKey_<KEYID>.p8``.
KEY_FILE_NAME = re.compile(r"AuthKey_([A-Z0-9]{10})\.p8$")

COLUMNS: list[Column] = [
    ("APP", field("app_id")),
    ("BUNDLE ID", field("bundle_id")),
    ("AUTH", field("auth")),
    ("KEY ID", field("key_id")),
    ("TEAM ID", field("team_id")),
    ("DEFAULT ENV", field("default_environment")),
    ("APNS", lambda app: _apns_urls(app)),
]


def _apns_urls(app: Mapping[str, Any]) -> str:
    """Where the app's pushes go: Apple unless a URL was given (a sandbox, a proxy)."""
    development = app.get("apns_url_development") or app.get("apns_url")
    production = app.get("apns_url_production") or app.get("apns_url")
    if development is None and production is None:
        return "Apple"
    if development == production:
        return str(development)
    return f"development {development or 'Apple'}, production {production or 'Apple'}"


def _pem_file(path: Path, flag: str) -> str:
    try:
        return path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        fail(f"{flag} {path} is not PEM text")
    except OSError as exc:
        fail(f"cannot read {flag} {path}: {exc.strerror}")


def _json_file(path: Path, flag: str) -> Any:
    try:
        return json.loads(path.read_bytes())
    except OSError as exc:
        fail(f"cannot read {flag} {path}: {exc.strerror}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{flag} {path} is not JSON: {exc}")


def show_app(app: dict[str, Any]) -> None:
    print_fields(
        [
            ("app", app["app_id"]),
            ("bundle id", app["bundle_id"]),
            ("auth", app["auth"]),
            ("key id", app["key_id"]),
            ("team id", app["team_id"]),
            ("default environment", app["default_environment"]),
            ("apns", _apns_urls(app)),
            ("fcm project", app.get("fcm_project_id")),
            ("fcm account", app.get("fcm_client_email")),
            ("fcm", (app.get("fcm_url") or "Google") if app.get("fcm_project_id") else None),
            ("created", when(app.get("created_at"))),
            ("updated", when(app.get("updated_at"))),
        ]
    )


@operator_command(apps, "put")
def put(
    api: ServerApi,
    name: Annotated[str, typer.Argument(help="The app's id in ringpush (letters, digits, -_.).")],
    bundle_id: Annotated[str, typer.Option(help="The iOS app's bundle id.")],
    p8: Annotated[
        Path | None,
        typer.Option(help="The APNs signing key Apple issued (AuthKey_<KEYID>.p8)."),
    ] = None,
    key_id: Annotated[
        str | None,
        typer.Option(help="The key's id (default: from the file name AuthKey_<KEYID>.p8)."),
    ] = None,
    team_id: Annotated[str | None, typer.Option(help="The Apple developer team id.")] = None,
    certificate: Annotated[
        Path | None,
        typer.Option(help="A PEM client certificate with its key (instead of --p8)."),
    ] = None,
    certificate_key: Annotated[
        Path | None, typer.Option(help="The certificate's PEM key, when not in its file.")
    ] = None,
    default_environment: Annotated[
        EnvironmentChoice, typer.Option(help="APS environment of devices that name none.")
    ] = EnvironmentChoice.production,
    apns_url: Annotated[
        str | None,
        typer.Option(help="APNs base URL for both environments (default: Apple's)."),
    ] = None,
    apns_url_development: Annotated[
        str | None, typer.Option(help="APNs base URL for the development environment.")
    ] = None,
    apns_url_production: Annotated[
        str | None, typer.Option(help="APNs base URL for the production environment.")
    ] = None,
    apns_ca: Annotated[
        Path | None, typer.Option(help="A CA (PEM) to trust for that APNs, e.g. the sandbox's.")
    ] = None,
    fcm_service_account: Annotated[
        Path | None,
        typer.Option(help="For Android: the Firebase service account's JSON key file."),
    ] = None,
    fcm_url: Annotated[
        str | None, typer.Option(help="FCM HTTP v1 base URL (default: Google's).")
    ] = None,
    fcm_ca: Annotated[Path | None, typer.Option(help="A CA (PEM) to trust for that FCM.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create or replace an app: what is not given returns to its default (no
    credentials, Apple's APNs). The server checks the key or certificate before storing
    it sealed; it is never shown again."""
    body: dict[str, Any] = {
        "bundle_id": bundle_id,
        "default_environment": default_environment.value,
        "apns_url": apns_url,
        "apns_url_development": apns_url_development,
        "apns_url_production": apns_url_production,
    }
    if p8 is not None and certificate is not None:
        fail("give --p8 or --certificate, not both")
    if p8 is not None:
        signing_key = _pem_file(p8, "--p8")
        named = KEY_FILE_NAME.search(p8.name)
        key_id = key_id or (named.group(1) if named else None)
        if key_id is None:
            fail(f"give --key-id: {p8.name} is not named AuthKey_<KEYID>.p8")
        if team_id is None:
            fail("--p8 needs --team-id (the 10-character team id in Apple's developer account)")
        body |= {"signing_key": signing_key, "key_id": key_id, "team_id": team_id}
    elif key_id is not None:
        fail("--key-id goes with --p8")
    elif team_id is not None:
        body["team_id"] = team_id
    if certificate is not None:
        pem = _pem_file(certificate, "--certificate")
        if certificate_key is not None:
            pem = pem.rstrip("\n") + "\n" + _pem_file(certificate_key, "--certificate-key")
        body["certificate"] = pem
    elif certificate_key is not None:
        fail("--certificate-key goes with --certificate")
    if apns_ca is not None:
        body["ca_pem"] = _pem_file(apns_ca, "--apns-ca")
    if fcm_service_account is not None:
        body["fcm_service_account"] = _json_file(fcm_service_account, "--fcm-service-account")
    if fcm_url is not None:
        body["fcm_url"] = fcm_url
    if fcm_ca is not None:
        body["fcm_ca_pem"] = _pem_file(fcm_ca, "--fcm-ca")
    app = api.request("PUT", f"/v1/apps/{name}", body)
    print_json(app) if as_json else show_app(app)


@operator_command(apps, "list")
def list_apps(
    api: ServerApi,
    as_json: JsonOption = False,
) -> None:
    """Every app of the deployment (never a secret)."""
    found = api.get("/v1/apps")
    if as_json:
        print_json(found)
    else:
        print_table(found, COLUMNS, "no apps yet (ringpush apps put NAME --bundle-id …)")


@operator_command(apps, "show")
def show(
    api: ServerApi,
    name: Annotated[str, typer.Argument(help="The app's id.")],
    as_json: JsonOption = False,
) -> None:
    """One app: bundle id, auth kind, key and team ids, where its pushes go."""
    app = api.get(f"/v1/apps/{name}")
    print_json(app) if as_json else show_app(app)


@operator_command(apps, "delete")
def delete(
    api: ServerApi,
    name: Annotated[str, typer.Argument(help="The app's id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask first.")] = False,
) -> None:
    """Delete an app with its devices, keys and calls."""
    if not yes:
        if not sys.stdin.isatty():
            fail(f"deleting {name!r} removes its devices and calls: pass --yes to confirm")
        typer.confirm(f"Delete app {name!r} with its devices and calls?", abort=True)
    api.request("DELETE", f"/v1/apps/{name}")
    typer.echo(f"deleted app {name}")
