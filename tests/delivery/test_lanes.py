"""Lanes over real HTTP/2 + TLS and a real database: a dead endpoint holds up only its own
app's pushes, a failing lane stops dialing and recovers by itself, and calls overtake a
bulk backlog. Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from ringpush.apns.credentials import GeneratedKey, generate_signing_key
from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.delivery.circuit import CircuitBreaker, CircuitState
from ringpush.delivery.clients import ApnsClients
from ringpush.delivery.engine import DeliveryEngine
from ringpush.registry import App, SecretBox, SqlRegistry, open_registry
from ringpush.registry.outbox_models import OutboxPush, PushState, Urgency
from ringpush.sandbox import Sandbox
from tests.tcp_proxy import TcpProxy

BUNDLE = "com.example.app"


def free_port() -> int:
    """A port on which nothing listens (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition never held")


@dataclass
class Lanes:
    sandbox: Sandbox
    key: GeneratedKey
    registry: SqlRegistry
    engine: DeliveryEngine
    stack: contextlib.AsyncExitStack
    pushes: dict[str, OutboxPush] = field(default_factory=dict)

    async def app(self, app_id: str, url: str, ca_pem: bytes) -> None:
        await self.registry.put_app(
            App(
                app_id,
                BUNDLE,
                self.key.team_id,
                self.key.key_id,
                Environment.DEVELOPMENT,
                signing_key_pem=self.key.pem,
                apns_base_url=url,
                ca_pem=ca_pem,
            )
        )

    async def queue(
        self,
        app_id: str,
        count: int = 1,
        *,
        urgency: Urgency = Urgency.CALL,
        sandbox: Sandbox | None = None,
    ) -> list[OutboxPush]:
        """``count`` pushes to fresh tokens of ``sandbox``, stored pending; the engine is
        woken as a request would wake it."""
        now = datetime.now(UTC)
        kind = PushType.VOIP if urgency is Urgency.CALL else PushType.ALERT
        issuer = sandbox or self.sandbox
        pushes = [
            OutboxPush(
                push_id=str(uuid.uuid4()),
                app_id=app_id,
                user_id="u",
                device_id=f"d{n}",
                push_type=kind,
                environment=Environment.DEVELOPMENT,
                token=issuer.issue_token(BUNDLE, kind, Environment.DEVELOPMENT),
                apns_id=str(uuid.uuid4()),
                payload=b'{"aps":{}}' if kind is PushType.VOIP else b'{"aps":{"alert":"x"}}',
                state=PushState.PENDING,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
                priority=10 if kind is PushType.VOIP else 5,
                expiration=0 if kind is PushType.VOIP else None,
                not_after=now + timedelta(seconds=60) if kind is PushType.VOIP else None,
                urgency=urgency,
            )
            for n in range(count)
        ]
        await self.registry.outbox.enqueue(pushes)
        self.engine.wake()
        return pushes

    async def states(self, pushes: list[OutboxPush]) -> list[PushState]:
        rows = await self.registry.outbox.get_many([p.push_id for p in pushes])
        return [row.state for row in rows]

    def in_flight(self, app_id: str) -> int:
        return sum(lane.in_flight for lane in self.engine.lanes() if lane.app_id == app_id)

    def lane(self, app_id: str) -> CircuitState | None:
        for lane in self.engine.lanes():
            if lane.app_id == app_id:
                return lane.state
        return None


@pytest.fixture
async def lanes(database_url: str) -> AsyncIterator[Lanes]:
    key = generate_signing_key()
    async with contextlib.AsyncExitStack() as stack:
        sandbox = Sandbox()
        sandbox.register_key(key.key_id, key.team_id, key.pem)
        await sandbox.start(control_port=None)
        stack.push_async_callback(sandbox.stop)
        registry = await open_registry(database_url, SecretBox({"k": b"\5" * 32}, "k"))
        stack.push_async_callback(registry.close)
        clients = ApnsClients(
            request_timeout=1.0, connect_timeout=1.0, tokens=registry.provider_tokens
        )
        stack.push_async_callback(clients.close)
        engine = DeliveryEngine(
            registry,
            clients,
            poll_seconds=0.05,
            lane_concurrency=100,
            breaker=lambda: CircuitBreaker(failures_to_open=3, first_open=1.0, max_open=2.0),
        )
        await engine.listen()
        engine.start()
        stack.push_async_callback(engine.stop)
        world = Lanes(sandbox, key, registry, engine, stack)
        await world.app("healthy", sandbox.url(), sandbox.ca_pem)
        yield world


async def silent_tcp(stack: contextlib.AsyncExitStack) -> int:
    """A server that accepts TCP and never says a word (TLS never completes)."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    stack.callback(server.close)
    return int(server.sockets[0].getsockname()[1])


async def failing_sandbox(lanes: Lanes, **faults: object) -> Sandbox:
    other = Sandbox()
    other.register_key(lanes.key.key_id, lanes.key.team_id, lanes.key.pem)
    other.faults.update(faults)
    await other.start(control_port=None)
    lanes.stack.push_async_callback(other.stop)
    return other


DEAD_KINDS = ["nothing-listening", "tls-refused", "tls-never-answers", "slow", "503"]


async def dead_app(lanes: Lanes, kind: str) -> Sandbox:
    """Point app ``dead`` at a broken endpoint; returns the sandbox its tokens come from."""
    sandbox = lanes.sandbox
    if kind == "nothing-listening":
        url = f"https://127.0.0.1:{free_port()}"
    elif kind == "tls-refused":
        proxy = TcpProxy(sandbox.port(), drop=10**9)  # accepts, then cuts every connection
        await lanes.stack.enter_async_context(proxy)
        url = f"https://127.0.0.1:{proxy.port}"
    elif kind == "tls-never-answers":
        url = f"https://127.0.0.1:{await silent_tcp(lanes.stack)}"
    else:
        faults: dict[str, object] = (
            {"latency_ms": 10_000} if kind == "slow" else {"error_rate": 1.0, "error_status": 503}
        )
        sandbox = await failing_sandbox(lanes, **faults)
        url = sandbox.url()
    await lanes.app("dead", url, sandbox.ca_pem)
    return sandbox


@pytest.mark.parametrize("kind", DEAD_KINDS)
async def test_a_dead_lane_never_holds_up_a_healthy_lane(lanes: Lanes, kind: str) -> None:
    issuer = await dead_app(lanes, kind)
    stuck = await lanes.queue("dead", 50, sandbox=issuer)
    await eventually(lambda: _async(lanes.lane("dead") is not None))
    [call] = await lanes.queue("healthy")

    async def reached_apns() -> bool:
        return bool(lanes.sandbox.notifications(token=call.token))

    await eventually(reached_apns)
    # The healthy call's push is at APNs while every push of the dead lane is unfinished.
    assert all(not state.final for state in await lanes.states(stuck))

    async def recorded() -> bool:
        return await lanes.states([call]) == [PushState.DELIVERED]

    await eventually(recorded)


async def test_a_failing_lane_stops_dialing_and_recovers_by_itself(
    lanes: Lanes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ringpush.delivery")
    proxy = TcpProxy(lanes.sandbox.port(), drop=10**9)  # TLS refused until drop is lowered
    await lanes.stack.enter_async_context(proxy)
    await lanes.app("flaky", f"https://127.0.0.1:{proxy.port}", lanes.sandbox.ca_pem)
    pushes = await lanes.queue("flaky", 5)
    await eventually(lambda: _async(lanes.lane("flaky") is CircuitState.OPEN))

    # Open: the endpoint is not dialed for the pushes waiting; they wait in the outbox.
    async def all_pending() -> bool:
        return all(state is PushState.PENDING for state in await lanes.states(pushes))

    await eventually(all_pending)
    [health] = [lane for lane in lanes.engine.lanes() if lane.app_id == "flaky"]
    assert health.state is CircuitState.OPEN  # open for 1 s at first
    dialed = proxy.connections
    await asyncio.sleep(max(0.0, health.retry_in - 0.1))  # until the probe, nothing dials
    assert proxy.connections == dialed
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "lane flaky/development: APNs endpoint failing" in text
    assert "circuit open" in text
    metrics = lanes.engine.metrics.registry
    opened = metrics.get_sample_value(
        "ringpush_lane_circuit_opened_total", {"app": "flaky", "environment": "development"}
    )
    assert opened is not None and opened >= 1

    proxy.drop = 0  # the endpoint is back

    async def all_delivered() -> bool:
        return all(state is PushState.DELIVERED for state in await lanes.states(pushes))

    await eventually(all_delivered, seconds=30)
    assert lanes.lane("flaky") is CircuitState.CLOSED
    assert "lane flaky/development: APNs endpoint answers again; circuit closed" in "\n".join(
        r.getMessage() for r in caplog.records
    )
    assert len(lanes.sandbox.notifications()) == len(pushes)


async def test_a_probe_takes_one_push_of_the_lane_not_its_backlog(lanes: Lanes) -> None:
    proxy = TcpProxy(lanes.sandbox.port(), drop=10**9)  # TLS refused throughout
    await lanes.stack.enter_async_context(proxy)
    await lanes.app("flaky", f"https://127.0.0.1:{proxy.port}", lanes.sandbox.ca_pem)
    pushes = await lanes.queue("flaky", 40)
    metrics = lanes.engine.metrics.registry
    labels = {"app": "flaky", "environment": "development"}

    def opened() -> float:
        return metrics.get_sample_value("ringpush_lane_circuit_opened_total", labels) or 0.0

    def claimed() -> float:
        return metrics.get_sample_value("ringpush_outbox_claimed_total") or 0.0

    await eventually(lambda: _async(opened() >= 1))
    claimed_when_open = claimed()
    # Two probes (after 1 s, then 2 s), each failed: the circuit opened twice more.
    await eventually(lambda: _async(opened() >= 3), seconds=15)
    assert claimed() - claimed_when_open <= 2  # one push per probe, the 40 left waiting

    # The last probe's push is handed back as its circuit opens, written a moment later
    # (under load, after this point): every push ends up waiting, none failed.
    async def all_pending() -> bool:
        return all(state is PushState.PENDING for state in await lanes.states(pushes))

    await eventually(all_pending, seconds=5)


async def test_calls_overtake_a_queued_bulk_backlog(lanes: Lanes) -> None:
    """3 000 alert pushes queued for one app whose APNs takes 200 ms a push; a call to
    the same app reaches APNs long before the backlog has drained."""
    lanes.sandbox.faults.update({"latency_ms": 200})
    bulk = await lanes.queue("healthy", 3000, urgency=Urgency.BULK)

    async def draining() -> bool:
        return len(lanes.sandbox.notifications()) > 0

    await eventually(draining)
    [call] = await lanes.queue("healthy")

    async def rang() -> bool:
        return bool(lanes.sandbox.notifications(token=call.token))

    await eventually(rang)
    left = sum(1 for state in await lanes.states(bulk) if not state.final)
    assert left > 2000, f"only {left} bulk pushes were still queued when the call went out"


async def test_bulk_slows_down_while_calls_arrive_and_speeds_up_after(lanes: Lanes) -> None:
    """With no call, bulk uses the lane's whole cap (100); a call arriving holds bulk to
    its share (5% of the cap) until calls have stopped for a second, then bulk fills
    the cap again."""
    lanes.sandbox.faults.update({"latency_ms": 300})
    await lanes.queue("healthy", 3000, urgency=Urgency.BULK)
    await eventually(lambda: _async(lanes.in_flight("healthy") >= 90))
    [call] = await lanes.queue("healthy")

    async def rang() -> bool:
        return bool(lanes.sandbox.notifications(token=call.token))

    await eventually(rang)
    await eventually(lambda: _async(lanes.in_flight("healthy") <= 5))
    await eventually(lambda: _async(lanes.in_flight("healthy") >= 90))


def _async(value: bool) -> Awaitable[bool]:
    future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future
