"""The :class:`FcmSandbox` facade: a local FCM HTTP v1 for tests and demos.

One object owns the world (projects, service accounts, access tokens, registration
tokens, simulated Android devices, records, faults, the clock) and serves it over TLS
on one port, HTTP/2 and HTTP/1.1, on the caller's event loop. Its control API is an
app to mount elsewhere (:func:`ringpush.sandbox.fcm.control_api.build_fcm_control_app`).
State lives in memory only: nothing is kept across runs.
"""

from __future__ import annotations

import random
import shutil
import ssl
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from ringpush.sandbox.certificates import CertificateAuthority
from ringpush.sandbox.fcm.accounts import AccountKey, new_service_account, parse_service_account
from ringpush.sandbox.fcm.android import AndroidDevice
from ringpush.sandbox.fcm.asgi import FcmAsgiApp
from ringpush.sandbox.fcm.core import FcmCore
from ringpush.sandbox.fcm.directory import DeviceDirectory
from ringpush.sandbox.fcm.faults import FcmFaults
from ringpush.sandbox.fcm.limits import DEFAULT_PROJECT_PER_MINUTE, DEVICE_LIMITS
from ringpush.sandbox.fcm.listener import TlsListener, server_context
from ringpush.sandbox.fcm.records import MessageRecord, Stats


class NotRunning(LookupError):
    """What needs the port (URLs, key files, the CA file) was asked for before start."""


