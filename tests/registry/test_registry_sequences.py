"""Registry sequences as Hypothesis draws them: register, move, unregister, 410 and heal in
any order, on both databases, against a model of the rules kept in plain Python.

After every step the registry must hold exactly what the model holds, and the invariants
must hold: a token (per app and push type) belongs to one registration at most, no user has
more devices than the cap, a refused registration changes nothing, and what is done in one
app never shows in another.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.registry import App, SecretBox, SqlRegistry, open_registry
from ringpush.registry.models import Registration
from ringpush.registry.store import TokenHeldElsewhere, TooManyDevices

T = TypeVar("T")

USERS = ("alice", "bob", "carol")
DEVICES = ("phone", "ipad", "watch")
PUSH_TYPES = (PushType.VOIP, PushType.ALERT)
ENVIRONMENTS = (Environment.DEVELOPMENT, Environment.PRODUCTION)
TOKENS = tuple(f"{n:02x}" * 32 for n in (0xA1, 0xB2, 0xC3, 0xD4))
INSTALLS = (None, "install-secret-one-0123456789abcdef", "install-secret-two-0123456789abcdef")
#: Distinct devices a user may have: small, so sequences reach it.
CAP = 2
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

Key = tuple[str, str, str, PushType]  # app, user, device, push type


@dataclass(frozen=True)
class Held:
    """What the model expects one registration to hold."""

    token: str
    environment: Environment
    created_at: datetime
    last_seen_at: datetime
    install: str | None


def token_drawn(index: int, upper: bool) -> str:
    """One of the pool's tokens, sometimes in capitals (the registry normalises them)."""
    token = TOKENS[index]
    return token.upper() if upper else token


def new_app(app_id: str) -> App:
    return App(app_id, "com.example.app", "TEAM123456", "KEY1234567", ENVIRONMENTS[0])


