"""``ringpush users``: an app's users, and the user tokens its app signs in with (what
the app's own backend mints in production; here for trying the SDK or curl)."""

from __future__ import annotations

from typing import Annotated

import typer

from ringpush.cli.output import print_fields, print_json
from ringpush.cli.root import new_group
from ringpush.cli.server_api import AppOption, JsonOption, ServerApi, chosen_app, operator_command

users = new_group("An app's users and their user tokens (operator key).")


@operator_command(users, "list")
def list_users(api: ServerApi, app: AppOption = None, as_json: JsonOption = False) -> None:
    """The users of an app that have registered a device."""
    app_id = chosen_app(api, app)
    found = api.get(f"/v1/apps/{app_id}/users")
    if as_json:
        print_json(found)
    elif not found:
        typer.echo(f"no users with devices in {app_id} yet")
    else:
        typer.echo("\n".join(found))


@operator_command(users, "tokens")
def tokens(
    api: ServerApi,
    user: Annotated[str, typer.Argument(help="The user's id in the app.")],
    app: AppOption = None,
    ttl: Annotated[int, typer.Option(help="Seconds the token is valid (60 to 604800).")] = 3600,
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Revoke the user's tokens minted until now instead.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Mint a user token (the app's sign-in to ringpush as this user), or --revoke them all."""
    app_id = chosen_app(api, app)
    if revoke:
        api.request("DELETE", f"/v1/apps/{app_id}/users/{user}/tokens")
        typer.echo(f"revoked every user token of {user} in {app_id} minted until now")
        return
    minted = api.request(
        "POST", f"/v1/apps/{app_id}/user-tokens", {"user_id": user, "ttl_seconds": ttl}
    )
    if as_json:
        print_json(minted)
    else:
        print_fields(
            [
                ("token", minted["token"]),
                ("user", minted["user_id"]),
                ("app", minted["app_id"]),
                ("expires in", f"{minted['expires_in']} s"),
            ]
        )
