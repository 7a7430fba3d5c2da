"""The one exception the local FCM's checks raise, and the error body FCM answers with.

Every error FCM HTTP v1 gives has the shape ``{"error": {"code", "message", "status",
"details"}}`` (docs/fcm.md §4). A refusal about the message names only its
:class:`~ringpush.fcm.error_codes.FcmErrorCode`: the HTTP status and the canonical
``status`` string come from that table, so the sandbox's answers cannot drift from what
ringpush's client classifies by, and the code travels in an ``FcmError`` detail.

Refusals about the caller (no credential, a bad or expired access token, no permission
on the project) carry no ``FcmError``: Google's front end answers them before FCM looks
at the message, and a client must be able to tell them apart (§3: refresh the access
token only on a 401 without one). :class:`AccessProblem` is their table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from ringpush.fcm.error_codes import FcmErrorCode
from ringpush.fcm.rules import Violation

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
QUOTA_FAILURE_TYPE = "type.googleapis.com/google.rpc.QuotaFailure"
ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"
#: What Google's ``ErrorInfo`` details name as the method and service (PyFCM #334).
SEND_METHOD = "google.firebase.fcm.v1.FcmService.SendMessage"
SERVICE = "fcm.googleapis.com"
#: Every FCM answer's type, error or not.
CONTENT_TYPE = "application/json; charset=UTF-8"
#: Google's wording for the observed too-big refusal (reown push-server #346).
TOO_BIG_MESSAGE = "Android message is too big"

_EXPECTED = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential."
    " See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


class AccessProblem(StrEnum):
    """A refusal of the caller, answered without an ``FcmError`` detail.

    Each member carries ``status``, ``canonical``, ``message`` (``{subject}``, the project
    or path, is filled in) and ``reason``, the ``ErrorInfo`` reason Google adds (None: no detail).
    """

    status: int
    canonical: str
    message: str
    reason: str | None

    def __new__(
        cls, wire: str, status: int, canonical: str, message: str, reason: str | None
    ) -> AccessProblem:
        member = str.__new__(cls, wire)
        member._value_ = wire
        member.status = status
        member.canonical = canonical
        member.message = message
        member.reason = reason
        return member

    # No Authorization header, or not a bearer one (laravel-firebase #254); Google's
    # APIs add an ErrorInfo CREDENTIALS_MISSING.
    CREDENTIALS_MISSING = (
        "CREDENTIALS_MISSING",
        401,
        "UNAUTHENTICATED",
        f"Request is missing required authentication credential. {_EXPECTED}",
        "CREDENTIALS_MISSING",
    )
    # A bearer token Google never issued. Which ErrorInfo (if any) comes with it is
    # unverified: none is sent.
    INVALID_CREDENTIALS = (
        "INVALID_CREDENTIALS",
        401,
        "UNAUTHENTICATED",
        f"Request had invalid authentication credentials. {_EXPECTED}",
        None,
    )
    # An access token past its lifetime (PyFCM #334): renew it and resend.
    ACCESS_TOKEN_EXPIRED = (
        "ACCESS_TOKEN_EXPIRED",
        401,
        "UNAUTHENTICATED",
        f"Request had invalid authentication credentials. {_EXPECTED}",
        "ACCESS_TOKEN_EXPIRED",
    )
    # The account has no IAM permission on the project in the URL (fcm-django #213).
    PERMISSION_DENIED = (
        "PERMISSION_DENIED",
        403,
        "PERMISSION_DENIED",
        "Permission 'cloudmessaging.messages.create' denied on resource"
        " '//cloudresourcemanager.googleapis.com/projects/{subject}' (or it may not exist).",
        None,
    )
    # A path or method FCM does not serve: no FcmError, so a client never takes it for a
    # dead token (ringpush.fcm.error_codes.action_for).
    NOT_FOUND = (
        "NOT_FOUND",
        404,
        "NOT_FOUND",
        "The requested URL {subject} was not found on this server.",
        None,
    )


class FcmRejected(Exception):
    """A request FCM would refuse: the error body's fields, plus response headers."""

    def __init__(
        self,
        status: int,
        canonical: str,
        message: str,
        details: Sequence[Mapping[str, Any]] = (),
        *,
        code: FcmErrorCode | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.canonical = canonical
        self.message = message
        self.details = [dict(detail) for detail in details]
        self.code = code
        self.headers = dict(headers or {})

    @classmethod
    def of(
        cls,
        code: FcmErrorCode,
        message: str,
        *details: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> FcmRejected:
        """A refusal FCM itself gives: status and ``status`` from the table, the code in
        an ``FcmError`` detail first (as in Firebase's error guide), then ``details``."""
        return cls(
            code.status,
            code.canonical,
            message,
            [fcm_error(code), *details],
            code=code,
            headers=headers,
        )

    @classmethod
    def access(cls, problem: AccessProblem, subject: str = "") -> FcmRejected:
        details = [error_info(problem.reason)] if problem.reason else []
        headers = {}
        if problem.status == 401:
            # Seen on a Google 401 (google-api-ruby-client #815).
            challenge = 'Bearer realm="https://accounts.google.com/"'
            if problem is not AccessProblem.CREDENTIALS_MISSING:
                challenge += ', error="invalid_token"'
            headers["WWW-Authenticate"] = challenge
        return cls(
            problem.status,
            problem.canonical,
            problem.message.format(subject=subject),
            details,
            headers=headers,
        )

    @classmethod
    def bad_request(
        cls, message: str, violations: Sequence[Mapping[str, str]], *, fcm: bool
    ) -> FcmRejected:
        """400 INVALID_ARGUMENT with a ``BadRequest``; ``fcm`` adds the ``FcmError``
        detail (FCM's own checks), without it the refusal is the JSON parser's."""
        detail = bad_request(violations)
        if fcm:
            return cls.of(FcmErrorCode.INVALID_ARGUMENT, message, detail)
        code = FcmErrorCode.INVALID_ARGUMENT
        return cls(code.status, code.canonical, message, [detail])

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.status,
                "message": self.message,
                "status": self.canonical,
                "details": self.details,
            }
        }