class RegistrySequences(RuleBasedStateMachine):
    """One run: two fresh apps in a shared registry, a model, and the rules."""

    #: Set by the test on a subclass: the loop the registry runs on, and the registry.
    loop: asyncio.AbstractEventLoop
    registry: SqlRegistry

    def __init__(self) -> None:
        super().__init__()
        self._loop = self.loop
        self._registry = self.registry
        run = uuid.uuid4().hex[:8]
        self.apps = (f"a-{run}", f"b-{run}")
        self.model: dict[Key, Held] = {}
        self.now = T0

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coroutine)

    def _tick(self, seconds: int) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    @initialize()
    def create_apps(self) -> None:
        for app_id in self.apps:
            self._run(self._registry.put_app(new_app(app_id)))

    # -- the rules -----------------------------------------------------------------------

    @rule(
        app=st.integers(0, 1),
        user=st.sampled_from(USERS),
        device=st.sampled_from(DEVICES),
        push_type=st.sampled_from(PUSH_TYPES),
        token=st.integers(0, len(TOKENS) - 1),
        upper=st.booleans(),
        environment=st.sampled_from(ENVIRONMENTS),
        install=st.sampled_from(INSTALLS),
        seconds=st.integers(0, 5),
    )
    def register(
        self,
        app: int,
        user: str,
        device: str,
        push_type: PushType,
        token: int,
        upper: bool,
        environment: Environment,
        install: str | None,
        seconds: int,
    ) -> None:
        key = (self.apps[app], user, device, push_type)
        self._register(key, token_drawn(token, upper), environment, install, seconds)

    @precondition(lambda self: self.model)
    @rule(
        data=st.data(),
        environment=st.sampled_from(ENVIRONMENTS),
        same_install=st.booleans(),
        seconds=st.integers(0, 5),
    )
    def register_again(
        self, data: st.DataObject, environment: Environment, same_install: bool, seconds: int
    ) -> None:
        """An app start re-sending the token it has (with or without its install)."""
        key = data.draw(st.sampled_from(sorted(self.model)))
        held = self.model[key]
        install = held.install if same_install else None
        self._register(key, held.token, environment, install, seconds)

    @precondition(lambda self: self.model)
    @rule(
        data=st.data(),
        user=st.sampled_from(USERS),
        device=st.sampled_from(DEVICES),
        install=st.sampled_from(("same", *INSTALLS)),
        seconds=st.integers(0, 5),
    )
    def move_token(
        self, data: st.DataObject, user: str, device: str, install: str | None, seconds: int
    ) -> None:
        """A held token asked for by another user or device: from the install that holds
        it (the phone changed hands), or from elsewhere (a stranger)."""
        key = data.draw(st.sampled_from(sorted(self.model)))
        held = self.model[key]
        proof = held.install if install == "same" else install
        self._register((key[0], user, device, key[3]), held.token, held.environment, proof, seconds)

    def _register(
        self,
        key: Key,
        token: str,
        environment: Environment,
        install: str | None,
        seconds: int,
    ) -> None:
        app_id, user, device, push_type = key
        now = self._tick(seconds)
        wanted = token.lower()
        expected = self._expected_registration(key, wanted, install)
        outcome: Registration | Exception
        try:
            outcome = self._run(
                self._registry.register_device(
                    app_id=app_id,
                    user_id=user,
                    device_id=device,
                    push_type=push_type,
                    token=token,
                    environment=environment,
                    now=now,
                    max_devices=CAP,
                    install_secret=install,
                )
            )
        except (TokenHeldElsewhere, TooManyDevices) as refused:
            outcome = refused
        if not isinstance(expected, tuple):
            assert type(outcome) is expected, f"got {outcome!r}, expected {expected.__name__}"
            return
        assert isinstance(outcome, Registration), f"refused with {outcome!r}"
        result = outcome
        created, moved = expected
        assert result.created == created
        assert sorted(result.moved_from) == sorted(moved)
        assert result.device.token == wanted
        existing = self.model.get(key)
        for holder in moved:
            del self.model[(app_id, *holder, push_type)]
        if existing is not None and existing.token == wanted:
            self.model[key] = replace(
                existing,
                environment=environment,
                last_seen_at=now,
                install=install if install is not None else existing.install,
            )
        else:
            created_at = existing.created_at if existing is not None else now
            self.model[key] = Held(wanted, environment, created_at, now, install)

    def _expected_registration(
        self, key: Key, token: str, install: str | None
    ) -> tuple[bool, list[tuple[str, str]]] | type[Exception]:
        """The model's answer: (created, moved from) or the exception it must raise."""
        app_id, user, device, push_type = key
        existing = self.model.get(key)
        if existing is None:
            known = {k[2] for k in self.model if k[:2] == (app_id, user)}
            if device not in known and len(known) >= CAP:
                return TooManyDevices
        if existing is not None and existing.token == token:
            return (False, [])
        holders = [
            (k, held)
            for k, held in self.model.items()
            if k[0] == app_id and k[3] == push_type and held.token == token
        ]
        if any(
            k[1] != user and (install is None or held.install != install) for k, held in holders
        ):
            return TokenHeldElsewhere
        return (existing is None, [(k[1], k[2]) for k, _ in holders])

    @rule(
        app=st.integers(0, 1),
        user=st.sampled_from(USERS),
        device=st.sampled_from(DEVICES),
        push_type=st.one_of(st.none(), st.sampled_from(PUSH_TYPES)),
    )
    def unregister(self, app: int, user: str, device: str, push_type: PushType | None) -> None:
        app_id = self.apps[app]
        removed = self._run(
            self._registry.unregister_device(
                app_id=app_id, user_id=user, device_id=device, push_type=push_type
            )
        )
        gone = [
            k for k in self.model if k[:3] == (app_id, user, device) and push_type in (None, k[3])
        ]
        assert removed == len(gone)
        for k in gone:
            del self.model[k]

    @precondition(lambda self: self.model)
    @rule(data=st.data(), offset=st.integers(-1, 1), upper=st.booleans())
    def apns_says_held_token_unregistered(
        self, data: st.DataObject, offset: int, upper: bool
    ) -> None:
        """A 410 for a held token, its timestamp a second before, at or after the moment
        the registration was last seen: the edges of the rule."""
        key = data.draw(st.sampled_from(sorted(self.model)))
        held = self.model[key]
        self._invalidate(key[0], held.token, upper, held.last_seen_at + timedelta(seconds=offset))

    @rule(
        app=st.integers(0, 1),
        token=st.integers(0, len(TOKENS) - 1),
        upper=st.booleans(),
        ago=st.integers(-3, 12),
    )
    def apns_says_unregistered(self, app: int, token: int, upper: bool, ago: int) -> None:
        """A 410 whose timestamp is `ago` seconds before now: only registrations not seen
        since then go (a token registered again after the timestamp stays)."""
        self._invalidate(self.apps[app], TOKENS[token], upper, self.now - timedelta(seconds=ago))

    def _invalidate(self, app_id: str, token: str, upper: bool, since: datetime) -> None:
        removed = self._run(
            self._registry.invalidate_token(
                app_id=app_id,
                token=token.upper() if upper else token,
                invalid_since=since,
                reason="Unregistered",
            )
        )
        gone = [
            k
            for k, held in self.model.items()
            if k[0] == app_id and held.token == token and held.last_seen_at <= since
        ]
        assert removed == bool(gone)
        for k in gone:
            del self.model[k]

    @rule(
        app=st.integers(0, 1),
        token=st.integers(0, len(TOKENS) - 1),
        environment=st.sampled_from(ENVIRONMENTS),
    )
    def heal_environment(self, app: int, token: int, environment: Environment) -> None:
        """APNs said the token belongs to the other environment: every registration of it
        moves there."""
        app_id = self.apps[app]
        changed = self._run(
            self._registry.set_environment(
                app_id=app_id, token=TOKENS[token], environment=environment
            )
        )
        healed = [
            k
            for k, held in self.model.items()
            if k[0] == app_id and held.token == TOKENS[token] and held.environment != environment
        ]
        assert changed == bool(healed)
        for k in healed:
            self.model[k] = replace(self.model[k], environment=environment)

    @rule(app=st.integers(0, 1))
    def delete_and_recreate_app(self, app: int) -> None:
        """An app deleted takes its devices with it; created again, it starts empty."""
        app_id = self.apps[app]
        assert self._run(self._registry.delete_app(app_id))
        self._run(self._registry.put_app(new_app(app_id)))
        for key in [k for k in self.model if k[0] == app_id]:
            del self.model[key]

    # -- what must always hold -----------------------------------------------------------

    @invariant()
    def registry_holds_what_the_model_holds(self) -> None:
        for app_id in self.apps:
            expected_users = sorted({k[1] for k in self.model if k[0] == app_id})
            assert self._run(self._registry.list_users(app_id)) == expected_users
            for user in USERS:
                devices = self._run(self._registry.devices_of_user(app_id, user))
                stored = {
                    (d.device_id, d.push_type): (
                        d.token,
                        d.environment,
                        d.created_at,
                        d.last_seen_at,
                    )
                    for d in devices
                }
                assert len(stored) == len(devices)
                modelled = {
                    (k[2], k[3]): (h.token, h.environment, h.created_at, h.last_seen_at)
                    for k, h in self.model.items()
                    if k[:2] == (app_id, user)
                }
                assert stored == modelled, f"{app_id}/{user}"
                assert len({d.device_id for d in devices}) <= CAP

    @invariant()
    def a_token_has_one_holder_per_push_type(self) -> None:
        """Read from the registry itself, every user of both apps."""
        holders = [
            (app_id, d.push_type, d.token)
            for app_id in self.apps
            for user in USERS
            for d in self._run(self._registry.devices_of_user(app_id, user))
        ]
        assert len(holders) == len(set(holders))


@pytest.mark.timeout(900)
def test_registry_sequences_keep_their_invariants(database_url: str) -> None:
    box = SecretBox({"k1": b"\x07" * 32}, "k1")
    loop = asyncio.new_event_loop()
    try:
        registry = loop.run_until_complete(open_registry(database_url, box))
        try:

            class OnThisDatabase(RegistrySequences):
                pass

            OnThisDatabase.loop = loop
            OnThisDatabase.registry = registry
            run_state_machine_as_test(
                OnThisDatabase,
                settings=settings(
                    max_examples=40,
                    stateful_step_count=25,
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow],
                ),
            )
        finally:
            loop.run_until_complete(registry.close())
    finally:
        loop.close()
