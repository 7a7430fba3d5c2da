"""Device token normalisation (docs/apns.md §1).

Apple says not to assume a token size (Live Activity tokens are 80 bytes), so a token is
any non-empty, even-length hex string; it is stored and sent in lowercase.
"""

from __future__ import annotations

from ringpush.apns.errors import InvalidDeviceToken
from ringpush.apns.reasons import ApnsReason

_HEX = frozenset("0123456789abcdef")
#: Tokens longer than this are certainly not Apple's (it has never issued over 100 bytes).
MAX_TOKEN_HEX_LENGTH = 400


def normalize_device_token(token: str) -> str:
    """Lowercase ``token`` and check it is hex of an even, non-zero length.

    Spaces and angle brackets (as in ``NSData``'s description, ``<ab12 cd34>``) are
    stripped; any other non-hex character is an error rather than silently dropped,
    because a garbled token should be found, not sent.
    """
    cleaned = token.strip().strip("<>").replace(" ", "").lower()
    if not cleaned:
        # What APNs answers for a request without one (docs/apns.md §3).
        raise InvalidDeviceToken("device token is empty", ApnsReason.MISSING_DEVICE_TOKEN)
    if len(cleaned) > MAX_TOKEN_HEX_LENGTH:
        raise InvalidDeviceToken(
            f"device token is {len(cleaned)} hex characters, over {MAX_TOKEN_HEX_LENGTH}"
        )
    if not _HEX.issuperset(cleaned):
        raise InvalidDeviceToken("device token must be hexadecimal (0-9, a-f)")
    if len(cleaned) % 2:
        raise InvalidDeviceToken(
            f"device token has an odd number of hex characters ({len(cleaned)})"
        )
    return cleaned


def mask_device_token(token: str) -> str:
    """A form of the token safe to log: its first and last four characters."""
    if len(token) <= 8:
        return "…"
    return f"{token[:4]}…{token[-4:]}"
