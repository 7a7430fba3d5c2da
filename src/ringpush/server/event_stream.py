"""Server-sent event streams (the call's events, the live delivery log): the response
class, the wire format, the per-holder cap and how OpenAPI documents each event."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse

from ringpush.server.error_codes import ErrorCode
from ringpush.server.errors import SCHEMA_REF_TEMPLATE, ApiError
from ringpush.server.state import ServerState

#: Comment lines keep idle event streams open through proxies.
KEEPALIVE_SECONDS = 15.0
KEEPALIVE = b": keep-alive\n\n"
#: The delivery log's first bytes, once the stream follows the answers: a client that
#: waits for them knows no answer given from then on will be missed.
FOLLOWING = b": following\n\n"


class EventStream(StreamingResponse):
    media_type = "text/event-stream"


def sse(event: str, data: object) -> bytes:
    """One event, its data as JSON."""
    return f"event: {event}\ndata: ".encode() + json.dumps(data).encode() + b"\n\n"


def documented_events(event: str, model: str) -> dict[str, object]:
    """The ``content`` of a stream's 200 answer as OpenAPI 3.1 documents server-sent
    events: each is ``event: <event>`` with a ``model`` (a component) as JSON in its
    ``data``; ``: keep-alive`` comments come between."""
    return {
        EventStream.media_type: {
            "schema": {
                "type": "object",
                "required": ["event", "data"],
                "properties": {
                    "event": {"const": event},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {"$ref": SCHEMA_REF_TEMPLATE.format(model=model)},
                    },
                },
            }
        }
    }


def counted(state: ServerState, holder: str | None, events: AsyncIterator[bytes]) -> EventStream:
    """``events`` as a response, at most ``max_event_streams_per_user`` open per
    ``holder`` at once (429 ``too_many_streams`` beyond); None: not counted."""
    if holder is None:
        return EventStream(events)
    if state.open_streams[holder] >= state.max_event_streams_per_user:
        raise ApiError(
            ErrorCode.TOO_MANY_STREAMS,
            f"already {state.max_event_streams_per_user} event streams open here,"
            " the most allowed: close one first",
            headers={"Retry-After": "1"},
        )

    async def stream() -> AsyncIterator[bytes]:
        # Counted while it runs (a stream whose client left before it started never
        # runs, and is never counted).
        state.open_streams[holder] += 1
        try:
            async for chunk in events:
                yield chunk
        finally:
            state.open_streams[holder] -= 1
            if state.open_streams[holder] <= 0:
                del state.open_streams[holder]

    return EventStream(stream())
