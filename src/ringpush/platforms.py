"""The two push services a device is reached through, and how the registry and the
delivery engine tell them apart.

An iPhone registers one APNs token per push type (voip, alert, …), each for an APS
environment; an Android install registers one FCM token, and FCM has one host. So a
registration's *kind* is an APNs :class:`PushType` or :data:`FCM`, and the *channel* its
pushes go through (the second half of a delivery lane's key, and what the registry
stores as the environment) is an APNs :class:`Environment` or :data:`FCM` again. The
stored values of APNs rows are unchanged; FCM rows store ``fcm`` in both columns.
"""

from __future__ import annotations

from enum import StrEnum

from ringpush.apns.device_token import normalize_device_token
from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType


class Platform(StrEnum):
    APNS = "apns"
    FCM = "fcm"


class Fcm(StrEnum):
    """FCM's only push kind and only channel."""

    FCM = "fcm"


FCM = Fcm.FCM
#: What a registration is for: an APNs push type, or FCM.
PushKind = PushType | Fcm
#: Where a registration's pushes go: an APNs environment, or FCM.
Channel = Environment | Fcm

#: The longest FCM registration token ringpush stores. FCM's tokens are opaque (their
#: length is not to be relied on; some over 350 characters are reported: docs/fcm.md §6).
MAX_FCM_TOKEN_LENGTH = 4096


def platform_of(kind: PushKind) -> Platform:
    return Platform.FCM if kind is FCM else Platform.APNS


def parse_kind(text: str) -> PushKind:
    """A stored or given kind: ``fcm``, or an APNs push type (ValueError otherwise)."""
    return FCM if text == FCM.value else PushType(text)


def parse_channel(text: str) -> Channel:
    return FCM if text == FCM.value else Environment(text)


def normalize_fcm_token(token: str) -> str:
    """An FCM token as given: opaque, so only surrounding blanks go; ValueError when it is
    empty, too long or holds characters no token has (blanks, controls)."""
    cleaned = token.strip()
    if not cleaned:
        raise ValueError("FCM token is empty")
    if len(cleaned) > MAX_FCM_TOKEN_LENGTH:
        raise ValueError(f"FCM token is {len(cleaned)} characters, over {MAX_FCM_TOKEN_LENGTH}")
    if not cleaned.isprintable() or any(char.isspace() for char in cleaned):
        raise ValueError("FCM token holds blanks or control characters")
    return cleaned


def normalize_token(kind: PushKind, token: str) -> str:
    """A token as the registry stores and sends it: APNs tokens lowercase hex
    (:func:`normalize_device_token`), FCM tokens as given. ValueError (an
    :class:`~ringpush.apns.errors.ApnsError` for APNs) when it cannot be one."""
    if kind is FCM:
        return normalize_fcm_token(token)
    return normalize_device_token(token)
