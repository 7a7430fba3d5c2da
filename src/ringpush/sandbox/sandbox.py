"""The :class:`Sandbox` facade: a local APNs for tests, demos and benchmarks.

One object owns the shared world (keys, device tokens, records, faults, the clock) and
serves it on one TLS/HTTP-2 port per environment plus a JSON control port, all on the
caller's event loop. Tests drive it in-process; the CLI runs it in the foreground.

With ``fcm=True`` it also owns a local FCM (:class:`~ringpush.sandbox.fcm.FcmSandbox`)
on a port of its own, whose control API is mounted at ``/fcm`` of this one: a server
that rings iPhones and Android phones needs both, started and stopped together.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec

from ringpush.apns.credentials import check_apple_id
from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.embedded_uvicorn import EmbeddedUvicorn, bound_socket
from ringpush.sandbox import persistence
from ringpush.sandbox.auth import ClientIdentity
from ringpush.sandbox.certificates import (
    CertificateAuthority,
    IssuedCertificate,
    certificate_bundle_id,
)
from ringpush.sandbox.control_api import build_control_app
from ringpush.sandbox.core import ConnectionState, SandboxCore
from ringpush.sandbox.devices import DEFAULT_MAX_REPORT_FAILURES, DeviceDirectory, SimulatedDevice
from ringpush.sandbox.faults import Faults
from ringpush.sandbox.h2_server import ApnsServerProtocol
from ringpush.sandbox.keys import KeyRing, SandboxKey
from ringpush.sandbox.records import NotificationRecord, Stats
from ringpush.sandbox.runner import TermSignal
from ringpush.sandbox.tls import client_context, server_context

if TYPE_CHECKING:  # loaded only when FCM is served: it brings hypercorn
    from ringpush.sandbox.fcm.sandbox import FcmSandbox

T = TypeVar("T")

#: The FCM sandbox's CA, kept beside the APNs one in a state dir. It is a second CA
#: because :class:`~ringpush.sandbox.fcm.FcmSandbox` makes its own and takes no other.
FCM_CA_FILE = "fcm-ca.pem"

#: APNs's post-authentication stream limit as of Pushy #878; configurable.
DEFAULT_MAX_CONCURRENT_STREAMS = 1000


class Sandbox:
    """A faithful local APNs.

    ``keys`` are the signing keys whose tokens are accepted (more can be registered
    later). Token connections start with ``initial_max_concurrent_streams`` (1, like
    APNs) and get ``max_concurrent_streams`` after the first authenticated request.
    ``clock`` (seconds since the epoch) drives JWT ages, 410 timestamps and records.
    ``strict_http2_headers`` makes h2 reset malformed header blocks (see
    :func:`ringpush.sandbox.h2_server.h2_configuration`); off, they get APNs answers.
    ``fcm`` serves a local FCM beside APNs (:attr:`fcm`; its port is ``start``'s
    ``fcm_port``). A state dir keeps its port only: the FCM sandbox keeps its CA,
    service accounts and tokens in memory, so they are new on every start.
    """

    def __init__(
        self,
        keys: Iterable[SandboxKey] = (),
        *,
        max_concurrent_streams: int = DEFAULT_MAX_CONCURRENT_STREAMS,
        initial_max_concurrent_streams: int = 1,
        clock: Callable[[], float] = time.time,
        faults: Faults | None = None,
        strict_http2_headers: bool = False,
        state_dir: Path | None = None,
        fcm: bool = False,
    ) -> None:
        if max_concurrent_streams < 1 or initial_max_concurrent_streams < 1:
            raise ValueError("stream limits must be at least 1")
        self._keys = KeyRing(keys)
        self._core = SandboxCore(keys=self._keys, clock=clock, faults=faults)
        self._devices = DeviceDirectory(self._core.tokens, clock)
        self._core.on_accepted = self._devices.accepted
        self.max_concurrent_streams = max_concurrent_streams
        self.initial_max_concurrent_streams = initial_max_concurrent_streams
        self.strict_http2_headers = strict_http2_headers
        saved = persistence.load(state_dir) if state_dir is not None else None
        self._ca = saved.authority if saved is not None else CertificateAuthority()
        self._certificate_environments: dict[int, Environment | None] = {}
        self._workdir: Path | None = None
        self._ca_file: Path | None = None
        self._host = "127.0.0.1"
        self._servers: dict[Environment, asyncio.Server] = {}
        self._ports: dict[Environment, int] = {}
        self._protocols: set[ApnsServerProtocol] = set()
        self._control: EmbeddedUvicorn | None = None
        self._control_port: int | None = None
        self.term_signal = TermSignal()
        #: Where the CA, ports, keys and issued tokens are kept across restarts (None:
        #: nothing is kept). See :mod:`ringpush.sandbox.persistence`.
        self.state_dir = state_dir
        self.saved_ports: dict[str, int] = saved.ports if saved is not None else {}
        for key in saved.keys if saved is not None else ():
            self._keys.add(key)
        for issued in saved.tokens if saved is not None else ():
            self._core.tokens.restore(issued)
        #: The local FCM served beside APNs (None: not served).
        self.fcm: FcmSandbox | None = None
        if fcm:
            from ringpush.sandbox.fcm.sandbox import FcmSandbox

            self.fcm = FcmSandbox()

    # -- lifecycle -------------------------------------------------------------------

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        control_port: int | None = 0,
        ca_out: Path | str | None = None,
        environments: Collection[Environment] = (Environment.DEVELOPMENT,),
        ports: Mapping[Environment, int] | None = None,
        fcm_port: int = 0,
    ) -> None:
        """Listen on one port per environment, the FCM port when the sandbox serves FCM,
        and the control API unless it is None.

        ``port`` is the first environment's port (0: any free one); ``ports`` overrides
        per environment. On failure everything opened so far is closed again, so
        ``start`` may be retried (e.g. with free ports).
        """
        if self._servers:
            raise RuntimeError("sandbox is already running")
        if not environments:
            raise ValueError("serve at least one environment")
        self._host = host
        try:
            self._workdir = Path(tempfile.mkdtemp(prefix="ringpush-sandbox-"))
            if ca_out is not None:
                self._ca_file = Path(ca_out)
            elif self.state_dir is not None:
                self._ca_file = self.state_dir / persistence.CA_FILE
            else:
                self._ca_file = self._workdir / "ca.pem"
            if self.state_dir is not None:
                self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._ca_file.write_bytes(self._ca.certificate_pem)
            context = server_context(self._ca, self._ca.issue_server_certificate(), self._workdir)
            loop = asyncio.get_running_loop()
            for index, environment in enumerate(environments):
                chosen = (ports or {}).get(environment, port if index == 0 else 0)

                async def listen(at: int, env: Environment = environment) -> asyncio.Server:
                    return await loop.create_server(
                        lambda: self._protocol(env), host, at, ssl=context, reuse_address=True
                    )

                server = await self._on_saved_port(chosen, environment.value, listen)
                self._servers[environment] = server
                self._ports[environment] = server.sockets[0].getsockname()[1]
            if self.fcm is not None:
                await self._start_fcm(self.fcm, host, fcm_port)
            if control_port is not None:

                async def control(at: int) -> None:
                    await self._start_control(host, at)

                await self._on_saved_port(control_port, "control", control)
            self._persist()
            self.term_signal.arm()
        except BaseException:
            await self.stop()
            raise

    async def _on_saved_port(
        self, requested: int, name: str, open_: Callable[[int], Awaitable[T]]
    ) -> T:
        """``open_`` on ``requested``; a request for any port (0) takes the port ``name``
        had in the last run of this state dir, or any free one if that is taken now."""
        saved = self.saved_ports.get(name, 0) if requested == 0 else 0
        if saved:
            with contextlib.suppress(OSError):
                return await open_(saved)
        return await open_(requested)

    async def _start_fcm(self, fcm: FcmSandbox, host: str, port: int) -> None:
        async def listen(at: int) -> None:
            await fcm.start(host, at)

        await self._on_saved_port(port, "fcm", listen)
        if self.state_dir is not None:  # a path that stays the same across restarts
            (self.state_dir / FCM_CA_FILE).write_bytes(fcm.ca_pem)

    async def _start_control(self, host: str, port: int) -> None:
        sock = bound_socket(host, port)
        self._control_port = sock.getsockname()[1]
        self._control = EmbeddedUvicorn(build_control_app(self))
        await self._control.start(sock)

    async def stop(self) -> None:
        """Close every listener and connection; records and tokens are kept."""
        self.term_signal.disarm()
        for server in self._servers.values():
            server.close()
        for protocol in list(self._protocols):
            protocol.close()
        for server in self._servers.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
        self._servers.clear()
        self._ports.clear()
        if self._control is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._control.stop(), 5)
        self._control = None
        self._control_port = None
        if self.fcm is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.fcm.stop(), 5)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    async def __aenter__(self) -> Sandbox:
        if not self._servers:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _protocol(self, environment: Environment) -> ApnsServerProtocol:
        def connection_for(transport: asyncio.Transport) -> ConnectionState:
            return self._core.open_connection(environment, self._identify(transport))

        protocol = ApnsServerProtocol(
            self._core,
            connection_for,
            max_concurrent_streams=self.max_concurrent_streams,
            initial_max_concurrent_streams=self.initial_max_concurrent_streams,
            on_close=self._protocols.discard,
            strict_headers=self.strict_http2_headers,
        )
        self._protocols.add(protocol)
        return protocol

    def _identify(self, transport: asyncio.Transport) -> ClientIdentity | None:
        ssl_object = transport.get_extra_info("ssl_object")
        if not isinstance(ssl_object, ssl.SSLObject):
            return None
        der = ssl_object.getpeercert(binary_form=True)
        found = certificate_bundle_id(der) if der else None
        if found is None:
            return None
        bundle_id, serial = found
        environment = self._certificate_environments.get(serial)
        return ClientIdentity.for_bundle(bundle_id, serial, environment)

    # -- addresses -------------------------------------------------------------------

    def port(self, environment: Environment = Environment.DEVELOPMENT) -> int:
        try:
            return self._ports[environment]
        except KeyError:
            raise LookupError(f"the sandbox does not serve {environment.value}") from None

    @property
    def ports(self) -> dict[Environment, int]:
        return dict(self._ports)

    def port_map(self) -> dict[str, int]:
        return {env.value: port for env, port in self._ports.items()}

    def url(self, environment: Environment = Environment.DEVELOPMENT) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"https://{host}:{self.port(environment)}"

    @property
    def control_port(self) -> int:
        if self._control_port is None:
            raise LookupError("the control API is not running")
        return self._control_port

    @property
    def control_url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.control_port}"

    @property
    def ca_file(self) -> Path:
        if self._ca_file is None:
            raise LookupError("the sandbox has not been started")
        return self._ca_file

    @property
    def ca_pem(self) -> bytes:
        return self._ca.certificate_pem

    @property
    def fcm_ca_file(self) -> Path:
        """The FCM sandbox's CA (PEM) for clients to trust: in the state dir if there is
        one, else the FCM sandbox's own file (gone once it stops)."""
        if self.fcm is None:
            raise LookupError("the sandbox does not serve FCM")
        if self.state_dir is not None:
            return self.state_dir / FCM_CA_FILE
        return self.fcm.ca_file

    def client_ssl_context(self, certificate: IssuedCertificate | None = None) -> ssl.SSLContext:
        """A client TLS context trusting the sandbox, optionally with a client certificate."""
        return client_context(self._ca.certificate_pem, certificate, self._workdir)

    # -- world -----------------------------------------------------------------------

    def register_key(
        self,
        key_id: str,
        team_id: str,
        public_key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey | bytes | str,
        *,
        environment: Environment | None = None,
        bundle_ids: Iterable[str] | None = None,
    ) -> SandboxKey:
        """Accept tokens signed by this key: a key object, or a public or private PEM.

        ``environment`` restricts the key to one host (``BadEnvironmentKeyIdInToken``
        on the other); ``bundle_ids`` makes it a topic-specific key.
        """
        if isinstance(public_key, ec.EllipticCurvePrivateKey):
            public_key = public_key.public_key()
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            key = SandboxKey(
                check_apple_id(key_id, "key id"),
                check_apple_id(team_id, "team id"),
                public_key,
                environment,
                frozenset(bundle_ids) if bundle_ids is not None else None,
            )
        else:
            key = SandboxKey.from_pem(
                public_key, key_id, team_id, environment=environment, bundle_ids=bundle_ids
            )
        self._keys.add(key)
        self._persist()
        return key

    def register_key_file(
        self,
        path: str | Path,
        key_id: str,
        team_id: str,
        *,
        environment: Environment | None = None,
    ) -> SandboxKey:
        """Accept tokens signed by the ``.p8`` (or public PEM) at ``path``."""
        key = SandboxKey.from_file(path, key_id, team_id, environment=environment)
        self._keys.add(key)
        self._persist()
        return key

    def add_key(self, key: SandboxKey) -> None:
        self._keys.add(key)
        self._persist()

    def registered_keys(self) -> list[SandboxKey]:
        return self._keys.all()

    def issue_token(
        self,
        bundle_id: str,
        push_type: PushType = PushType.VOIP,
        environment: Environment = Environment.DEVELOPMENT,
    ) -> str:
        """A new device token (64 hex characters) for one app, push type and environment."""
        token = self._core.tokens.issue(bundle_id, push_type, environment)
        self._persist()
        return token

    def add_token(
        self,
        token: str,
        bundle_id: str,
        push_type: PushType = PushType.VOIP,
        environment: Environment = Environment.DEVELOPMENT,
    ) -> str:
        """Register a token of the caller's choosing (any even-length hex)."""
        added = self._core.tokens.add(token, bundle_id, push_type, environment)
        self._persist()
        return added

    def uninstall(self, token: str) -> int | None:
        """Uninstall the app behind ``token``: pushes to it now get 410 with this time (ms).

        Returns the timestamp, or None for a token the sandbox never issued.
        """
        at_ms = int(self._core.clock() * 1000)
        issued = self._core.tokens.uninstall(token, at_ms)
        self._persist()
        return None if issued is None else at_ms

    def _persist(self) -> None:
        """Keep the state for the next start, when the sandbox has a state dir."""
        if self.state_dir is None:
            return
        running = self.port_map()
        if self._control_port is not None:
            running["control"] = self._control_port
        if self.fcm is not None:
            with contextlib.suppress(LookupError):  # not running
                running["fcm"] = self.fcm.port
        # A port not served in this run stays saved: the next run may ask for it again.
        ports = {**self.saved_ports, **running}
        self.saved_ports = ports
        persistence.save(
            self.state_dir,
            persistence.SavedState(
                self._ca, dict(ports), self._keys.all(), self._core.tokens.all()
            ),
        )

    def mint_client_certificate(
        self, bundle_id: str, *, environment: Environment | None = None
    ) -> IssuedCertificate:
        """A client certificate for ``bundle_id`` signed by the sandbox CA.

        It covers the bundle id, ``.voip`` and ``.complication``; ``environment``
        restricts it to one host (``BadCertificateEnvironment`` on the other).
        """
        issued = self._ca.issue_client_certificate(bundle_id)
        self._certificate_environments[issued.serial] = environment
        return issued

    def device(
        self,
        name: str,
        bundle_id: str,
        environment: Environment = Environment.DEVELOPMENT,
        *,
        report_deadline: float = 0.0,
        max_report_failures: int = DEFAULT_MAX_REPORT_FAILURES,
    ) -> SimulatedDevice:
        """A simulated iPhone with ``bundle_id`` installed, signed for ``environment``.

        It is the app's PushKit: :meth:`SimulatedDevice.register` hands out tokens and
        the pushes this sandbox accepts for them reach the app's delegate; VoIP pushes
        must be reported to its :attr:`~SimulatedDevice.callkit` (see
        :mod:`ringpush.sandbox.devices`).
        """
        return self._devices.create(
            name,
            bundle_id,
            environment,
            report_deadline=report_deadline,
            max_report_failures=max_report_failures,
        )

    @property
    def devices(self) -> list[SimulatedDevice]:
        return list(self._devices.all())

    def notifications(
        self,
        *,
        token: str | None = None,
        apns_id: str | None = None,
        environment: Environment | None = None,
    ) -> list[NotificationRecord]:
        """Accepted pushes in arrival order, optionally filtered."""
        return self._core.records.query(token=token, apns_id=apns_id, environment=environment)

    @property
    def faults(self) -> Faults:
        """The live fault knobs; change them at any time."""
        return self._core.faults

    @property
    def stats(self) -> Stats:
        return self._core.stats

    @property
    def core(self) -> SandboxCore:
        return self._core

    def reset(self) -> None:
        """Clear records, counters and faults (tokens, keys and certificates stay)."""
        self._core.reset()
