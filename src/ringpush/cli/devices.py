"""``ringpush devices``: a user's registered devices (tokens masked, as the API shows
them), and a check of their tokens that rings nothing."""

from __future__ import annotations

from typing import Annotated

import typer

from ringpush.cli.output import Column, field, print_json, print_table, when
from ringpush.cli.root import new_group
from ringpush.cli.server_api import AppOption, JsonOption, ServerApi, chosen_app, operator_command

devices = new_group("A user's devices and their tokens (operator key).")

COLUMNS: list[Column] = [
    ("DEVICE", field("device_id")),
    ("PUSH TYPE", field("push_type")),
    ("ENVIRONMENT", field("environment")),
    ("TOKEN", field("token")),
    ("REGISTERED", lambda device: when(device.get("created_at"))),
    ("LAST SEEN", lambda device: when(device.get("last_seen_at"))),
]

CHECK_COLUMNS: list[Column] = [
    ("DEVICE", field("device_id")),
    ("PUSH TYPE", field("push_type")),
    ("ENVIRONMENT", field("environment")),
    ("VALID", field("valid")),
    ("VERDICT", field("verdict")),
]


@operator_command(devices, "list")
def list_devices(
    api: ServerApi,
    user: Annotated[str, typer.Argument(help="The user's id in the app.")],
    app: AppOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every device a user registered: one row per push type of each."""
    app_id = chosen_app(api, app)
    found = api.get(f"/v1/apps/{app_id}/users/{user}/devices")
    if as_json:
        print_json(found)
    else:
        print_table(found, COLUMNS, f"{user} has no devices in {app_id}")


@operator_command(devices, "check")
def check(
    api: ServerApi,
    user: Annotated[str, typer.Argument(help="The user's id in the app.")],
    device: Annotated[str, typer.Argument(help="The device's id.")],
    app: AppOption = None,
    as_json: JsonOption = False,
) -> None:
    """Say whether a device's tokens are valid, and for which environment, without
    ringing it (never a VoIP push: iOS would have to show a call)."""
    app_id = chosen_app(api, app)
    found = api.request("POST", f"/v1/apps/{app_id}/users/{user}/devices/{device}/check")
    if as_json:
        print_json(found)
    else:
        print_table(found, CHECK_COLUMNS, f"{device} has no tokens")
