"""A push on its way: the request, the caller's future, and what happened to it so far."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ringpush.apns.h2_session import PushAnswered
from ringpush.apns.jwt_signer import ProviderToken
from ringpush.apns.notification import PushRequest
from ringpush.apns.reasons import ApnsReason
from ringpush.apns.result import ApnsResult
from ringpush.apns.transport import TransportFailure


@dataclass(slots=True, eq=False)
class PendingPush:
    """Travels between the pool and its connections until the future is resolved.

    ``attempts`` counts the times the push was written to a connection; a push handed back
    (GOAWAY, reset stream, dropped connection) is written again with the same apns-id.
    """

    request: PushRequest
    future: asyncio.Future[ApnsResult]
    deadline: float
    attempts: int = 0
    token: ProviderToken | None = field(default=None, repr=False)
    auth_retried: bool = False
    submitted_at: float = 0.0
    last_error: str | None = None
    last_failure: TransportFailure | None = None
    #: Sent before every push that is not urgent (a call's VoIP push overtakes bulk).
    urgent: bool = False

    def resolve(self, result: ApnsResult) -> None:
        if not self.future.done():
            self.future.set_result(result)

    def fail(self, error: str, failure: TransportFailure) -> None:
        self.resolve(ApnsResult.no_response(self.request.apns_id, error, failure, self.attempts))

    def result_of(self, answer: PushAnswered) -> ApnsResult:
        reason = ApnsReason.parse(answer.reason) if answer.reason else None
        return ApnsResult(
            apns_id=answer.apns_id or self.request.apns_id,
            status=answer.status,
            reason=reason,
            reason_text=answer.reason,
            unique_id=answer.unique_id,
            timestamp_ms=answer.timestamp_ms,
            attempts=self.attempts,
        )
