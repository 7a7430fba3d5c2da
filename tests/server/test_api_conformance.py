"""The API does what its own OpenAPI document says, whoever calls it (issue 14).

schemathesis generates requests from ``/openapi.json`` for every operation (valid ones,
and invalid ones: wrong types, missing fields, odd strings) and sends them over real HTTP
to the whole stack (SQLite, the delivery engine, the sandbox as APNs), once with each
kind of credential and once with none. Every answer must be documented for its route,
in the documented content type and body schema, and never a 5xx.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

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


@dataclass
class Report:
    cases: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)


def conform(spec: dict[str, Any], base: str, credentials: dict[str, dict[str, str]]) -> Report:
    """Run every operation's generated cases with each credential (in a thread: the
    server runs on the test's event loop)."""
    schema = schemathesis.openapi.from_dict(spec)
    report = Report()
    session = requests.Session()

    def send(case: schemathesis.Case[Any], who: str, headers: dict[str, str]) -> None:
        response = case.call(base_url=base, session=session, headers=headers, timeout=10)
        report.cases[who] += 1
        report.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as found:  # every finding, not only the first
            for failure in found.exceptions:
                report.failures.append(
                    f"{who} {case.method} {case.formatted_path} -> {response.status_code}:"
                    f" {failure.title}: {failure.message}"[:400]
                )

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
            send(case, who, headers)

        each()

    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself is valid
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            cases = operation.as_strategy(generation_mode=mode)
            for who, headers in credentials.items():
                explore(cases, who, headers)
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
