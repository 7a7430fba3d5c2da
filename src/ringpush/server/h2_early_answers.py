"""HTTP/2 requests answered before their body is in, without losing the connection.

ringpush answers many requests before reading their body: 401 for a missing credential
(authentication comes first), 413 for a declared length over the cap, 408 for a body
too slow. On HTTP/2 the client may still be sending that body when the answer has gone
out and the stream is closed. hypercorn (up to 0.18 at least) looks such DATA frames up
among its open streams unguarded: the ``KeyError`` ends the whole connection, and every
other request multiplexed on it fails with it (pgjones/hypercorn PRs 312, 334 and 365
propose the guard below; none is released). Until one is, ringpush serves HTTP/2 with
:class:`H2Protocol` here: data for a stream already answered is counted against the
connection's flow-control window (so the peer can keep sending on other streams) and
dropped, as hypercorn already does for the end of such a stream.

A client may also stop its body short once it has the answer (curl does: it ends the
stream with fewer bytes than its ``content-length``). The h2 library checks that length
on every stream it still tracks and calls a short one a connection error (GOAWAY
PROTOCOL_ERROR), which again fails every request on the connection, and curl's next one.
Once ringpush has answered a stream, the length of the rest of its body no longer
matters: :meth:`H2Protocol._close_stream` stops h2 checking it.
"""

from __future__ import annotations

from typing import Any

import h2.events
import hypercorn.protocol
from hypercorn.protocol.h2 import H2Protocol as _HypercornH2Protocol


class H2Protocol(_HypercornH2Protocol):
    async def _handle_events(self, events: list[Any]) -> None:
        # A stream opened in this same batch (headers and body read at once) is not yet
        # among hypercorn's streams: its data is the request's body, not a late one.
        opened = {e.stream_id for e in events if isinstance(e, h2.events.RequestReceived)}
        kept = []
        for event in events:
            if (
                isinstance(event, h2.events.DataReceived)
                and event.stream_id not in self.streams
                and event.stream_id not in opened
            ):
                self.connection.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id
                )
                continue
            kept.append(event)
        await super()._handle_events(kept)

    async def _close_stream(self, stream_id: int) -> None:
        await super()._close_stream(stream_id)
        answered = self.connection.streams.get(stream_id)  # the peer has not ended it yet
        if answered is not None:
            answered._expected_content_length = None  # h2 has no public way to say it


def install() -> None:
    """Make hypercorn speak HTTP/2 with :class:`H2Protocol` (idempotent)."""
    hypercorn.protocol.H2Protocol = H2Protocol  # type: ignore[attr-defined]
