"""Moments are stored as integer microseconds since the epoch (UTC) in both engines:
exact, sortable, and free of each engine's own date types."""

from __future__ import annotations

from datetime import UTC, datetime


def to_us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def from_us(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC)


def maybe_from_us(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)
