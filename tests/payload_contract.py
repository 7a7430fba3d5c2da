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
#: An FCM message's data, and the object its ``ringpush`` string holds (JSON Schema only
#: annotates ``contentSchema``, so it is checked here).
ANDROID = jsonschema.Draft202012Validator({**SCHEMA, "oneOf": [{"$ref": "#/$defs/androidData"}]})
_ANDROID_RINGPUSH = SCHEMA["$defs"]["androidData"]["properties"]["ringpush"]["contentSchema"]
ANDROID_INFO = jsonschema.Draft202012Validator({**SCHEMA, **_ANDROID_RINGPUSH})


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


def check_android(data: Any) -> str | None:
    """Validate an FCM message's data if ringpush wrote it (it has ``ringpush``); its
    kind (``incoming-call``, ``call-ended``, ``missed-call``), or None for an app's."""
    if not isinstance(data, dict) or "ringpush" not in data:
        return None
    ANDROID.validate(data)
    info = json.loads(data["ringpush"])
    ANDROID_INFO.validate(info)
    if "data" in data:
        assert isinstance(json.loads(data["data"]), dict)
    return str(info["type"])
