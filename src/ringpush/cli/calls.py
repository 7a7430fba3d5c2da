"""``ringpush calls``: place a call to a user (every device rings at once), watch it, end
it, look at it: what the calling service does, done by the operator for one app."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from ringpush.cli.output import Column, field, print_fields, print_json, print_table, when
from ringpush.cli.root import new_group
from ringpush.cli.server_api import AppOption, JsonOption, ServerApi, chosen_app, operator_command

calls = new_group("Place, follow, end and show calls (operator key, acting for one app).")

DELIVERY_COLUMNS: list[Column] = [
    ("DEVICE", field("device_id")),
    ("PUSH TYPE", field("push_type")),
    ("ENVIRONMENT", field("environment")),
    ("STATE", field("state")),
    ("STATUS", field("status")),
    ("REASON", field("reason")),
    ("APNS ID", field("apns_id")),
]


FollowOption = Annotated[
    bool, typer.Option("--follow", help="Then print each change until it stops ringing.")
]


class EndReason(StrEnum):
    """Why the calling service ends a call (the API's ``reason``)."""

    canceled = "canceled"
    timeout = "timeout"
    declined = "declined"
    answered_elsewhere = "answered-elsewhere"


def show_call(call: dict[str, Any]) -> None:
    print_fields(
        [
            ("call", call["call_id"]),
            ("state", call["state"]),
            ("callee", call["callee_user_id"]),
            ("caller", f"{call['caller_id']} ({call['caller_name']})"),
            ("video", call["video"]),
            ("rings until", when(call["ring_until"])),
            ("ended because", call["end_reason"]),
            ("ended on device", call["ended_by_device"]),
            ("pushes withdrawn", call.get("withdrawn") or None),
        ]
    )
    if call["deliveries"]:
        typer.echo("")
        print_table(call["deliveries"], DELIVERY_COLUMNS, "")


@operator_command(calls, "place")
def place(
    api: ServerApi,
    user: Annotated[str, typer.Argument(help="The callee's user id.")],
    app: AppOption = None,
    caller_id: Annotated[str, typer.Option(help="Who calls (shown by CallKit).")] = "ringpush",
    caller_name: Annotated[str, typer.Option(help="The caller's display name.")] = "ringpush CLI",
    video: Annotated[bool, typer.Option("--video", help="A video call.")] = False,
    ring_timeout: Annotated[
        int, typer.Option(help="Seconds the devices ring before the call times out (5 to 600).")
    ] = 60,
    call_id: Annotated[str | None, typer.Option(help="Its id (default: a new UUID).")] = None,
    follow: FollowOption = False,
    as_json: JsonOption = False,
) -> None:
    """Ring every device of the callee at once; print each device's first answer."""
    app_id = chosen_app(api, app)
    body: dict[str, Any] = {
        "callee_user_id": user,
        "caller_id": caller_id,
        "caller_name": caller_name,
        "video": video,
        "ring_timeout_seconds": ring_timeout,
    }
    if call_id is not None:
        body["call_id"] = call_id
    call = api.request("POST", "/v1/calls", body, query={"app_id": app_id})
    print_json(call) if as_json else show_call(call)
    if follow:
        _follow(api, app_id, call["call_id"], as_json)


def _follow(api: ServerApi, app_id: str, call_id: str, as_json: bool) -> None:
    """The call's events until it is answered or ends (the first is its state now)."""
    for event, data in api.events(f"/v1/calls/{call_id}/events", app_id=app_id):
        if event != "call":
            continue
        if as_json:
            print_json(data)
        else:
            why = f" ({data['reason']})" if data.get("reason") else ""
            on = f" on {data['device_id']}" if data.get("device_id") else ""
            typer.echo(f"{call_id}: {data['state']}{why}{on}")
        if data["state"] != "ringing":
            return


@operator_command(calls, "end")
def end(
    api: ServerApi,
    call_id: Annotated[str, typer.Argument(help="The call's id.")],
    app: AppOption = None,
    reason: Annotated[EndReason, typer.Option(help="Why it ends.")] = EndReason.canceled,
    as_json: JsonOption = False,
) -> None:
    """End a call: no VoIP push (iOS would show a new call); the devices learn it from
    the call's events, unsent pushes are withdrawn."""
    app_id = chosen_app(api, app)
    call = api.request(
        "POST", f"/v1/calls/{call_id}/end", {"reason": reason.value}, query={"app_id": app_id}
    )
    print_json(call) if as_json else show_call(call)


@operator_command(calls, "show")
def show(
    api: ServerApi,
    call_id: Annotated[str, typer.Argument(help="The call's id.")],
    app: AppOption = None,
    follow: FollowOption = False,
    as_json: JsonOption = False,
) -> None:
    """A call's state and every push it sent, with APNs' answers."""
    app_id = chosen_app(api, app)
    call = api.get(f"/v1/calls/{call_id}", app_id=app_id)
    print_json(call) if as_json else show_call(call)
    if follow:
        _follow(api, app_id, call_id, as_json)