def fcm_error(code: FcmErrorCode) -> dict[str, Any]:
    return {"@type": FCM_ERROR_TYPE, "errorCode": code.value}


def bad_request(violations: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    return {"@type": BAD_REQUEST_TYPE, "fieldViolations": [dict(v) for v in violations]}


def quota_failure(subject: str, description: str) -> dict[str, Any]:
    return {
        "@type": QUOTA_FAILURE_TYPE,
        "violations": [{"subject": subject, "description": description}],
    }


def error_info(reason: str) -> dict[str, Any]:
    return {
        "@type": ERROR_INFO_TYPE,
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"method": SEND_METHOD, "service": SERVICE},
    }


def violation_sentence(violation: Violation) -> str:
    """One violation as FCM words it in the error's ``message``.

    The rules' descriptions are short; Google's parser prefixes unknown names with
    "Invalid JSON payload received." and puts the field into "Invalid value at …"
    (sygnal #387, Firebase's error guide). The too-big refusal has its own wording.
    """
    text = violation.description
    if violation.too_big:
        return TOO_BIG_MESSAGE
    if text.startswith("Unknown name"):
        return f"Invalid JSON payload received. {text}"
    if text.startswith("Invalid value ("):
        return text.replace("Invalid value", f"Invalid value at '{violation.field}'", 1)
    if text[:1].isupper():
        return text
    return f"{violation.field} {text}"


def rules_refusal(violations: Sequence[Violation]) -> FcmRejected:
    """400 for what :func:`ringpush.fcm.rules.message_violations` found: one sentence per
    violation, joined with newlines as Google joins them (sylk-pushserver #16)."""
    message = "\n".join(violation_sentence(v) for v in violations)
    return FcmRejected.bad_request(
        message,
        [{"field": v.field, "description": violation_sentence(v)} for v in violations],
        fcm=True,
    )
