"""The one exception the sandbox's checks raise: APNs would refuse this push.

The checks name only the :class:`ApnsReason`; the HTTP status comes from
``ApnsReason.status``, so the answer on the wire can never disagree with the reason
table the client classifies by.
"""

from __future__ import annotations

from ringpush.apns.reasons import ApnsReason


class Rejected(Exception):
    """A push APNs would refuse with ``reason``.

    ``timestamp_ms`` is set for ``410 Unregistered``: when the token was found invalid,
    in milliseconds since the epoch, as APNs writes it. ``apns_id`` is filled in by the
    validator once the request's id is known, so the response can echo it.
    """

    def __init__(self, reason: ApnsReason, *, timestamp_ms: int | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.timestamp_ms = timestamp_ms
        self.apns_id: str | None = None

    @property
    def status(self) -> int:
        return self.reason.status
