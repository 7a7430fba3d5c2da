"""Liveness, readiness (for a load balancer) and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ringpush.server.principals import State

#: A database that takes longer than this to answer ``SELECT 1`` is not ready.
READY_TIMEOUT_SECONDS = 2.0

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers HTTP. Restart it only if this fails."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: State) -> JSONResponse:
    """Readiness, for a load balancer: the database answers, the delivery engine runs,
    and call events from other instances can arrive. 503 names what is not. Lanes in
    trouble are listed, but one app's dead endpoint never makes the instance unready."""
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(state.registry.ping(), READY_TIMEOUT_SECONDS)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means: not ready
        checks["database"] = f"unavailable ({type(exc).__name__})"
    if state.engine is not None:
        checks["delivery"] = "ok" if state.engine.running else "stopped"
    if state.calls is not None:
        checks["call_events"] = "ok" if state.calls.events.listening else "not listening"
    ready = all(value == "ok" for value in checks.values())
    body: dict[str, object] = {"status": "ready" if ready else "unavailable", "checks": checks}
    writes = state.registry.write_health
    if writes.trouble is not None:
        # Shown, not a reason to be unready: every instance shares the database, and
        # a load balancer taking them all out would answer callers with its own errors
        # instead of ringpush's 503 with Retry-After.
        body["database_writes"] = {
            "state": "failing",
            "trouble": writes.trouble.value,
            "since": writes.since,
            "failures": writes.failures,
        }
    if state.engine is not None:
        body["lanes"] = {
            f"{lane.app_id}/{lane.environment.value}": {
                "state": lane.state.value,
                "failures": lane.failures,
                "in_flight": lane.in_flight,
                "waiting": lane.waiting,
                "retry_in": lane.retry_in,
                "last_error": lane.last_error,
            }
            for lane in state.engine.lanes()
            if lane.troubled
        }
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics")
async def metrics(state: State) -> Response:
    """Prometheus text format: pushes by type/outcome/reason, latency, lanes, queue depth."""
    if state.engine is None:
        return Response(b"", media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(state.engine.metrics.registry), media_type=CONTENT_TYPE_LATEST)
