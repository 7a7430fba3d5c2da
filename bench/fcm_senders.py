"""One FCM client sending the benchmark's messages, in a process of its own, so that its
CPU time (``time.process_time``: every thread of this process) is its alone.

    python -m bench.fcm_senders CLIENT SPEC.json

``CLIENT`` is one of :data:`CLIENTS`. The process reads the spec (the sandbox's URL and
CA, the key file, the tokens, how many messages), warms the client (an access token, a
connection), prints ``{"ready": true}``, waits for a line on stdin, sends, and prints
its :class:`Run` as one JSON line. The warm-up is outside the timed part, so that an
access token's exchange and the TLS handshakes are not counted.

Every client gets the same shape of load, the one firebase-admin's API offers for many
messages: batches of ``batch`` messages (its maximum is 500), each sent at once and
awaited whole before the next. A message's latency is from its batch's start (when it
was handed over) to its answer.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from bench.figures import percentile
from ringpush.event_loop import runner
from ringpush.fcm.client import FcmClient
from ringpush.fcm.message import FcmMessage
from ringpush.fcm.service_account import ServiceAccount
from ringpush.fcm.transport import Transport

#: A call's wake-up, as the product layer fills it: strings only (FCM's rule for data).
CALL_DATA = {
    "type": "incoming-call",
    "call_id": "3f1c2a9e-5b7d-4c1e-9a2b-8d7e6f5a4b3c",
    "caller_id": "alice",
    "caller_name": "Alice Example",
    "video": "false",
    "sent_at": "1800000000000",
    "ring_until": "1800000030000",
}
RING_SECONDS = 30

#: When each message of a batch was answered (perf_counter), and how.
Outcome = tuple[float, bool, str]


class Sender(Protocol):
    async def batch(self, tokens: list[str]) -> list[Outcome]:
        """Send one message to each token at once; every answer, or why none came."""

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Spec:
    url: str
    ca_file: str
    account: dict[str, Any]
    tokens: list[str]
    messages: int
    batch: int
    warm: int

    @classmethod
    def read(cls, path: Path) -> Spec:
        return cls(**json.loads(path.read_text()))


@dataclass(frozen=True, slots=True)
class Run:
    client: str
    messages: int
    sent: int
    failures: dict[str, int]
    seconds: float
    cpu_seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def cpu_ms_per_message(self) -> float:
        return self.cpu_seconds / self.messages * 1000


class RingpushSender:
    """ringpush's :class:`FcmClient` on the transport given (its default, the
    hand-written HTTP/2 one, when none is)."""

    def __init__(self, spec: Spec, transport: Transport | None = None) -> None:
        self._client = FcmClient(
            ServiceAccount.from_mapping(spec.account),
            base_url=spec.url,
            ca_file=spec.ca_file,
            transport=transport,
        )

    async def _one(self, token: str) -> Outcome:
        result = await self._client.send(
            FcmMessage.for_call(token, CALL_DATA, ring_seconds=RING_SECONDS)
        )
        return time.perf_counter(), result.sent, result.reason_label

    async def batch(self, tokens: list[str]) -> list[Outcome]:
        return list(await asyncio.gather(*(self._one(t) for t in tokens)))

    async def close(self) -> None:
        await self._client.close()


def ringpush_h2(spec: Spec) -> Sender:
    """ringpush's client on the hand-written HTTP/2 transport (its default)."""
    from ringpush.fcm.h2_transport import H2Transport

    return RingpushSender(spec, H2Transport(ca_file=spec.ca_file))


def ringpush_httpx(spec: Spec) -> Sender:
    """ringpush's client on httpx (HTTP/2), what it sent with before."""
    from ringpush.fcm.transport import HttpxTransport

    return RingpushSender(spec, HttpxTransport(ca_file=spec.ca_file))


def firebase_admin_async(spec: Spec) -> Sender:
    from bench.fcm_admin import AdminAsyncSender

    return AdminAsyncSender(spec.url, spec.ca_file, spec.account)


def firebase_admin_threads(spec: Spec) -> Sender:
    from bench.fcm_admin import AdminThreadSender

    return AdminThreadSender(spec.url, spec.ca_file, spec.account)


#: The clients by name; the peer's modules are imported only by its own processes.
CLIENTS: dict[str, Callable[[Spec], Sender]] = {
    "ringpush-httpx": ringpush_httpx,
    "ringpush-h2": ringpush_h2,
    "admin-async": firebase_admin_async,
    "admin-threads": firebase_admin_threads,
}


async def drive(name: str, sender: Sender, spec: Spec, go: Callable[[], Awaitable[None]]) -> Run:
    tokens = spec.tokens
    warm = [tokens[i % len(tokens)] for i in range(spec.warm)]
    await sender.batch(warm[:1])  # the access token and the first connection
    await sender.batch(warm)
    await go()
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    sent = 0
    clock = time.perf_counter
    cpu0, t0 = time.process_time(), clock()
    for start in range(0, spec.messages, spec.batch):
        end = min(spec.messages, start + spec.batch)
        batch = [tokens[i % len(tokens)] for i in range(start, end)]
        began = clock()
        for done, ok, label in await sender.batch(batch):
            latencies.append(done - began)
            if ok:
                sent += 1
            else:
                failures[label] += 1
    seconds, cpu = clock() - t0, time.process_time() - cpu0
    return Run(
        name,
        spec.messages,
        sent,
        dict(failures),
        seconds,
        cpu,
        percentile(latencies, 0.50) * 1000,
        percentile(latencies, 0.99) * 1000,
    )


def _say(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()


async def _wait_for_go() -> None:
    _say({"ready": True})
    await asyncio.to_thread(sys.stdin.readline)


async def main(name: str, spec_file: Path) -> None:
    spec = Spec.read(spec_file)
    sender = CLIENTS[name](spec)
    try:
        run = await drive(name, sender, spec, _wait_for_go)
    finally:
        await sender.close()
    _say(asdict(run))


if __name__ == "__main__":
    runner()(main(sys.argv[1], Path(sys.argv[2])))
