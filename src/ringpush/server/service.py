"""``ringpush serve``: the registry, the delivery engine, the API and the ring timer.

Everything is set from :class:`ServeSettings` (``server/settings.py``), which the CLI fills
from flags, ``RINGPUSH_*`` variables and a config file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from ringpush.delivery.calls import CallService
from ringpush.delivery.clients import ApnsClients
from ringpush.delivery.engine import DeliveryEngine, utc_now
from ringpush.delivery.fcm_clients import FcmClients
from ringpush.delivery.metrics import DeliveryMetrics
from ringpush.delivery.pushes import PushService
from ringpush.gc_pauses import GcPauseMonitor, settle_collector
from ringpush.loop_lag import LoopLagMonitor
from ringpush.registry.app_cache import AppCache
from ringpush.registry.connect import open_registry, redacted
from ringpush.registry.sealing import StateFileError, check_private_file, load_secret_box
from ringpush.registry.sql_registry import SqlRegistry
from ringpush.server.app import create_app
from ringpush.server.auth import Authenticator, load_admin_key
from ringpush.server.embedded import EmbeddedHttpServer
from ringpush.server.rate_limits import RateLimits
from ringpush.server.settings import ServeSettings, read_config_file
from ringpush.server.state import ServerState

__all__ = ["RingpushService", "ServeSettings", "read_config_file", "serve_until_stopped"]

log = logging.getLogger(__name__)

#: How often ringing calls are checked for an expired ring time.
RING_CHECK_SECONDS = 0.5
#: How often each instance deletes finished work older than the retention.
RETENTION_SWEEP_SECONDS = 600.0


class RingpushService:
    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.registry: SqlRegistry | None = None
        self._clients: ApnsClients | None = None
        self._fcm_clients: FcmClients | None = None
        self._engine: DeliveryEngine | None = None
        self._http: EmbeddedHttpServer | None = None
        self._ring_task: asyncio.Task[None] | None = None
        self._retention_task: asyncio.Task[None] | None = None
        self._metrics: DeliveryMetrics | None = None
        self._loop_lag: LoopLagMonitor | None = None
        self._gc_pauses: GcPauseMonitor | None = None
        self._calls: CallService | None = None
        self.admin_key = ""
        self.admin_key_file: Path | None = None
        self.admin_key_created = False
        self.port = 0

    async def start(self) -> None:
        settings = self.settings
        box = load_secret_box(settings.state_dir / "secret.json")
        self.registry = await open_registry(settings.database, box)
        metrics = self._metrics = DeliveryMetrics()
        self._loop_lag = LoopLagMonitor(metrics.registry)
        self._loop_lag.start()
        self._gc_pauses = GcPauseMonitor(metrics.registry)
        self._gc_pauses.start()
        self._clients = ApnsClients(
            tokens=self.registry.provider_tokens, on_signed=metrics.provider_tokens_signed.inc
        )
        admin = load_admin_key(settings.state_dir)
        self.admin_key, self.admin_key_file = admin.key, admin.file
        self.admin_key_created = admin.created
        # FCM access tokens shared by every instance, as APNs provider tokens are.
        self._fcm_clients = FcmClients(tokens=self.registry.access_tokens)
        apps = AppCache(self.registry)
        await apps.start()
        engine = self._engine = DeliveryEngine(
            self.registry,
            self._clients,
            apps=apps,
            lease=timedelta(seconds=settings.lease_seconds),
            lane_concurrency=settings.lane_concurrency,
            bulk_share_during_calls=settings.bulk_share_during_calls,
            metrics=metrics,
            fcm_clients=self._fcm_clients,
        )
        await engine.listen()
        engine.start()
        calls = self._calls = CallService(
            self.registry, engine, utc_now, max_devices=settings.max_devices_per_user
        )
        await calls.events.start()
        authenticator = Authenticator(
            self.registry, self.admin_key, box.derive("user-tokens"), apps
        )
        apps.subscribe(authenticator.forget_app)
        pushes = PushService(self.registry, engine, utc_now)
        app = create_app(
            ServerState(
                self.registry,
                authenticator,
                calls,
                pushes,
                engine,
                max_devices_per_user=settings.max_devices_per_user,
                max_body_bytes=settings.max_body_bytes,
                limits=RateLimits(settings.rates),
                max_event_streams_per_user=settings.max_event_streams_per_user,
            )
        )
        self._http = EmbeddedHttpServer(app, tls=_tls_files(settings))
        self.port = await self._http.start(settings.host, settings.port)
        # Everything made while starting (modules, FastAPI's routes and models, pydantic's
        # validators) lives as long as the process: out of the collector's sight, a
        # collection under load looks at what requests make, not at all of that.
        settle_collector()
        self._ring_task = asyncio.create_task(self._ring_timer(calls))
        self._retention_task = asyncio.create_task(self._retention_sweeps())

    async def _ring_timer(self, calls: CallService) -> None:
        while True:
            try:
                await calls.expire_overdue()
            except Exception:
                log.exception("ring timer round failed")
            await asyncio.sleep(RING_CHECK_SECONDS)

    async def _retention_sweeps(self) -> None:
        """Every instance sweeps, at a random point of each period (instances started
        together do not all sweep at once; two that do only share the work)."""
        assert self.registry is not None and self._metrics is not None
        keep = timedelta(days=self.settings.retention_days)
        period = self.settings.retention_sweep_seconds
        await asyncio.sleep(random.uniform(0, period))
        while True:
            try:
                swept = await self.registry.retention.sweep(utc_now(), keep)
            except Exception:
                log.exception("retention sweep failed; trying again next period")
            else:
                deleted = self._metrics.retention_deleted
                deleted.labels("pushes").inc(swept.pushes)
                deleted.labels("calls").inc(swept.calls)
                deleted.labels("call_listeners").inc(swept.listeners)
                if swept.pushes or swept.calls:
                    log.info(
                        "retention: deleted %d finished pushes and %d ended calls older than"
                        " %g days",
                        swept.pushes,
                        swept.calls,
                        self.settings.retention_days,
                    )
            await asyncio.sleep(period)

    async def stop(self) -> None:
        if self._loop_lag is not None:
            await self._loop_lag.stop()
        if self._gc_pauses is not None:
            self._gc_pauses.stop()
        for task in (self._ring_task, self._retention_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._calls is not None:  # first: open event streams end, their apps reconnect
            await self._calls.events.close()
        if self._http is not None:
            await self._http.stop()
        if self._engine is not None:
            await self._engine.stop()
        if self._clients is not None:
            await self._clients.close()
        if self._fcm_clients is not None:
            await self._fcm_clients.close()
        if self.registry is not None:
            await self.registry.close()


def _tls_files(settings: ServeSettings) -> tuple[Path, Path] | None:
    """The certificate and key to serve HTTPS with, checked before anything listens."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    try:
        check_private_file(settings.tls_key)
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            settings.tls_cert, settings.tls_key
        )
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StateFileError(
            f"cannot load the TLS certificate {settings.tls_cert} and key {settings.tls_key}:"
            f" {reason}"
        ) from None
    return settings.tls_cert, settings.tls_key


async def serve_until_stopped(
    settings: ServeSettings, say: Callable[[str], None], stop: asyncio.Event
) -> None:
    service = RingpushService(settings)
    starting = asyncio.ensure_future(service.start())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not starting.done():  # told to stop while starting (say, a database that hangs)
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        await service.stop()
        return
    try:
        starting.result()
    except BaseException:
        await service.stop()  # whatever had started (connections, tasks) is let go
        raise
    try:
        say(
            f"ringpush serving on {settings.scheme}://{settings.host}:{service.port}"
            " (API docs at /docs)"
        )
        say(f"database: {redacted(settings.database)}")
        if service.admin_key_file is not None:
            done = "written to" if service.admin_key_created else "read from"
            say(f"operator API key {done} {service.admin_key_file} (mode 0600)")
        else:
            say("operator API key taken from RINGPUSH_ADMIN_KEY")
        await stop.wait()
    finally:
        await service.stop()
