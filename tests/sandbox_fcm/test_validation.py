"""The send chain's checks without a network: bearer, JSON, rules, target, package."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ringpush.fcm.error_codes import FcmErrorCode
from ringpush.sandbox.fcm.access_tokens import AccessTokens, BearerAuth
from ringpush.sandbox.fcm.accounts import Projects
from ringpush.sandbox.fcm.registrations import EndReason, Registrations
from ringpush.sandbox.fcm.rejection import (
    BAD_REQUEST_TYPE,
    FCM_ERROR_TYPE,
    AccessProblem,
    FcmRejected,
)
from ringpush.sandbox.fcm.validation import SendValidator, parse_send_request
from tests.sandbox_fcm.conftest import MESSAGING_SCOPE, OTHER_PROJECT, PACKAGE, PROJECT, Clock


class World:
    """A validator over a clock, two projects, one account's access token and tokens."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.projects = Projects()
        self.project = self.projects.ensure(PROJECT)
        self.projects.ensure(OTHER_PROJECT)
        self.access = AccessTokens(self.clock, lifetime=60)
        self.registrations = Registrations()
        self.validator = SendValidator(
            BearerAuth(self.access, self.clock), self.projects, self.registrations
        )
        email = f"pusher@{PROJECT}.iam.gserviceaccount.com"
        issued = self.access.issue(email, PROJECT, frozenset({MESSAGING_SCOPE}))
        self.authorization = f"Bearer {issued.token}"
        self.token = self.registrations.issue(PROJECT, PACKAGE, "phone-1", self.clock()).token

    def refused(
        self, body: Any, *, project: str = PROJECT, authorization: str | None = None
    ) -> FcmRejected:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        with pytest.raises(FcmRejected) as caught:
            self.validator.validate(project, authorization or self.authorization, raw)
        return caught.value


@pytest.fixture
def world() -> World:
    return World()


def codes(rejection: FcmRejected) -> list[str]:
    return [d["errorCode"] for d in rejection.details if d["@type"] == FCM_ERROR_TYPE]


def violations(rejection: FcmRejected) -> list[dict[str, str]]:
    found = [d for d in rejection.details if d["@type"] == BAD_REQUEST_TYPE]
    assert len(found) == 1
    result: list[dict[str, str]] = found[0]["fieldViolations"]
    return result


def test_a_valid_token_message_passes(world: World) -> None:
    body = json.dumps({"message": {"token": world.token, "data": {"a": "b"}}}).encode()
    valid = world.validator.validate(PROJECT, world.authorization, body)
    assert valid.registration is not None and valid.registration.package == PACKAGE
    assert valid.validate_only is False


def test_the_project_number_names_the_project_too(world: World) -> None:
    body = json.dumps({"message": {"token": world.token}}).encode()
    valid = world.validator.validate(world.project.number, world.authorization, body)
    assert valid.project.project_id == PROJECT


@pytest.mark.parametrize(
    ("authorization", "problem"),
    [
        (None, AccessProblem.CREDENTIALS_MISSING),
        ("Basic dXNlcjpwYXNz", AccessProblem.CREDENTIALS_MISSING),
        ("Bearer ", AccessProblem.CREDENTIALS_MISSING),
        ("Bearer ya29.never-issued", AccessProblem.INVALID_CREDENTIALS),
    ],
)
def test_bearer_problems_come_before_anything_else(
    world: World, authorization: str | None, problem: AccessProblem
) -> None:
    """Even a request with bad JSON learns only about its credential."""
    with pytest.raises(FcmRejected) as caught:
        world.validator.validate(PROJECT, authorization, b"{not json")
    rejection = caught.value
    assert (rejection.status, rejection.canonical) == (problem.status, problem.canonical)
    assert rejection.code is None and not codes(rejection)


def test_an_expired_token_gets_an_error_info_detail(world: World) -> None:
    world.clock.advance(61)
    rejection = world.refused({"message": {"token": world.token}})
    assert rejection.status == 401
    assert rejection.details[0]["reason"] == "ACCESS_TOKEN_EXPIRED"
    assert rejection.headers["WWW-Authenticate"].endswith('error="invalid_token"')


def test_another_projects_account_gets_permission_denied(world: World) -> None:
    rejection = world.refused({"message": {"token": world.token}}, project=OTHER_PROJECT)
    assert (rejection.status, rejection.canonical) == (403, "PERMISSION_DENIED")
    assert f"projects/{OTHER_PROJECT}" in rejection.message
    assert not codes(rejection)


def test_an_unknown_project_gets_permission_denied(world: World) -> None:
    assert world.refused({"message": {}}, project="no-such-project").status == 403


def test_an_unknown_top_level_field_is_refused_by_the_parser(world: World) -> None:
    rejection = world.refused({"message": {"token": world.token}, "dry_run": True})
    assert rejection.status == 400
    assert rejection.message.startswith('Invalid JSON payload received. Unknown name "dry_run"')
    assert violations(rejection) == [{"description": rejection.message}]
    assert not codes(rejection)  # the JSON parser answers, not FCM


@pytest.mark.parametrize("body", [b"\xff\xfe", b"[1, 2]", b'{"message": ', b'"message"'], ids=str)
def test_a_body_that_is_not_a_utf8_json_object_is_refused(world: World, body: bytes) -> None:
    rejection = world.refused(body)
    assert (rejection.status, rejection.canonical) == (400, "INVALID_ARGUMENT")
    assert rejection.message.startswith("Invalid JSON payload received.")


