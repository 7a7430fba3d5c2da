"""The rules FCM applies to a message before it accepts it, as pure checks.

The client runs them before sending (a message FCM would refuse never leaves, and the
error says which field), and the sandbox runs the same checks on what it receives, to
answer as FCM does (400 ``INVALID_ARGUMENT`` with a ``BadRequest`` violation per field):
one set of rules, so the two cannot disagree. Sources: docs/fcm.md §1 and §2.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: FCM's limit for a message's data, keys and values counted in UTF-8 bytes.
MAX_DATA_BYTES = 4096
#: The longest ``android.ttl`` (4 weeks); an omitted ttl means this.
MAX_TTL_SECONDS = 2_419_200
#: Data keys FCM refuses, and the prefixes it keeps for itself (our reading of Google's
#: conflicting lists: docs/fcm.md §2).
RESERVED_DATA_KEYS = frozenset({"from", "message_type"})
RESERVED_DATA_PREFIXES = ("google.", "gcm.")
#: A protobuf Duration as JSON: seconds, up to nine fractional digits, then ``s``.
TTL_PATTERN = re.compile(r"^\d+(\.\d{1,9})?s$")
#: ``android.priority``: the enum's names, and the lowercase every client sends.
PRIORITIES = frozenset({"normal", "high", "NORMAL", "HIGH"})
#: Exactly one of these names the message's target.
TARGETS = ("token", "topic", "condition", "fid")
#: The fields of ``message`` and of ``message.android`` FCM knows; any other is refused
#: ("Unknown name … Cannot find field").
MESSAGE_FIELDS = frozenset(
    {*TARGETS, "data", "notification", "android", "apns", "webpush", "fcm_options", "name"}
)
ANDROID_FIELDS = frozenset(
    {
        "priority",
        "ttl",
        "collapse_key",
        "restricted_package_name",
        "direct_boot_ok",
        "data",
        "notification",
        "fcm_options",
        "bandwidth_constrained_ok",
        "restricted_satellite_ok",
    }
)


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: the field (``message.android.ttl``) and what is wrong with it."""

    field: str
    description: str
    #: The data is over :data:`MAX_DATA_BYTES` (FCM words this one differently).
    too_big: bool = False


def ttl_seconds(ttl: str) -> int:
    """A valid ttl's whole seconds (FCM rounds down)."""
    return int(ttl[:-1].split(".")[0])


def data_bytes(data: Mapping[str, str]) -> int:
    """What FCM counts against :data:`MAX_DATA_BYTES`: keys and values, UTF-8."""
    return sum(len(key.encode()) + len(value.encode()) for key, value in data.items())


def reserved(key: str) -> bool:
    return key in RESERVED_DATA_KEYS or key.startswith(RESERVED_DATA_PREFIXES)


def data_violations(data: object, where: str) -> list[Violation]:
    """Data is a map of strings to strings, none of its keys reserved."""
    if not isinstance(data, Mapping):
        return [Violation(where, "must be a map of string to string")]
    found: list[Violation] = []
    for index, (key, value) in enumerate(data.items()):
        if not isinstance(value, str):
            found.append(
                Violation(f"{where}[{index}].value", f"Invalid value (TYPE_STRING), {value!r}")
            )
        if not isinstance(key, str) or not key:
            found.append(Violation(f"{where}[{index}].key", "must be a non-empty string"))
        elif reserved(key):
            found.append(Violation(where, f"Invalid data payload key: {key}"))
    return found


def _unknown(fields: Mapping[str, Any], known: frozenset[str], where: str) -> list[Violation]:
    return [
        Violation(f"{where}.{name}", f"Unknown name \"{name}\" at '{where}': Cannot find field.")
        for name in fields
        if name not in known
    ]


def android_violations(android: object) -> list[Violation]:
    where = "message.android"
    if not isinstance(android, Mapping):
        return [Violation(where, "must be an object")]
    found = _unknown(android, ANDROID_FIELDS, where)
    priority = android.get("priority")
    if priority is not None and priority not in PRIORITIES:
        found.append(Violation(f"{where}.priority", f"Invalid value: {priority!r}"))
    ttl = android.get("ttl")
    if ttl is not None:
        if not isinstance(ttl, str) or not TTL_PATTERN.fullmatch(ttl):
            found.append(Violation(f"{where}.ttl", f"Invalid duration: {ttl!r}"))
        elif ttl_seconds(ttl) > MAX_TTL_SECONDS:
            found.append(Violation(f"{where}.ttl", f"must be at most {MAX_TTL_SECONDS}s (4 weeks)"))
    for name in ("collapse_key", "restricted_package_name"):
        if name in android and not isinstance(android[name], str):
            found.append(Violation(f"{where}.{name}", "must be a string"))
    for name in ("direct_boot_ok", "bandwidth_constrained_ok", "restricted_satellite_ok"):
        if name in android and not isinstance(android[name], bool):
            found.append(Violation(f"{where}.{name}", "must be a boolean"))
    if "data" in android:
        found += data_violations(android["data"], f"{where}.data")
    return found


def effective_data(message: Mapping[str, Any]) -> dict[str, str]:
    """The data the device gets: ``android.data`` over ``message.data`` (whether FCM
    replaces or merges is not documented; merging counts the most bytes)."""
    android = message.get("android")
    merged = dict(message.get("data") or {})
    if isinstance(android, Mapping):
        merged.update(android.get("data") or {})
    return merged


def message_violations(message: object) -> list[Violation]:
    """Every rule ``message`` breaks, in the order FCM's answer would name them; none
    means FCM would take it (as far as its rules are known)."""
    if not isinstance(message, Mapping):
        return [Violation("message", "is required and must be an object")]
    found = _unknown(message, MESSAGE_FIELDS, "message")
    targets = [name for name in TARGETS if message.get(name) not in (None, "")]
    if len(targets) != 1:
        found.append(
            Violation("message", f"exactly one of {', '.join(TARGETS)} must be set, not"
                      f" {len(targets)}")
        )  # fmt: skip
    for name in targets:
        if not isinstance(message[name], str):
            found.append(Violation(f"message.{name}", "must be a string"))
    if "data" in message:
        found += data_violations(message["data"], "message.data")
    if "android" in message:
        found += android_violations(message["android"])
    if not found:
        size = data_bytes(effective_data(message))
        if size > MAX_DATA_BYTES:
            found.append(
                Violation(
                    "message.data",
                    f"Android message is too big: {size} bytes of data, over {MAX_DATA_BYTES}",
                    too_big=True,
                )
            )
    return found
