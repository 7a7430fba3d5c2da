"""Prometheus metrics of delivery: they measure, they never drive logic."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.pushes = Counter(
            "ringpush_pushes_total",
            "Push attempts by push type, outcome and APNs reason",
            ["push_type", "outcome", "reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ringpush_push_latency_seconds",
            "From entering the outbox to APNs's answer, per attempt",
            ["push_type"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.claimed = Counter(
            "ringpush_outbox_claimed_total",
            "Pushes this instance claimed from the outbox (how instances share the work)",
            registry=self.registry,
        )
        self.provider_tokens_signed = Counter(
            "ringpush_provider_tokens_signed_total",
            "Provider tokens (JWTs) this instance signed for the deployment",
            registry=self.registry,
        )
        self.retention_deleted = Counter(
            "ringpush_retention_deleted_total",
            "Rows this instance deleted as older than the retention",
            ["kind"],
            registry=self.registry,
        )
        self.lane_state = Gauge(
            "ringpush_lane_circuit_state",
            "A lane's circuit breaker: 0 closed, 1 half-open (probing), 2 open",
            ["app", "environment"],
            registry=self.registry,
        )
        self.lane_opened = Counter(
            "ringpush_lane_circuit_opened_total",
            "Times a lane's circuit opened (its APNs endpoint kept failing)",
            ["app", "environment"],
            registry=self.registry,
        )
        self.lane_in_flight = Gauge(
            "ringpush_lane_in_flight",
            "Pushes a lane has on the wire or waiting for a stream",
            ["app", "environment"],
            registry=self.registry,
        )
        self.lane_deferred = Counter(
            "ringpush_lane_deferred_total",
            "Pushes put back in the outbox because their lane's circuit was open",
            ["app", "environment"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "ringpush_outbox_depth",
            "Pushes in the outbox not yet final",
            registry=self.registry,
        )
