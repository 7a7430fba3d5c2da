"""The API does what its own OpenAPI document says, whoever calls it (issue 14).

schemathesis generates requests from ``/openapi.json`` for every operation (valid ones,
and invalid ones: wrong types, missing fields, odd strings) and sends them over real HTTP
to the whole stack (SQLite, the delivery engine, the sandbox as APNs), once with each
kind of credential and once with none. Every answer must be documented for its route,
in the documented content type and body schema, and never a 5xx. Then the same stack is
walked statefully along the document's links (start a call, then answer, end or read
it; create an app, then mint its tokens; register a device, then remove it), so requests
also reach resources that exist.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Flaky
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.generation import GenerationMode
from schemathesis.generation.stateful.state_machine import StepInput
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ringpush.apns.credentials import generate_signing_key
from ringpush.server.openapi_links import Link, add_links
from ringpush.server.rate_limits import RateLimitSettings
from tests.server.stack import ADMIN, running_stack

#: Generated requests per operation, credential and mode (valid / invalid): bounded, so
#: the whole run takes about a minute; with no credential every answer is a 401.
EXAMPLES = 8
EXAMPLES_WITHOUT_CREDENTIAL = 3
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
UNLIMITED = RateLimitSettings(calls=0, pushes=0, registrations=0, auth_failures=0)


#: A stream that never ends by itself (it follows every answer until the client leaves):
#: a generated request to it would only time out. Its own tests are in
#: ``tests/server/test_operator_acting.py``.
ENDLESS = "/v1/deliveries/events"


def load(spec: dict[str, Any]) -> Any:
    """The document, without the endless stream."""
    return schemathesis.openapi.from_dict(spec).exclude(path=ENDLESS)


@dataclass
class Report:
    cases: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    links: collections.Counter[str] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)

    def record(
        self,
        who: str,
        case: schemathesis.Case[Any],
        response: Response,
        headers: dict[str, str],
    ) -> None:
        """Count the answer, and keep every check it fails (not only the first)."""
        self.cases[who] += 1
        self.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as found:
            for failure in found.exceptions:
                self.failures.append(
                    f"{who} {case.method} {case.formatted_path} -> {response.status_code}:"
                    f" {failure.title}: {failure.message}"[:400]
                )


def conform(spec: dict[str, Any], base: str, credentials: dict[str, dict[str, str]]) -> Report:
    """Run every operation's generated cases with each credential (in a thread: the
    server runs on the test's event loop)."""
    schema = load(spec)
    report = Report()
    session = requests.Session()

    def explore(cases: Any, who: str, headers: dict[str, str]) -> None:
        @settings(
            max_examples=EXAMPLES if headers else EXAMPLES_WITHOUT_CREDENTIAL,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases)
        def each(case: schemathesis.Case[Any]) -> None:
            response = case.call(base_url=base, session=session, headers=headers, timeout=10)
            report.record(who, case, response, headers)

        each()

    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself is valid
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            cases = operation.as_strategy(generation_mode=mode)
            for who, headers in credentials.items():
                explore(cases, who, headers)
    return report


#: Stateful walks per credential, and requests per walk.
WALKS = 25
STEPS = 6


def steer(case: schemathesis.Case[Any]) -> None:
    """Make a walk's first steps ones that succeed, so that its links lead somewhere:
    generated calls go to bob (who has a device), generated apps get a real signing key.
    Every other field stays as generated."""
    if not isinstance(case.body, dict):
        return
    if (case.method, case.operation.path) == ("POST", "/v1/calls"):
        case.body["callee_user_id"] = "bob"
    elif (case.method, case.operation.path) == ("PUT", "/v1/apps/{app_id}"):
        key = generate_signing_key()
        case.body.pop("certificate", None)
        case.body.update(
            bundle_id="com.example.walk",
            team_id=key.team_id,
            key_id=key.key_id,
            signing_key=key.pem.decode(),
        )


