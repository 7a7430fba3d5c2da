"""What the sandbox saw: every accepted push, and counters (the test oracle).

Records keep the raw header block and body exactly as received; decoding to text and
JSON happens only when someone looks, so storing costs the hot path one object.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ringpush.apns.device_token import mask_device_token
from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.apns.reasons import ApnsReason


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """One push APNs accepted; ``unique_id`` is set in development only, like APNs."""

    environment: Environment
    token: str = field(repr=False)
    topic: str
    push_type: PushType
    apns_id: str
    unique_id: str | None
    raw_headers: tuple[tuple[bytes, bytes], ...] = field(repr=False)
    body: bytes = field(repr=False)
    received_at: float
    connection_id: int

    @property
    def headers(self) -> dict[str, str]:
        """The request headers as text; the provider token is redacted."""
        out: dict[str, str] = {}
        for name, value in self.raw_headers:
            key = name.decode("latin-1")
            out[key] = "bearer <redacted>" if key == "authorization" else value.decode("latin-1")
        return out

    @property
    def payload(self) -> Any:
        """The body as JSON (it passed validation, so it parses)."""
        return json.loads(self.body)

    @property
    def received_at_ms(self) -> int:
        return int(self.received_at * 1000)

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment.value,
            "token": self.token,
            "topic": self.topic,
            "push_type": self.push_type.value,
            "apns_id": self.apns_id,
            "unique_id": self.unique_id,
            "headers": self.headers,
            "payload": self.payload,
            "time": self.received_at,
            "received_at_ms": self.received_at_ms,
            "connection_id": self.connection_id,
        }

    def __str__(self) -> str:
        return f"{self.push_type.value} push {self.apns_id} to {mask_device_token(self.token)}"


@dataclass
class Stats:
    """Counters over the sandbox's lifetime (until :meth:`clear`)."""

    accepted: int = 0
    rejected: Counter[ApnsReason] = field(default_factory=Counter)
    connections_opened: int = 0
    streams_refused: int = 0
    #: Streams reset by the ``reset_stream_code`` fault.
    streams_reset: int = 0
    faults_applied: Counter[str] = field(default_factory=Counter)
    #: Distinct provider tokens (by ``iat``) adopted per key id, over all connections:
    #: shows whether several senders of one key behave as one provider.
    provider_tokens: dict[str, set[float]] = field(default_factory=dict)

    def token_adopted(self, key_id: str, issued_at: float) -> None:
        self.provider_tokens.setdefault(key_id, set()).add(issued_at)

    def clear(self) -> None:
        self.accepted = 0
        self.rejected.clear()
        self.connections_opened = 0
        self.streams_refused = 0
        self.streams_reset = 0
        self.faults_applied.clear()
        self.provider_tokens.clear()

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "rejected": {reason.value: count for reason, count in self.rejected.items()},
            "rejected_total": sum(self.rejected.values()),
            "connections_opened": self.connections_opened,
            "streams_refused": self.streams_refused,
            "streams_reset": self.streams_reset,
            "faults_applied": dict(self.faults_applied),
            "provider_tokens": {key: len(seen) for key, seen in self.provider_tokens.items()},
        }


class RecordStore:
    """Accepted pushes in arrival order."""

    def __init__(self) -> None:
        self._records: list[NotificationRecord] = []

    def add(self, record: NotificationRecord) -> None:
        self._records.append(record)

    def clear(self) -> None:
        self._records.clear()

    def query(
        self,
        *,
        token: str | None = None,
        apns_id: str | None = None,
        environment: Environment | None = None,
    ) -> list[NotificationRecord]:
        token = token.lower() if token else None
        return [
            r
            for r in self._records
            if (token is None or r.token == token)
            and (apns_id is None or r.apns_id == apns_id)
            and (environment is None or r.environment is environment)
        ]

    def __len__(self) -> int:
        return len(self._records)
