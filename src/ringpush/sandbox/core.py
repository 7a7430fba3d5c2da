"""The sandbox's behaviour for one push, independent of sockets.

It runs the validation chain, then the fault knobs, records what was accepted and
returns the :class:`Response` the HTTP/2 layer should send. Everything shared by all
listeners (tokens, keys, records, faults, the clock) lives here, which is why one
sandbox can serve both environments with one view of the world.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ringpush.apns.environment import Environment
from ringpush.apns.reasons import ApnsReason
from ringpush.sandbox.auth import (
    CertificateConnectionAuth,
    ClientIdentity,
    ConnectionAuth,
    TokenConnectionAuth,
)
from ringpush.sandbox.faults import Faults
from ringpush.sandbox.jwt_verifier import ProviderTokenVerifier
from ringpush.sandbox.keys import KeyRing
from ringpush.sandbox.records import NotificationRecord, RecordStore, Stats
from ringpush.sandbox.rejected import Rejected
from ringpush.sandbox.responses import Response, rejection, success
from ringpush.sandbox.tokens import TokenRegistry
from ringpush.sandbox.validation import Headers, PushValidator


@dataclass(slots=True)
class ConnectionState:
    """Per-connection facts the faults need: its id and how many pushes it had accepted."""

    connection_id: int
    environment: Environment
    auth: ConnectionAuth
    accepted: int = 0


class SandboxCore:
    """Shared state and the request handler every listener calls."""

    def __init__(
        self,
        *,
        keys: KeyRing,
        clock: Callable[[], float],
        faults: Faults | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.keys = keys
        self.clock = clock
        self.tokens = TokenRegistry()
        self.records = RecordStore()
        self.stats = Stats()
        self.faults = faults if faults is not None else Faults()
        self.verifier = ProviderTokenVerifier(keys)
        self._rng = rng or random.Random()
        self._validators = {env: PushValidator(self.tokens, env) for env in Environment}
        self._next_connection_id = 0
        #: Called with every accepted push (the simulated devices' delivery hook).
        self.on_accepted: Callable[[NotificationRecord], None] | None = None

    def open_connection(
        self, environment: Environment, identity: ClientIdentity | None
    ) -> ConnectionState:
        self._next_connection_id += 1
        self.stats.connections_opened += 1
        auth: ConnectionAuth
        if identity is not None:
            auth = CertificateConnectionAuth(identity, environment)
        else:
            auth = TokenConnectionAuth(
                self.verifier, environment, self.clock, on_adopt=self.stats.token_adopted
            )
        return ConnectionState(self._next_connection_id, environment, auth)

    def handle(
        self, connection: ConnectionState, headers: Headers, body: bytes, body_size: int
    ) -> Response:
        faults = self.faults
        delay = faults.latency_ms / 1000.0 if faults.latency_ms else 0.0
        try:
            push = self._validators[connection.environment].validate(
                headers, body, connection.auth, body_size=body_size
            )
        except Rejected as exc:
            self.stats.rejected[exc.reason] += 1
            return rejection(exc.reason, exc.apns_id or "", exc.timestamp_ms, delay)
        if faults.active:
            injected = self._injected(faults, push.token.token)
            if injected is not None:
                self.stats.faults_applied[injected.value] += 1
                return rejection(injected, push.apns_id, None, delay)
            if delay:
                self.stats.faults_applied["latency"] += 1
        unique_id = str(uuid.uuid4()) if connection.environment is Environment.DEVELOPMENT else None
        record = NotificationRecord(
            connection.environment,
            push.token.token,
            push.topic,
            push.push_type,
            push.apns_id,
            unique_id,
            tuple(headers),
            body,
            self.clock(),
            connection.connection_id,
        )
        self.records.add(record)
        if self.on_accepted is not None:
            self.on_accepted(record)
        self.stats.accepted += 1
        connection.accepted += 1
        abort = connection.accepted == faults.reset_after_streams
        if abort:
            self.stats.faults_applied["reset"] += 1
        response = success(push.apns_id, unique_id, delay)
        if abort:
            return Response(response.headers, abort=True)
        return response

    def _injected(self, faults: Faults, token: str) -> ApnsReason | None:
        if faults.shutdown:
            return ApnsReason.SHUTDOWN
        if token in faults.too_many_requests_tokens:
            return ApnsReason.TOO_MANY_REQUESTS
        if faults.error_rate and self._rng.random() < faults.error_rate:
            if faults.error_status == 503:
                return ApnsReason.SERVICE_UNAVAILABLE
            return ApnsReason.INTERNAL_SERVER_ERROR
        return None

    def reset(self) -> None:
        """Forget accepted pushes, counters and faults; tokens and keys stay."""
        self.records.clear()
        self.stats.clear()
        self.faults.clear()
