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
"""

from __future__ import annotations

from typing import Any

import h2.events
import hypercorn.protocol
from hypercorn.protocol.h2 import H2Protocol as _HypercornH2Protocol


class H2Protocol(_HypercornH2Protocol):
    async def _handle_events(self, events: list[Any]) -> None:
        kept = []
        for event in events:
            if isinstance(event, h2.events.DataReceived) and event.stream_id not in self.streams:
                self.connection.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id
                )
                continue
            kept.append(event)
        await super()._handle_events(kept)


def install() -> None:
    """Make hypercorn speak HTTP/2 with :class:`H2Protocol` (idempotent)."""
    hypercorn.protocol.H2Protocol = H2Protocol  # type: ignore[attr-defined]
