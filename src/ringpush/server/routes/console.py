"""The push console (``/console``): a page of plain HTML, CSS and JavaScript shipped in
the package, signed in with the operator key, working through the same HTTP API as any
client. No request leaves for another host: the Content-Security-Policy allows this
origin only."""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from ringpush.apns.reasons import Action, ApnsReason
from ringpush.apns.transport import TransportFailure
from ringpush.server.error_codes import ErrorCode
from ringpush.server.errors import ApiError

router = APIRouter(include_in_schema=False)

ASSETS = resources.files("ringpush.server") / "console"
#: The page may load and talk to this origin only; the key it holds never reaches a
#: script of another origin, and no other site may frame it.
POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
    " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
FILES = {"console.js": "text/javascript", "console.css": "text/css"}

#: What ringpush does with each kind of answer, in the words the delivery log shows.
DID = {
    Action.DELIVERED: "Delivered to APNs.",
    Action.DROP_TOKEN: "ringpush removed the token (unless the app registered it again"
    " after the moment APNs gave), and sends nothing more to it.",
    Action.FIX_REQUEST: "ringpush recorded the failure and will not resend it unchanged:"
    " the request or the app's credentials need fixing.",
    Action.REFRESH_AUTH: "ringpush signed a new provider token and resent the push.",
    Action.RETRY_LATER: "ringpush resends with a growing backoff while the push is worth"
    " sending (a call's ring time, a push's expiration).",
}
SPECIAL = {
    ApnsReason.BAD_DEVICE_TOKEN: "ringpush tried the other APS environment once (a token"
    " of a debug build sent to production looks like this); where that worked it keeps"
    " the token there, otherwise it removed the token.",
}
TRANSPORT = {
    TransportFailure.CONNECT_FAILED: "No TCP connection to APNs (nothing listening, host"
    " unreachable). The lane backs off and probes until the endpoint answers.",
    TransportFailure.TLS_FAILED: "TCP connected but TLS failed (handshake refused,"
    " certificate not trusted). The lane backs off and probes.",
    TransportFailure.CONNECT_TIMEOUT: "The endpoint took TCP but never finished TLS. The"
    " lane backs off and probes.",
    TransportFailure.TIMEOUT: "APNs did not answer in time; ringpush resends with backoff.",
    TransportFailure.CONNECTION_LOST: "The connection dropped with the push in flight;"
    " ringpush resends it on a new one.",
    TransportFailure.STREAM_RESET: "APNs refused the stream without reading it; ringpush"
    " resends after a backoff.",
    TransportFailure.STREAM_PROTOCOL_ERROR: "APNs reset the stream as malformed: a final"
    " failure, never resent unchanged.",
    TransportFailure.CLIENT_CLOSED: "ringpush was stopping; the push went back to the"
    " outbox for another instance.",
}
#: ringpush's own reasons, by label (the page looks "ring time over" up as
#: ``ring_time_over``).
OWN = {
    "ring_time_over": "The call stopped ringing before the push could go: not sent.",
    "app_deleted": "The app was deleted before the push could go: not sent.",
}


def reasons() -> dict[str, dict[str, Any]]:
    """Every reason a delivery can carry, explained: APNs's, the transport's, ringpush's."""
    table: dict[str, dict[str, Any]] = {
        reason.value: {
            "status": reason.status,
            "meaning": reason.meaning,
            "did": SPECIAL.get(reason, DID[reason.action]),
        }
        for reason in ApnsReason
    }
    for failure, did in TRANSPORT.items():
        table[failure.value] = {"status": None, "meaning": "no answer from APNs", "did": did}
    for label, did in OWN.items():
        table[label] = {"status": None, "meaning": "not sent", "did": did}
    return table


@router.get("/console")
async def console_page() -> Response:
    return Response((ASSETS / "index.html").read_bytes(), media_type="text/html", headers=HEADERS)


@router.get("/console/reasons.json")
async def console_reasons() -> Response:
    return JSONResponse(reasons(), headers=HEADERS)


@router.get("/console/{name}")
async def console_asset(name: str) -> Response:
    media_type = FILES.get(name)
    if media_type is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no console file {name!r}")
    path = ASSETS / name
    return Response(path.read_bytes(), media_type=media_type, headers=HEADERS)
