"""Sans-IO validation of one send: a chain of small checks (docs/fcm.md §7).

FCM's own order is unknown; this one is the reference's proposal:

1. **bearer** (:class:`~ringpush.sandbox.fcm.access_tokens.SenderAuth`): who sends, and
   may they send for the project in the URL (id or number) — before anything else, so a
   caller that is not authenticated learns nothing of tokens;
2. **JSON** (:func:`parse_send_request`): a UTF-8 JSON object whose top-level fields are
   ``message`` and ``validate_only``; the parser's refusals carry a ``BadRequest`` but no
   ``FcmError`` (Google's front end answers them, not FCM);
3. **rules** (:func:`check_rules`): :func:`ringpush.fcm.rules.message_violations`, the
   same rules ringpush's client applies before sending;
4. **target** (:func:`check_target`): a token this sandbox issued, for this project
   (``SENDER_ID_MISMATCH`` otherwise), still live (``UNREGISTERED`` otherwise);
5. **package** (:func:`check_package_restriction`): ``restricted_package_name`` is the
   token's app.

Each check raises :class:`~ringpush.sandbox.fcm.rejection.FcmRejected`; the HTTP layer
only translates. Rate limits and faults come after, in the core: they depend on state
and luck, not on the request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ringpush.fcm.error_codes import FcmErrorCode
from ringpush.fcm.rules import message_violations
from ringpush.sandbox.fcm.access_tokens import AccessToken, SenderAuth
from ringpush.sandbox.fcm.accounts import Project, Projects
from ringpush.sandbox.fcm.registrations import Registration, Registrations
from ringpush.sandbox.fcm.rejection import FcmRejected, rules_refusal

#: The fields of the send request's body (snake_case, as the REST reference and every
#: client spell them; whether FCM takes ``validateOnly`` too is unverified).
REQUEST_FIELDS = frozenset({"message", "validate_only"})
#: Firebase's and Google's integration tests expect these answers (§1).
NOT_FOUND_MESSAGE = "Requested entity was not found."
SENDER_ID_MISMATCH_MESSAGE = "SenderId mismatch"
INVALID_ARGUMENT_MESSAGE = "Request contains an invalid argument."


@dataclass(frozen=True, slots=True)
class SendRequest:
    message: Any
    validate_only: bool


@dataclass(frozen=True, slots=True)
class ValidSend:
    """A send that passed every check: what FCM would accept."""

    project: Project
    sender: AccessToken
    message: Mapping[str, Any]
    validate_only: bool
    #: The target's kind: ``token``, ``topic``, ``condition`` or ``fid``.
    target: str
    #: The token's registration; None for topics and conditions (no fan-out here).
    registration: Registration | None


def _parser_refusal(description: str, field: str | None = None) -> FcmRejected:
    violation = (
        {"description": description}
        if field is None
        else {"field": field, "description": description}
    )
    return FcmRejected.bad_request(description, [violation], fcm=False)


def parse_send_request(body: bytes) -> SendRequest:
    """The body as FCM's JSON parser reads it: a repeated key's last value wins (§1)."""
    try:
        value = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise _parser_refusal("Invalid JSON payload received. Invalid UTF-8.") from None
    except json.JSONDecodeError as exc:
        raise _parser_refusal(
            f"Invalid JSON payload received. {exc.msg} at line {exc.lineno} column {exc.colno}."
        ) from None
    except RecursionError:
        raise _parser_refusal("Invalid JSON payload received. Nesting too deep.") from None
    if not isinstance(value, dict):
        raise _parser_refusal(
            "Invalid JSON payload received. Expected an object (the SendMessageRequest)."
        )
    for name in value:
        if name not in REQUEST_FIELDS:
            raise _parser_refusal(
                f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
            )
    validate_only = value.get("validate_only", False)
    if not isinstance(validate_only, bool):
        raise _parser_refusal(
            f"Invalid value at 'validate_only' (TYPE_BOOL), {json.dumps(validate_only)}",
            "validate_only",
        )
    return SendRequest(value.get("message"), validate_only)


def check_rules(message: Any) -> Mapping[str, Any]:
    """Every rule ringpush knows FCM applies; a missing ``message`` is one of them."""
    violations = message_violations(message)
    if violations:
        raise rules_refusal(violations)
    assert isinstance(message, Mapping)  # message_violations refuses anything else
    return message


def target_of(message: Mapping[str, Any]) -> str:
    """The one target the rules let through."""
    return next(name for name in ("token", "topic", "condition", "fid") if message.get(name))


def check_target(
    message: Mapping[str, Any], project: Project, registrations: Registrations
) -> tuple[str, Registration | None]:
    """A token (or FID: the sandbox issues none, so every one is unknown) must be one this
    sandbox issued for ``project``, and live.

    Any non-empty string is looked up, never checked for form (§6: tokens are opaque). A
    token never issued is UNREGISTERED, as live FCM answers a well-formed unknown token
    and a bogus FID (§1). Topics and conditions are accepted without a fan-out.
    """
    target = target_of(message)
    if target not in ("token", "fid"):
        return target, None
    registration = registrations.get(message[target])
    if registration is None:
        raise FcmRejected.of(FcmErrorCode.UNREGISTERED, NOT_FOUND_MESSAGE)
    if registration.project_id != project.project_id:
        raise FcmRejected.of(FcmErrorCode.SENDER_ID_MISMATCH, SENDER_ID_MISMATCH_MESSAGE)
    if not registration.live:
        raise FcmRejected.of(FcmErrorCode.UNREGISTERED, NOT_FOUND_MESSAGE)
    return target, registration


def check_package_restriction(
    message: Mapping[str, Any], registration: Registration | None
) -> None:
    """``android.restricted_package_name`` must be the token's app (§1: "invalid package
    name"). The answer does not say "registration token": ringpush's client drops a
    token only when an INVALID_ARGUMENT names it, and this token is fine."""
    android = message.get("android")
    wanted = android.get("restricted_package_name") if isinstance(android, Mapping) else None
    if wanted is None or registration is None or wanted == registration.package:
        return
    field = "message.android.restricted_package_name"
    raise FcmRejected.bad_request(
        INVALID_ARGUMENT_MESSAGE,
        [{"field": field, "description": f"Invalid package name {wanted!r} for this target"}],
        fcm=True,
    )


class SendValidator:
    """The chain for ``POST /v1/projects/{project}/messages:send``."""

    def __init__(self, auth: SenderAuth, projects: Projects, registrations: Registrations) -> None:
        self._auth = auth
        self._projects = projects
        self._registrations = registrations

    def validate(self, project_ref: str, authorization: str | None, body: bytes) -> ValidSend:
        sender = self._auth.identify(authorization)
        project = self._projects.resolve(project_ref)
        self._auth.authorize(sender, project, project_ref)
        assert project is not None  # authorize refuses an unknown project
        request = parse_send_request(body)
        message = check_rules(request.message)
        target, registration = check_target(message, project, self._registrations)
        check_package_restriction(message, registration)
        return ValidSend(project, sender, message, request.validate_only, target, registration)
