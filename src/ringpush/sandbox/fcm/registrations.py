"""Registration tokens the local FCM issued, and what became of them.

A token belongs to one app instance (a package on one device) of one Firebase project.
Tokens are opaque (docs/fcm.md §6): the sandbox makes them look like real
ones (an installation id, ``:APA91b``, about 160 URL-safe characters) but never checks
a token's form, only whether it issued it. A token ends when the app is uninstalled or
the SDK refreshes it; sends to it then get ``404 UNREGISTERED``, as FCM answers.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from enum import StrEnum

#: An Android application id: two or more dot-separated names, each from a letter.
PACKAGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")


class EndReason(StrEnum):
    """Why a token stopped working."""

    UNINSTALLED = "uninstalled"
    REFRESHED = "refreshed"


@dataclass(slots=True)
class Registration:
    token: str = field(repr=False)
    project_id: str
    package: str
    #: The app instance (package on one device): stays across token refreshes, which is
    #: what FCM's per-device limits count.
    instance_id: str
    issued_at: float
    ended_at: float | None = None
    end_reason: EndReason | None = None

    @property
    def live(self) -> bool:
        return self.ended_at is None


def check_package(package: str) -> str:
    if not PACKAGE_NAME.fullmatch(package):
        raise ValueError(f"{package!r} is not an Android package name (e.g. com.example.app)")
    return package


def new_token() -> str:
    """An installation id (22 characters), ``:APA91b`` and 134 more: a real token's look."""
    return f"{secrets.token_urlsafe(16)[:22]}:APA91b{secrets.token_urlsafe(101)[:134]}"


class Registrations:
    """Every token issued, live or ended, by token."""

    def __init__(self) -> None:
        self._by_token: dict[str, Registration] = {}

    def issue(self, project_id: str, package: str, instance_id: str, now: float) -> Registration:
        registration = Registration(
            new_token(), project_id, check_package(package), instance_id, now
        )
        self._by_token[registration.token] = registration
        return registration

    def get(self, token: str) -> Registration | None:
        return self._by_token.get(token)

    def end(self, token: str, reason: EndReason, now: float) -> Registration | None:
        """Stop ``token`` (the first end counts); None for a token never issued."""
        registration = self._by_token.get(token)
        if registration is not None and registration.live:
            registration.ended_at = now
            registration.end_reason = reason
        return registration

    def all(self) -> list[Registration]:
        return list(self._by_token.values())
