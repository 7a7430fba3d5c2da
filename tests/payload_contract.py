"""The payload contract (``ringpush/schemas/payloads-v1.json``) as a test helper: every
payload ringpush writes must validate against it, whichever test made it send one."""

from __future__ import annotations

import collections
import json
from collections.abc import Iterable
from importlib import resources
from typing import Any

import jsonschema

SCHEMA: dict[str, Any] = json.loads(
    resources.files("ringpush").joinpath("schemas/payloads-v1.json").read_text()
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def kind_of(payload: Any) -> str | None:
    """``incoming-call``, ``call-ended`` or ``missed-call`` for a payload ringpush wrote;
    None for one an app wrote (``POST /v1/pushes``)."""
    info = payload.get("ringpush") if isinstance(payload, dict) else None
    if not isinstance(info, dict) or info.get("type") not in ("incoming-call", "call-ended"):
        return None
    if info["type"] == "call-ended" and "alert" in payload.get("aps", {}):
        return "missed-call"
    return str(info["type"])


def check_payloads(payloads: Iterable[Any]) -> collections.Counter[str]:
    """Validate each of ringpush's own payloads; returns how many of each kind."""
    kinds: collections.Counter[str] = collections.Counter()
    for payload in payloads:
        kind = kind_of(payload)
        if kind is not None:
            VALIDATOR.validate(payload)
            kinds[kind] += 1
    return kinds
