"""Fixtures of the FCM tests: a service account and a clock the tests move."""

from __future__ import annotations

import json

import pytest

from ringpush.fcm.service_account import ServiceAccount
from tests.fcm.support import Clock, key_file


@pytest.fixture
def clock() -> Clock:
    return Clock(1_800_000_000.0)


@pytest.fixture
def account() -> ServiceAccount:
    return ServiceAccount.from_json(json.dumps(key_file()))
