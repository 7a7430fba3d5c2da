"""The local FCM's behaviour for one request, independent of sockets.

It runs the token endpoint's checks or the send validation chain, then the rate limits
and the fault knobs, records what was accepted and returns the :class:`Answer` the
HTTP layer writes out. Everything shared by all connections (projects, accounts,
tokens, records, faults, the clock) lives here.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ringpush.fcm.error_codes import FcmErrorCode
from ringpush.sandbox.fcm import oauth
from ringpush.sandbox.fcm.access_tokens import AccessTokens, BearerAuth
from ringpush.sandbox.fcm.accounts import Accounts, Projects
from ringpush.sandbox.fcm.faults import FcmFaults
from ringpush.sandbox.fcm.limits import DEFAULT_PROJECT_PER_MINUTE, DEVICE_LIMITS, RateLimits
from ringpush.sandbox.fcm.records import MessageRecord, MessageStore, Stats
from ringpush.sandbox.fcm.registrations import Registrations
from ringpush.sandbox.fcm.rejection import (
    CONTENT_TYPE,
    AccessProblem,
    FcmRejected,
    quota_failure,
)
from ringpush.sandbox.fcm.validation import SENDER_ID_MISMATCH_MESSAGE, SendValidator, ValidSend

#: What a ``validate_only`` send is answered with (Google's fixtures, §1).
DRY_RUN_ID = "fake_message_id"
_OAUTH_CONTENT_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Answer:
    """What to write back; ``drop`` closes the connection without answering."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    drop: bool = False


def _json(
    status: int, body: Any, content_type: str, headers: Mapping[str, str] | None = None
) -> Answer:
    encoded = json.dumps(body, ensure_ascii=False).encode()
    extra = tuple(headers.items()) if headers else ()
    return Answer(status, encoded, (("content-type", content_type), *extra))


def refusal(exc: FcmRejected, delay: float = 0.0) -> Answer:
    """The error answer for ``exc``, in FCM's shape and content type."""
    answer = _json(exc.status, exc.body(), CONTENT_TYPE, exc.headers)
    return Answer(answer.status, answer.body, answer.headers, delay)


def fresh_message_id(now: float) -> str:
    """Shaped like Firebase's sample ``0:1500415314455276%31bd1c9631bd1c96``."""
    half = secrets.token_hex(4)
    return f"0:{int(now * 1_000_000)}%{half}{half}"


#: What live FCM answers for a malformed registration token (docs/fcm.md §1).
INVALID_TOKEN_MESSAGE = "The registration token is not a valid FCM registration token"


