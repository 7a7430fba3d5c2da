"""The token endpoint's checks: OAuth 2.0 JWT-bearer grant (RFC 7523), as Google runs it.

A provider signs a JWT with its service-account key and trades it for an access token
(docs/fcm.md §3). The checks run in this order, each refusing with the error
Google gives (texts from client authors' reports):

1. form body with ``grant_type`` exactly the JWT-bearer URN, else
   ``unsupported_grant_type`` "Invalid grant_type: …" (a body that is not a form has
   none); no ``assertion``: ``invalid_request``;
2. a JWT with ``alg`` RS256, else "Invalid JWT Signature.";
3. ``iss`` a known ``client_email``, else "Invalid grant: account not found";
4. ``kid`` a key of that account (all of them when absent) whose signature checks,
   else "Invalid JWT Signature." (what a deleted or rotated key gets);
5. ``aud`` the sandbox's own token URL (our judgement: google-auth signs Google's URL
   but posts to the key file's ``token_uri``; see ``audiences``), else
   "Invalid JWT: Failed audience check.";
6. ``iat``/``exp`` numbers, ``exp - iat`` at most an hour, ``iat`` not in the future and
   ``exp`` not past (each by more than :data:`CLOCK_SKEW_SECONDS`), else "Token must be
   a short-lived token (60 minutes) and in a reasonable timeframe…";
7. ``scope`` naming ``firebase.messaging`` or ``cloud-platform``, else ``invalid_scope``.

All answers are 400. No I/O here: the server only translates.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import parse_qs

import jwt

from ringpush.sandbox.fcm.accounts import AccountKey, Accounts

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FORM_TYPE = "application/x-www-form-urlencoded"
#: Either scope lets an access token send (§1).
SEND_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/firebase.messaging",
        "https://www.googleapis.com/auth/cloud-platform",
    }
)
#: Google's own token URL: what google-auth puts in ``aud`` whatever ``token_uri`` says.
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
#: The longest assertion Google takes: ``exp`` at most an hour after ``iat``. The two
#: come from the sender's one clock, so no skew applies to their difference.
MAX_ASSERTION_SECONDS = 3600
#: How far the sender's clock may be off ours, for ``iat`` ahead and ``exp`` behind.
CLOCK_SKEW_SECONDS = 60

BAD_SIGNATURE = "Invalid JWT Signature."
ACCOUNT_NOT_FOUND = "Invalid grant: account not found"
BAD_AUDIENCE = "Invalid JWT: Failed audience check."
BAD_TIMES = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable"
    " timeframe. Check your iat and exp values in the JWT claim."
)
BAD_SCOPE = "Invalid OAuth scope or ID token audience provided."


class GrantRefused(Exception):
    """The token endpoint's refusal: ``{"error": error, "error_description": …}``, 400."""

    status = 400

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def _invalid_grant(description: str) -> GrantRefused:
    return GrantRefused("invalid_grant", description)


@dataclass(frozen=True, slots=True)
class Grant:
    """An accepted assertion: who signed it and the scopes asked for."""

    key: AccountKey
    scopes: frozenset[str]


def assertion_from_form(content_type: str | None, body: bytes) -> str:
    """The ``assertion`` of a JWT-bearer request (check 1)."""
    fields: dict[str, list[str]] = {}
    if (content_type or "").split(";")[0].strip().lower() == FORM_TYPE:
        try:
            fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            fields = {}
    grant_type = fields.get("grant_type", [""])[-1]
    if grant_type != GRANT_TYPE:
        raise GrantRefused("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
    assertion = fields.get("assertion", [""])[-1]
    if not assertion:
        raise GrantRefused("invalid_request", "Missing required parameter: assertion")
    return assertion


def verify_assertion(
    assertion: str, accounts: Accounts, audiences: Collection[str], now: float
) -> Grant:
    """The grant a signed assertion proves (checks 2 to 7)."""
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _invalid_grant(BAD_SIGNATURE) from None
    if header.get("alg") != "RS256":
        raise _invalid_grant(BAD_SIGNATURE)
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or accounts.project_of(issuer) is None:
        raise _invalid_grant(ACCOUNT_NOT_FOUND)
    key, payload = _signed_claims(assertion, header.get("kid"), issuer, accounts)
    audience = payload.get("aud")
    if not isinstance(audience, str) or audience not in audiences:
        raise _invalid_grant(BAD_AUDIENCE)
    check_times(payload.get("iat"), payload.get("exp"), now)
    scopes = frozenset(str(payload.get("scope") or "").split())
    if not scopes & SEND_SCOPES:
        raise GrantRefused("invalid_scope", BAD_SCOPE)
    return Grant(key, scopes)


def _signed_claims(
    assertion: str, kid: object, issuer: str, accounts: Accounts
) -> tuple[AccountKey, dict[str, Any]]:
    """The claims, checked against the key ``kid`` names (or each of the issuer's)."""
    if kid is None:
        candidates = accounts.keys_of(issuer)
    else:
        named = accounts.key(kid) if isinstance(kid, str) else None
        candidates = [named] if named is not None and named.client_email == issuer else []
    for key in candidates:
        try:
            payload = jwt.decode(
                assertion,
                key.public_key,
                algorithms=["RS256"],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.PyJWTError:
            continue
        return key, payload
    raise _invalid_grant(BAD_SIGNATURE)


def check_times(iat: object, exp: object, now: float) -> None:
    """At most an hour long, and around now (check 6)."""
    if not (_number(iat) and _number(exp)):
        raise _invalid_grant(BAD_TIMES)
    if exp - iat > MAX_ASSERTION_SECONDS or exp <= iat:
        raise _invalid_grant(BAD_TIMES)
    if iat > now + CLOCK_SKEW_SECONDS or exp < now - CLOCK_SKEW_SECONDS:
        raise _invalid_grant(BAD_TIMES)


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