def walk_as(schema: Any, base: str, report: Report, who: str, headers: dict[str, str]) -> None:
    """Walks along the document's links with one credential."""
    session = requests.Session()

    class Walk(schema.as_state_machine()):  # type: ignore[misc]
        def step(self, input: StepInput) -> Any:
            if input.transition is not None and input.is_applied:
                report.links[input.transition.id] += 1
                report.cases[f"{who} by link"] += 1
                if not input.transition.is_inferred:  # one of the document's own
                    report.cases["documented link"] += 1
            return super().step(input)

        def before_call(self, case: schemathesis.Case[Any]) -> None:
            steer(case)

        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return {"base_url": base, "session": session, "headers": headers, "timeout": 10}

        def validate_response(
            self, response: Response, case: schemathesis.Case[Any], **_: Any
        ) -> None:
            report.record(who, case, response, headers)

    try:
        Walk.run(
            settings=settings(
                max_examples=WALKS,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
        )
    except Flaky:
        # A walk replayed against a server whose state it changed (the call it started
        # exists now: 409, not 201) draws differently; that ends the exploration, not
        # the findings, which ``report`` holds.
        report.cases[f"{who} ended early"] += 1


def walk(spec: dict[str, Any], base: str, credentials: dict[str, dict[str, str]]) -> Report:
    """Walks with each credential, in order (the operator last: its walks may delete
    the app the others use)."""
    schema = load(spec)
    report = Report()
    for who, headers in credentials.items():
        walk_as(schema, base, report, who, headers)
    return report


async def test_every_answer_is_the_documented_one(tmp_path: Path) -> None:
    async with running_stack(f"sqlite:///{tmp_path / 'c.db'}", rates=UNLIMITED) as stack:
        bob = await stack.user("bob")
        await stack.device(bob, "phone")
        spec = (await stack.http.get("/openapi.json")).json()
        credentials = {"operator": ADMIN, "service": stack.service, "user": bob, "none": {}}
        report = await asyncio.to_thread(conform, spec, str(stack.http.base_url), credentials)
    print(f"cases per credential: {dict(report.cases)}; statuses: {dict(report.statuses)}")
    assert not report.failures, "\n".join(report.failures[:20])
    assert all(report.cases[who] >= 100 for who in credentials), report.cases
    # The generated requests reached the routes' work, not only their refusals.
    assert report.statuses[200] + report.statuses[201] + report.statuses[204] > 0


async def test_walks_along_the_links_get_documented_answers(tmp_path: Path) -> None:
    async with running_stack(f"sqlite:///{tmp_path / 'w.db'}", rates=UNLIMITED) as stack:
        bob = await stack.user("bob")
        await stack.device(bob, "phone")
        spec = (await stack.http.get("/openapi.json")).json()
        credentials = {"service": stack.service, "user": bob, "operator": ADMIN}
        report = await asyncio.to_thread(walk, spec, str(stack.http.base_url), credentials)
    print(f"steps: {dict(report.cases)}; links: {dict(report.links)}; {dict(report.statuses)}")
    assert not report.failures, "\n".join(report.failures[:20])
    assert all(report.cases[f"{who} by link"] > 0 for who in credentials), report.cases
    assert report.cases["documented link"] > 0, report.links
    # The walks reached resources that exist: a started call read, ended or answered.
    assert report.statuses[200] + report.statuses[204] > 0


async def test_an_unsupported_method_is_405_with_allow(tmp_path: Path) -> None:
    async with running_stack(f"sqlite:///{tmp_path / 'm.db'}") as stack:
        response = await stack.http.patch("/v1/calls", headers=stack.service, json={})
        spec = (await stack.http.get("/openapi.json")).json()
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"
    # The document says how to authenticate, and what an error looks like.
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert spec["security"] == [{"bearer": []}]
    answers = spec["paths"]["/v1/calls/{call_id}/events"]["get"]["responses"]
    assert list(answers["200"]["content"]) == ["text/event-stream"]
    assert answers["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    # Each event is described, and its data is a CallEventOut.
    event = answers["200"]["content"]["text/event-stream"]["schema"]
    assert event["properties"]["data"]["contentSchema"]["$ref"].endswith("/CallEventOut")
    assert "CallEventOut" in spec["components"]["schemas"]
    # A started call's answer links to the routes that take its call_id.
    started = spec["paths"]["/v1/calls"]["post"]["responses"]["201"]["links"]
    end = spec["paths"]["/v1/calls/{call_id}/end"]["post"]
    assert started["EndCall"] == {
        "operationId": end["operationId"],
        "parameters": {"call_id": "$response.body#/call_id"},
    }


def test_a_link_to_a_route_the_api_lacks_is_refused() -> None:
    spec: dict[str, Any] = {"paths": {"/v1/calls": {"post": {"responses": {"201": {}}}}}}
    dangling = Link("Gone", "POST /v1/calls", 201, "GET /v1/nowhere", {})
    with pytest.raises(LookupError, match="GET /v1/nowhere"):
        add_links(spec, (dangling,))
    # A link from a route the API does not serve (no delivery engine) is left out.
    add_links({"paths": {}}, (dangling,))


def _pointed(spec: dict[str, Any], schema: dict[str, Any], pointer: list[str]) -> bool:
    """Whether ``pointer`` (JSON pointer parts) names a place ``schema`` describes."""
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if not pointer:
        return True
    head, rest = pointer[0], pointer[1:]
    if head.isdigit() and "items" in schema:
        return _pointed(spec, schema["items"], rest)
    child = schema.get("properties", {}).get(head)
    return child is not None and _pointed(spec, child, rest)


async def test_every_link_reads_a_value_its_answer_has(tmp_path: Path) -> None:
    async with running_stack(f"sqlite:///{tmp_path / 'l.db'}") as stack:
        spec = (await stack.http.get("/openapi.json")).json()
    checked = 0
    for operations in spec["paths"].values():
        for operation in operations.values():
            for status, answer in operation["responses"].items():
                for name, link in answer.get("links", {}).items():
                    schema = answer["content"]["application/json"]["schema"]
                    for expression in link["parameters"].values():
                        if expression.startswith("$response.body#/"):
                            pointer = expression.removeprefix("$response.body#/").split("/")
                            assert _pointed(spec, schema, pointer), (name, status, expression)
                            checked += 1
    assert checked >= 8