class FcmCore:
    def __init__(
        self,
        *,
        clock: Callable[[], float],
        faults: FcmFaults | None = None,
        rng: random.Random | None = None,
        access_token_lifetime: float = 3600.0,
        device_limits: Sequence[tuple[float, int]] = DEVICE_LIMITS,
        project_per_minute: int | None = DEFAULT_PROJECT_PER_MINUTE,
        accept_google_audience: bool = False,
    ) -> None:
        self.clock = clock
        self.faults = faults if faults is not None else FcmFaults()
        self.projects = Projects()
        self.accounts = Accounts()
        self.access_tokens = AccessTokens(clock, access_token_lifetime)
        self.registrations = Registrations()
        self.records = MessageStore()
        self.stats = Stats()
        self.limits = RateLimits(device_limits=device_limits, project_per_minute=project_per_minute)
        #: Also take assertions whose ``aud`` is Google's token URL, which google-auth
        #: (and so the Admin SDK) always signs whatever the key file's ``token_uri``.
        self.accept_google_audience = accept_google_audience
        #: The sandbox's own token URL, the ``aud`` assertions must name (set at start).
        self.token_url = ""
        self._rng = rng or random.Random()
        self._validator = SendValidator(
            BearerAuth(self.access_tokens, clock), self.projects, self.registrations
        )
        #: Called with every accepted, delivered message (the simulated devices' hook).
        self.on_accepted: Callable[[MessageRecord], None] | None = None

    # -- POST /token ------------------------------------------------------------------------

    def exchange(self, content_type: str | None, body: bytes) -> Answer:
        if self.faults.token_endpoint_down:
            self.stats.faults_applied["token_endpoint_down"] += 1
            down = {"error": "temporarily_unavailable", "error_description": "Service unavailable."}
            return _json(503, down, _OAUTH_CONTENT_TYPE, {"retry-after": "1"})
        audiences = {self.token_url}
        if self.accept_google_audience:
            audiences.add(oauth.GOOGLE_TOKEN_URL)
        try:
            assertion = oauth.assertion_from_form(content_type, body)
            grant = oauth.verify_assertion(assertion, self.accounts, audiences, self.clock())
        except oauth.GrantRefused as exc:
            self.stats.grants_refused[exc.error] += 1
            return _json(exc.status, exc.body(), _OAUTH_CONTENT_TYPE)
        token = self.access_tokens.issue(grant.key.client_email, grant.key.project_id, grant.scopes)
        self.stats.access_tokens_issued += 1
        answer = {
            "access_token": token.token,
            "expires_in": self.access_tokens.expires_in,
            "token_type": "Bearer",
        }
        return _json(200, answer, _OAUTH_CONTENT_TYPE, {"cache-control": "no-store"})

    # -- POST /v1/projects/{project}/messages:send ------------------------------------------

    def send(self, project_ref: str, authorization: str | None, body: bytes) -> Answer:
        faults = self.faults
        delay = faults.latency_ms / 1000.0
        dropped = bool(faults.drop_rate) and self._rng.random() < faults.drop_rate
        if dropped and not faults.drop_accepted:
            self.stats.faults_applied["drop"] += 1
            return Answer(0, delay=delay, drop=True)
        try:
            valid = self._validator.validate(project_ref, authorization, body)
            if faults.active:
                self._inject(faults)
            if not valid.validate_only:
                self._admit(valid)
        except FcmRejected as exc:
            self.stats.rejected[exc.code.value if exc.code else exc.canonical] += 1
            return refusal(exc, delay)
        name = self._accept(valid)
        if dropped:
            self.stats.faults_applied["drop_accepted"] += 1
            return Answer(0, delay=delay, drop=True)
        answer = _json(200, {"name": name}, CONTENT_TYPE)
        return Answer(answer.status, answer.body, answer.headers, delay)

    def _inject(self, faults: FcmFaults) -> None:
        """Turn a valid send into the failure a knob asks for."""
        retry_after = faults.retry_after_seconds
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        if faults.third_party_auth_error:
            self.stats.faults_applied["third_party_auth_error"] += 1
            raise FcmRejected.of(
                FcmErrorCode.THIRD_PARTY_AUTH_ERROR, "Auth error from APNS or Web Push Service"
            )
        if faults.sender_id_mismatch:
            self.stats.faults_applied["sender_id_mismatch"] += 1
            raise FcmRejected.of(FcmErrorCode.SENDER_ID_MISMATCH, SENDER_ID_MISMATCH_MESSAGE)
        if faults.invalid_token:
            self.stats.faults_applied["invalid_token"] += 1
            raise FcmRejected.of(FcmErrorCode.INVALID_ARGUMENT, INVALID_TOKEN_MESSAGE)
        if faults.quota_exceeded:
            self.stats.faults_applied["quota_exceeded"] += 1
            raise FcmRejected.of(
                FcmErrorCode.QUOTA_EXCEEDED,
                "Quota exceeded.",
                quota_failure("fault", "Quota exceeded (injected)"),
                headers=headers or {"retry-after": "60"},
            )
        if faults.error_rate and self._rng.random() < faults.error_rate:
            if faults.error_status == 503:
                self.stats.faults_applied["unavailable"] += 1
                raise FcmRejected.of(
                    FcmErrorCode.UNAVAILABLE,
                    "The service is currently unavailable.",
                    headers=headers,
                )
            self.stats.faults_applied["internal"] += 1
            raise FcmRejected.of(FcmErrorCode.INTERNAL, "Internal error encountered.")

    def _admit(self, valid: ValidSend) -> None:
        instance = valid.registration.instance_id if valid.registration else None
        throttled = self.limits.admit(valid.project.project_id, instance, self.clock())
        if throttled is not None:
            raise FcmRejected.of(
                FcmErrorCode.QUOTA_EXCEEDED,
                throttled.description,
                quota_failure(throttled.subject, throttled.description),
                headers={"retry-after": str(throttled.retry_after)},
            )

    def _accept(self, valid: ValidSend) -> str:
        prefix = f"projects/{valid.project.project_id}/messages/"
        if valid.validate_only:
            self.stats.validated_only += 1
            return prefix + DRY_RUN_ID
        now = self.clock()
        name = prefix + fresh_message_id(now)
        registration = valid.registration
        record = MessageRecord(
            name,
            valid.project.project_id,
            valid.target,
            registration.token if registration else None,
            valid.message,
            now,
            valid.sender.client_email,
        )
        self.records.add(record)
        self.stats.accepted += 1
        if self.on_accepted is not None:
            self.on_accepted(record)
        return name

    def not_found(self, path: str) -> Answer:
        """A path or method FCM does not serve, in FCM's error shape."""
        return refusal(FcmRejected.access(AccessProblem.NOT_FOUND, path), 0.0)

    def reset(self) -> None:
        """Forget accepted messages, counters, rate windows and faults; accounts and
        tokens stay."""
        self.records.clear()
        self.stats.clear()
        self.limits.clear()
        self.faults.clear()
