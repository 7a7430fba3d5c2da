"""What the local FCM accepted, and counters: the test oracle.

A record is the message exactly as the sender wrote it (parsed JSON), with the project,
the token, the time and the name it was answered with. ``validate_only`` sends are not
recorded: FCM delivers nothing for them.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ringpush.apns.device_token import mask_device_token


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One message FCM accepted (answered 200)."""

    name: str
    project_id: str
    #: The target's kind: ``token``, ``topic``, ``condition`` or ``fid``.
    target: str
    #: The registration token (None for a topic or condition target).
    token: str | None = field(repr=False)
    message: Mapping[str, Any] = field(repr=False)
    received_at: float
    sender: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "project_id": self.project_id,
            "target": self.target,
            "token": self.token,
            "message": copy.deepcopy(dict(self.message)),
            "time": self.received_at,
            "sender": self.sender,
        }

    def __str__(self) -> str:
        to = mask_device_token(self.token) if self.token else self.target
        return f"message {self.name} to {to}"


class MessageStore:
    """Accepted messages in arrival order."""

    def __init__(self) -> None:
        self._records: list[MessageRecord] = []

    def add(self, record: MessageRecord) -> None:
        self._records.append(record)

    def query(
        self,
        *,
        token: str | None = None,
        project_id: str | None = None,
        name: str | None = None,
    ) -> list[MessageRecord]:
        return [
            r
            for r in self._records
            if (token is None or r.token == token)
            and (project_id is None or r.project_id == project_id)
            and (name is None or r.name == name)
        ]

    def clear(self) -> None:
        self._records.clear()

    def __len__(self) -> int:
        return len(self._records)


@dataclass
class Stats:
    """Counters over the sandbox's lifetime (until :meth:`clear`)."""

    accepted: int = 0
    validated_only: int = 0
    #: Refused sends by ``errorCode`` (or the canonical status when there is none).
    rejected: Counter[str] = field(default_factory=Counter)
    access_tokens_issued: int = 0
    #: Refused token requests by OAuth error.
    grants_refused: Counter[str] = field(default_factory=Counter)
    faults_applied: Counter[str] = field(default_factory=Counter)

    def clear(self) -> None:
        self.accepted = 0
        self.validated_only = 0
        self.rejected.clear()
        self.access_tokens_issued = 0
        self.grants_refused.clear()
        self.faults_applied.clear()

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "validated_only": self.validated_only,
            "rejected": dict(self.rejected),
            "rejected_total": sum(self.rejected.values()),
            "access_tokens_issued": self.access_tokens_issued,
            "grants_refused": dict(self.grants_refused),
            "faults_applied": dict(self.faults_applied),
        }
