"""APNs push types and the rules each one carries (docs/apns.md §2, §3).

Every push type fixes the suffix of ``apns-topic``, the priorities APNs accepts and the
payload limit. Keeping the rules on the enum means the client, the sandbox and the server
can never disagree about them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: Bytes of the JSON body APNs accepts for every push type but VoIP.
DEFAULT_PAYLOAD_LIMIT = 4096
#: Bytes of the JSON body APNs accepts for a VoIP push.
VOIP_PAYLOAD_LIMIT = 5120

ALL_PRIORITIES = frozenset({10, 5, 1})


@dataclass(frozen=True, slots=True)
class PushTypeRules:
    topic_suffix: str
    priorities: frozenset[int]
    default_priority: int
    payload_limit: int
    token_auth_only: bool = False
    certificate_only: bool = False


class PushType(StrEnum):
    """The value of the ``apns-push-type`` header."""

    ALERT = "alert"
    BACKGROUND = "background"
    VOIP = "voip"
    COMPLICATION = "complication"
    FILEPROVIDER = "fileprovider"
    LOCATION = "location"
    LIVEACTIVITY = "liveactivity"
    PUSHTOTALK = "pushtotalk"
    MDM = "mdm"
    WIDGETS = "widgets"
    CONTROLS = "controls"

    @property
    def rules(self) -> PushTypeRules:
        return _RULES[self]

    @property
    def topic_suffix(self) -> str:
        return _RULES[self].topic_suffix

    @property
    def payload_limit(self) -> int:
        return _RULES[self].payload_limit

    @property
    def default_priority(self) -> int:
        return _RULES[self].default_priority

    def topic_for(self, bundle_id: str) -> str:
        """The ``apns-topic`` for an app's bundle id and this push type.

        MDM pushes are addressed to the UID of the MDM certificate, which the caller
        passes in place of a bundle id.
        """
        return bundle_id + _RULES[self].topic_suffix

    def allows_priority(self, priority: int) -> bool:
        return priority in _RULES[self].priorities

    @classmethod
    def for_topic(cls, topic: str, bundle_id: str) -> PushType | None:
        """The push type whose topic for ``bundle_id`` is ``topic``, if any."""
        if not topic.startswith(bundle_id):
            return None
        suffix = topic[len(bundle_id) :]
        for push_type in _SUFFIX_ORDER:
            if _RULES[push_type].topic_suffix == suffix:
                return push_type
        return None


_RULES: dict[PushType, PushTypeRules] = {
    # Priority 10 when the user must act now, 5 otherwise.
    PushType.ALERT: PushTypeRules("", ALL_PRIORITIES, 10, DEFAULT_PAYLOAD_LIMIT),
    # Apple calls priority 10 an error for background pushes: it must be 5.
    PushType.BACKGROUND: PushTypeRules("", frozenset({5}), 5, DEFAULT_PAYLOAD_LIMIT),
    # VoIP gets the bigger 5120-byte body; senders use priority 10 to ring at once.
    PushType.VOIP: PushTypeRules(".voip", ALL_PRIORITIES, 10, VOIP_PAYLOAD_LIMIT),
    PushType.COMPLICATION: PushTypeRules(
        ".complication", ALL_PRIORITIES, 10, DEFAULT_PAYLOAD_LIMIT
    ),
    # File Provider pushes are documented with token auth.
    PushType.FILEPROVIDER: PushTypeRules(
        ".pushkit.fileprovider", ALL_PRIORITIES, 10, DEFAULT_PAYLOAD_LIMIT, token_auth_only=True
    ),
    # Location queries: token auth only, priority 10 or 5.
    PushType.LOCATION: PushTypeRules(
        ".location-query", frozenset({10, 5}), 10, DEFAULT_PAYLOAD_LIMIT, token_auth_only=True
    ),
    PushType.LIVEACTIVITY: PushTypeRules(
        ".push-type.liveactivity", ALL_PRIORITIES, 10, DEFAULT_PAYLOAD_LIMIT, token_auth_only=True
    ),
    # Pushy quotes Apple: push-to-talk is priority 10 with immediate expiry.
    PushType.PUSHTOTALK: PushTypeRules(".voip-ptt", frozenset({10}), 10, DEFAULT_PAYLOAD_LIMIT),
    # The MDM topic is the certificate's UID, so no suffix; certificate auth only.
    PushType.MDM: PushTypeRules(
        "", ALL_PRIORITIES, 10, DEFAULT_PAYLOAD_LIMIT, certificate_only=True
    ),
    PushType.WIDGETS: PushTypeRules(
        ".push-type.widgets", ALL_PRIORITIES, 10, DEFAULT_PAYLOAD_LIMIT
    ),
    PushType.CONTROLS: PushTypeRules(
        ".push-type.controls", ALL_PRIORITIES, 10, DEFAULT_PAYLOAD_LIMIT
    ),
}

# Longest suffix first so ".voip-ptt" is not mistaken for ".voip"; the bare bundle id
# (alert/background/mdm) resolves to alert.
_SUFFIX_ORDER = sorted(
    (t for t in PushType if t not in (PushType.BACKGROUND, PushType.MDM)),
    key=lambda t: -len(_RULES[t].topic_suffix),
)
