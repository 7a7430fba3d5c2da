"""``ringpush deliveries``: the delivery log, every push with APNs' answer, newest last;
``--follow`` keeps printing them as APNs answers."""

from __future__ import annotations

import functools
from typing import Annotated, Any

import typer

from ringpush.cli.output import Column, field, print_json, print_table, shown, when
from ringpush.cli.server_api import JsonOption, ServerApi

COLUMNS: list[Column] = [
    ("TIME", lambda push: when(push.get("updated_at"))),
    ("APP", field("app_id")),
    ("USER", field("user_id")),
    ("DEVICE", field("device_id")),
    ("PUSH TYPE", field("push_type")),
    ("STATE", field("state")),
    ("STATUS", field("status")),
    ("REASON", field("reason")),
    ("CALL", field("call_id")),
    ("APNS ID", field("apns_id")),
]


def _line(push: dict[str, Any]) -> str:
    """One followed delivery, as one line of the table's columns."""
    return "  ".join(shown(value(push)) for _, value in COLUMNS)


def deliveries(
    api: ServerApi,
    app: Annotated[
        str | None,
        typer.Option("--app", envvar="RINGPUSH_APP", help="Only this app's (default: every app)."),
    ] = None,
    call: Annotated[str | None, typer.Option("--call", help="Only this call's.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's.")] = None,
    device: Annotated[str | None, typer.Option("--device", help="Only this device's.")] = None,
    limit: Annotated[int, typer.Option(help="The newest this many (1 to 1000).")] = 50,
    follow: Annotated[
        bool,
        typer.Option("--follow", help="Then print each push as APNs answers it, until Ctrl-C."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """The delivery log: each push, its state and APNs' status and reason, oldest first."""
    found = api.get(
        "/v1/deliveries", app_id=app, call_id=call, user_id=user, device_id=device, limit=limit
    )
    if as_json:
        print_json(found)
    else:
        print_table(found, COLUMNS, "no deliveries match" if not follow else "")
    if not follow:
        return
    wanted = {"call_id": call, "user_id": user, "device_id": device}
    try:
        following = "following the delivery log (Ctrl-C to stop)"
        opened = functools.partial(typer.echo, following, err=True)
        for event, data in api.events("/v1/deliveries/events", opened, app_id=app):
            if event == "lost":
                typer.echo(f"({data['count']} deliveries missed: this terminal fell behind)")
            elif all(value in (None, data.get(name)) for name, value in wanted.items()):
                print_json(data) if as_json else typer.echo(_line(data))
    except KeyboardInterrupt:
        return
