"""Database URLs in log lines and errors never show a password."""

from __future__ import annotations

import pytest

from ringpush.registry.connect import redacted


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://rp:s3cret@db:5432/rp", "postgresql://rp:***@db:5432/rp"),
        (
            "postgresql://rp@db/rp?password=s3cret&sslmode=require",
            "postgresql://rp@db/rp?password=***&sslmode=require",
        ),
        (
            "postgresql://rp@db/rp?sslmode=require&PASSWORD=s3cret&sslpassword=k",
            "postgresql://rp@db/rp?sslmode=require&PASSWORD=***&sslpassword=***",
        ),
        ("sqlite:///state/ringpush.db", "sqlite:///state/ringpush.db"),
        ("postgresql://rp@db/rp?sslmode=require", "postgresql://rp@db/rp?sslmode=require"),
    ],
)
def test_passwords_are_never_shown(url: str, shown: str) -> None:
    assert redacted(url) == shown
    assert "s3cret" not in redacted(url)
