"""APNs's answers as header blocks and bodies (docs/apns.md §5).

Success is ``:status 200`` with ``apns-id`` (and ``apns-unique-id`` in development) and
no body. An error carries ``content-type: application/json``, ``apns-id`` and
``{"reason": …}``, plus ``"timestamp"`` in milliseconds for 410. Error bodies are built
once per reason: the hot path only joins prebuilt pieces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ringpush.apns.reasons import ApnsReason

ResponseHeaders = list[tuple[bytes, bytes]]

_STATUS_200 = (b":status", b"200")
_JSON = (b"content-type", b"application/json")
_BODIES = {
    reason: json.dumps({"reason": reason.value}, separators=(",", ":")).encode()
    for reason in ApnsReason
}
_STATUSES = {reason: str(reason.status).encode() for reason in ApnsReason}


@dataclass(frozen=True, slots=True)
class Response:
    """What to do with one stream: answer it (after ``delay`` seconds) or drop the link.

    ``abort`` models the ``reset_after_streams`` fault: the push was stored, then the
    TCP connection is cut before the answer leaves.
    """

    headers: ResponseHeaders
    body: bytes = b""
    delay: float = 0.0
    abort: bool = False
    reason: ApnsReason | None = field(default=None, compare=False)


def success(apns_id: str, unique_id: str | None, delay: float = 0.0) -> Response:
    headers = [_STATUS_200, (b"apns-id", apns_id.encode())]
    if unique_id is not None:
        headers.append((b"apns-unique-id", unique_id.encode()))
    return Response(headers, delay=delay)


def rejection(
    reason: ApnsReason, apns_id: str, timestamp_ms: int | None = None, delay: float = 0.0
) -> Response:
    if timestamp_ms is None:
        body = _BODIES[reason]
    else:
        body = json.dumps(
            {"reason": reason.value, "timestamp": timestamp_ms}, separators=(",", ":")
        ).encode()
    headers = [(b":status", _STATUSES[reason]), _JSON, (b"apns-id", apns_id.encode())]
    return Response(headers, body, delay=delay, reason=reason)


def goaway_debug_data(reason: ApnsReason) -> bytes:
    """GOAWAY debug data as APNs sends it: the JSON object of an error body."""
    return _BODIES[reason]