def test_a_repeated_key_keeps_its_last_value(world: World) -> None:
    body = f'{{"message": {{"token": "gone"}}, "message": {{"token": "{world.token}"}}}}'
    assert parse_send_request(body.encode()).message == {"token": world.token}


def test_validate_only_must_be_a_boolean(world: World) -> None:
    rejection = world.refused({"message": {"token": world.token}, "validate_only": "yes"})
    assert violations(rejection)[0]["field"] == "validate_only"


def test_a_missing_message_is_an_fcm_invalid_argument(world: World) -> None:
    rejection = world.refused({"validate_only": True})
    assert codes(rejection) == ["INVALID_ARGUMENT"]
    assert violations(rejection)[0]["field"] == "message"


@pytest.mark.parametrize(
    ("message", "field", "wording"),
    [
        ({"data": {"n": 12}}, "message.data[0].value", "Invalid value at 'message.data[0].value'"),
        ({"data": {"from": "x"}}, "message.data", "Invalid data payload key: from"),
        ({"data": {"google.x": "y"}}, "message.data", "Invalid data payload key"),
        ({"data": {"big": "x" * 4096}}, "message.data", "Android message is too big"),
        ({"android": {"ttl": "10m"}}, "message.android.ttl", "Invalid duration"),
        ({"android": {"ttl": "2419201s"}}, "message.android.ttl", "at most 2419200s"),
        ({"topic": "news"}, "message", "exactly one of"),
        ({"android": {"priorty": "high"}}, "message.android.priorty", "Unknown name"),
    ],
    ids=["number", "from", "google-prefix", "too-big", "bad-ttl", "ttl-too-long", "two-targets",
         "unknown-name"],
)  # fmt: skip
def test_rule_violations_are_invalid_argument_naming_the_field(
    world: World, message: dict[str, Any], field: str, wording: str
) -> None:
    rejection = world.refused({"message": {"token": world.token, **message}})
    assert codes(rejection) == ["INVALID_ARGUMENT"]
    assert rejection.status == FcmErrorCode.INVALID_ARGUMENT.status
    assert wording in rejection.message
    assert field in [v["field"] for v in violations(rejection)]


def test_the_too_big_answer_is_worded_as_fcm_words_it(world: World) -> None:
    rejection = world.refused({"message": {"token": world.token, "data": {"k": "v" * 5000}}})
    assert rejection.message == "Android message is too big"


def test_a_token_never_issued_is_unregistered(world: World) -> None:
    rejection = world.refused({"message": {"token": "x"}})
    assert codes(rejection) == ["UNREGISTERED"]
    assert (rejection.status, rejection.canonical) == (404, "NOT_FOUND")


def test_a_bogus_fid_is_unregistered(world: World) -> None:
    assert codes(world.refused({"message": {"fid": "cBzZ2UKXRY6ybc9CZ6Zc1c"}})) == ["UNREGISTERED"]


def test_an_ended_token_is_unregistered(world: World) -> None:
    world.registrations.end(world.token, EndReason.REFRESHED, world.clock())
    assert codes(world.refused({"message": {"token": world.token}})) == ["UNREGISTERED"]


def test_another_projects_token_is_a_sender_id_mismatch(world: World) -> None:
    foreign = world.registrations.issue(OTHER_PROJECT, PACKAGE, "phone-2", world.clock()).token
    rejection = world.refused({"message": {"token": foreign}})
    assert codes(rejection) == ["SENDER_ID_MISMATCH"]
    assert (rejection.status, rejection.canonical) == (403, "PERMISSION_DENIED")


def test_sender_id_mismatch_beats_the_tokens_end(world: World) -> None:
    """A foreign token says nothing about its state to another project's sender."""
    foreign = world.registrations.issue(OTHER_PROJECT, PACKAGE, "phone-2", world.clock()).token
    world.registrations.end(foreign, EndReason.UNINSTALLED, world.clock())
    assert codes(world.refused({"message": {"token": foreign}})) == ["SENDER_ID_MISMATCH"]


def test_another_package_is_invalid_argument_without_naming_the_token(world: World) -> None:
    message = {"token": world.token, "android": {"restricted_package_name": "com.other.app"}}
    rejection = world.refused({"message": message})
    assert codes(rejection) == ["INVALID_ARGUMENT"]
    assert "registration token" not in rejection.message  # the client must keep the token
    assert violations(rejection)[0]["field"] == "message.android.restricted_package_name"


def test_the_tokens_own_package_passes(world: World) -> None:
    message = {"token": world.token, "android": {"restricted_package_name": PACKAGE}}
    world.validator.validate(
        PROJECT, world.authorization, json.dumps({"message": message}).encode()
    )


def test_a_topic_target_passes_without_a_registration(world: World) -> None:
    body = json.dumps({"message": {"topic": "news"}}).encode()
    assert world.validator.validate(PROJECT, world.authorization, body).registration is None


def test_every_error_body_has_the_four_fields() -> None:
    rejection = FcmRejected.of(FcmErrorCode.INTERNAL, "Internal error encountered.")
    assert rejection.body() == {
        "error": {
            "code": 500,
            "message": "Internal error encountered.",
            "status": "INTERNAL",
            "details": [{"@type": FCM_ERROR_TYPE, "errorCode": "INTERNAL"}],
        }
    }


def test_json_nested_too_deep_is_a_parser_refusal(world: World) -> None:
    rejection = world.refused(b"[" * 100_000 + b"]" * 100_000)
    assert rejection.status == 400 and "Invalid JSON payload" in rejection.message


def test_an_access_token_lifetime_must_be_finite() -> None:
    with pytest.raises(ValueError, match="positive number"):
        AccessTokens(Clock(), lifetime=float("inf"))