class FcmSandbox:
    """A faithful local FCM.

    ``clock`` (seconds since the epoch) drives JWT checks, access-token expiry, rate
    windows and the devices' simulated time. ``device_limits`` and
    ``project_per_minute`` are FCM's quotas by default (lower them in tests).
    ``accept_google_audience`` also takes assertions whose ``aud`` is Google's token URL,
    which google-auth (hence the Admin SDK) signs whatever ``token_uri`` says.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        faults: FcmFaults | None = None,
        rng: random.Random | None = None,
        access_token_lifetime: float = 3600.0,
        device_limits: Sequence[tuple[float, int]] = DEVICE_LIMITS,
        project_per_minute: int | None = DEFAULT_PROJECT_PER_MINUTE,
        accept_google_audience: bool = False,
    ) -> None:
        self._core = FcmCore(
            clock=clock,
            faults=faults,
            rng=rng,
            access_token_lifetime=access_token_lifetime,
            device_limits=device_limits,
            project_per_minute=project_per_minute,
            accept_google_audience=accept_google_audience,
        )
        self._devices = DeviceDirectory(self._core.registrations, self._core.projects, clock)
        self._core.on_accepted = self._devices.accepted
        self._ca = CertificateAuthority("ringpush FCM sandbox CA")
        self._listener: TlsListener | None = None
        self._workdir: Path | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None

    # -- lifecycle --------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (0: any free port); returns once it accepts."""
        if self._listener is not None:
            raise RuntimeError("the FCM sandbox is already running")
        workdir = Path(tempfile.mkdtemp(prefix="ringpush-fcm-"))
        (workdir / "ca.pem").write_bytes(self._ca.certificate_pem)
        listener = TlsListener(self._app(), server_context(self._ca.issue_server_certificate()))
        try:
            self._port = await listener.start(host, port)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        self._listener, self._workdir, self._host = listener, workdir, host
        self._core.token_url = self.token_url

    def _app(self) -> FcmAsgiApp:
        def drop(client: tuple[str, int] | None) -> bool:
            return self._listener is not None and self._listener.drop(client)

        return FcmAsgiApp(self._core, drop)

    async def stop(self) -> None:
        """Close the port and every connection; the world (accounts, tokens, records)
        is kept, so the sandbox may be started again."""
        self._devices.close()
        if self._listener is not None:
            await self._listener.stop()
        self._listener = None
        self._port = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    async def __aenter__(self) -> FcmSandbox:
        if self._listener is None:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- addresses --------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise NotRunning("the FCM sandbox is not running")
        return self._port

    @property
    def url(self) -> str:
        """``https://host:port``: put it where the client has ``https://fcm.googleapis.com``."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self._host, self._host)
        host = f"[{host}]" if ":" in host else host
        return f"https://{host}:{self.port}"

    @property
    def token_url(self) -> str:
        """The token endpoint: key files' ``token_uri`` and the ``aud`` JWTs must name."""
        return f"{self.url}/token"

    def send_url(self, project: str) -> str:
        return f"{self.url}/v1/projects/{project}/messages:send"

    @property
    def ca_pem(self) -> bytes:
        return self._ca.certificate_pem

    @property
    def ca_file(self) -> Path:
        """The CA certificate as a file, for clients that trust by path (while running)."""
        if self._workdir is None:
            raise NotRunning("the FCM sandbox is not running")
        return self._workdir / "ca.pem"

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context trusting only the sandbox's CA."""
        return ssl.create_default_context(cadata=self._ca.certificate_pem.decode())

    # -- projects and credentials -----------------------------------------------------

    def issue_service_account(self, project_id: str) -> dict[str, Any]:
        """A new service-account key file for ``project_id`` (created if new), as Google
        issues one; its ``token_uri`` is this sandbox's token endpoint (so start first)."""
        self._core.projects.ensure(project_id)
        info, key = new_service_account(project_id, self.token_url)
        self._core.accounts.add(key)
        return info

    def register_service_account(self, info: Mapping[str, Any] | str | bytes) -> AccountKey:
        """Accept JWTs signed by a key file made elsewhere (JSON text or object); only its
        public key is kept. Raises ServiceAccountError (a ValueError) for a bad file."""
        key = parse_service_account(info)
        self._core.projects.ensure(key.project_id)
        self._core.accounts.add(key)
        return key

    def project_number(self, project_id: str) -> str:
        """The project's number (its FCM sender id), which the send URL also takes."""
        return self._core.projects.ensure(project_id).number

    @property
    def access_token_lifetime(self) -> float:
        return self._core.access_tokens.lifetime

    @access_token_lifetime.setter
    def access_token_lifetime(self, seconds: float) -> None:
        """For tokens issued from now on."""
        self._core.access_tokens.lifetime = seconds

    def expire_access_tokens(self) -> int:
        """Every access token issued so far expires now; returns how many were live."""
        return self._core.access_tokens.expire_all()

    # -- devices and tokens -----------------------------------------------------------

    def device(
        self, name: str | None, package: str, project_id: str, **options: Any
    ) -> AndroidDevice:
        """A simulated Android phone with the app installed and a token already issued
        (``options``: online, dozing, notification_deadline, max_misses, doze_delay; see
        :mod:`ringpush.sandbox.fcm.android`)."""
        return self._devices.create(name, package, project_id, **options)

    def issue_token(self, package: str, project_id: str, *, name: str | None = None) -> str:
        """A registration token for ``package`` of ``project_id``, on a new device."""
        token = self._devices.create(name, package, project_id).token
        assert token is not None
        return token

    def device_for(self, token: str) -> AndroidDevice | None:
        """The device a live token belongs to."""
        return self._devices.for_token(token)

    def get_device(self, name: str) -> AndroidDevice | None:
        return self._devices.get(name)

    @property
    def devices(self) -> list[AndroidDevice]:
        return self._devices.all()

    def uninstall(self, token: str) -> bool:
        """Uninstall the app behind a live token; False if no live token is ``token``."""
        device = self._devices.for_token(token)
        if device is None:
            return False
        device.uninstall()
        return True

    def refresh_token(self, token: str) -> str | None:
        """Rotate a live token: the new one, or None if no live token is ``token``."""
        device = self._devices.for_token(token)
        return device.refresh_token() if device is not None else None

    # -- what happened ------------------------------------------------------------------

    def messages(
        self, *, token: str | None = None, project_id: str | None = None, name: str | None = None
    ) -> list[MessageRecord]:
        """Accepted messages in arrival order, optionally filtered."""
        return self._core.records.query(token=token, project_id=project_id, name=name)

    @property
    def faults(self) -> FcmFaults:
        """The live fault knobs; change them at any time."""
        return self._core.faults

    @property
    def stats(self) -> Stats:
        return self._core.stats

    @property
    def core(self) -> FcmCore:
        return self._core

    def reset(self) -> None:
        """Clear records, counters, rate windows and faults (accounts, tokens and devices
        stay)."""
        self._core.reset()
