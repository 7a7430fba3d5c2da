"""The provider token (JWT) of each signing key, shared by every instance.

Apple answers ``TooManyProviderTokenUpdates`` when tokens change too often, and a
deployment of several instances must look like one provider: so the token lives here,
each instance adopts it, and a new one is signed by whichever instance finds the stored
one due — inside a transaction that holds the key's row, so two instances never both
sign. What counts as due is the signer's rule
(:meth:`ringpush.apns.jwt_signer.ProviderTokenSigner.choose`); the token is a bearer
credential, so it is sealed like every other secret.
"""

from __future__ import annotations

from collections.abc import Callable

from ringpush.apns.credentials import TokenCredentials
from ringpush.apns.jwt_signer import ProviderToken
from ringpush.registry.database import Database, Dialect
from ringpush.registry.sealing import SecretBox

PROVIDER_TOKEN = "provider-token"


class SqlProviderTokens:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box
        self._lock_row = " FOR UPDATE" if db.dialect is Dialect.POSTGRESQL else ""

    async def exchange(
        self,
        credentials: TokenCredentials,
        choose: Callable[[ProviderToken | None], ProviderToken],
    ) -> ProviderToken:
        """The key's token after ``choose(stored)`` (called with the row held) decided
        whether to keep the stored one or sign a new one, which is then stored."""
        key = (credentials.team_id, credentials.key_id, credentials.fingerprint)
        where = "team_id = ? AND key_id = ? AND key_fingerprint = ?"
        async with self._db.transaction() as db:
            await db.execute(
                """INSERT INTO provider_tokens (team_id, key_id, key_fingerprint)
                   VALUES (?, ?, ?)
                   ON CONFLICT (team_id, key_id, key_fingerprint) DO NOTHING""",
                key,
            )
            row = await db.fetchone(
                f"SELECT token_sealed, issued_s FROM provider_tokens WHERE {where}"  # noqa: S608
                + self._lock_row,
                key,
            )
            stored = None
            if row is not None and row["token_sealed"] is not None:
                header = self._box.open(row["token_sealed"], PROVIDER_TOKEN)
                stored = ProviderToken(issued_at=int(row["issued_s"]), header=header)
            chosen = choose(stored)
            if chosen != stored:
                await db.execute(
                    f"UPDATE provider_tokens SET token_sealed = ?, issued_s = ? WHERE {where}",  # noqa: S608
                    (self._box.seal(chosen.header, PROVIDER_TOKEN), chosen.issued_at, *key),
                )
        return chosen

    async def reseal(self) -> int:
        """Rotation: seal the stored tokens again under the current master key."""
        count = 0
        async with self._db.transaction() as db:
            rows = await db.fetchall(
                "SELECT team_id, key_id, key_fingerprint, token_sealed FROM provider_tokens"
                " WHERE token_sealed IS NOT NULL"
            )
            for row in rows:
                plain = self._box.open(row["token_sealed"], PROVIDER_TOKEN)
                await db.execute(
                    """UPDATE provider_tokens SET token_sealed = ?
                       WHERE team_id = ? AND key_id = ? AND key_fingerprint = ?""",
                    (
                        self._box.seal(plain, PROVIDER_TOKEN),
                        row["team_id"],
                        row["key_id"],
                        row["key_fingerprint"],
                    ),
                )
                count += 1
        return count
