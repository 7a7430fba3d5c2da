"""``import ringpush.sdk`` loads what an app's client needs and nothing of the server's
provider side: the HTTP/2 client, h2, cryptography and PyJWT stay unloaded."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("h2", "hpack", "cryptography", "jwt", "ringpush.apns.client", "ringpush.apns.pool")


def test_importing_the_sdk_leaves_the_provider_side_unloaded() -> None:
    probe = f"import sys, ringpush.sdk\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""


def test_the_apns_package_still_offers_every_name() -> None:
    import importlib

    import ringpush.apns as apns

    for name in apns.__all__:
        home = importlib.import_module(apns._HOMES[name])
        assert getattr(apns, name) is getattr(home, name)
    with pytest.raises(AttributeError, match="nothing"):
        _ = apns.nothing
