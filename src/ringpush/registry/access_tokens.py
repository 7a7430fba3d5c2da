"""The FCM access token of each service account, shared by every instance.

One token serves every send of an account until shortly before it expires
(docs/fcm.md §3), so a deployment of several instances exchanges once, not once per
instance: each instance reads the stored token and sends with it while it is good, and
whichever finds it due (or refused by FCM) exchanges a new one and stores it. Unlike the
APNs provider token, no row is held during the exchange: it is an HTTPS round trip, and
a lock held that long would hold up the writes calls wait for (SQLite has one writer).
Two instances finding it due at once both exchange, which Google allows (an account may
hold several live tokens); the later write wins. The token is a bearer credential, so it
is sealed like every other secret.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ringpush.fcm.oauth import AccessToken
from ringpush.fcm.service_account import ServiceAccount
from ringpush.registry.database import Database
from ringpush.registry.sealing import SecretBox

ACCESS_TOKEN = "fcm-access-token"


class SqlAccessTokens:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def exchange(
        self,
        account: ServiceAccount,
        keep: Callable[[AccessToken | None], bool],
        fetch: Callable[[], Awaitable[AccessToken]],
    ) -> AccessToken:
        """The stored token if ``keep(stored)``, else a fetched one, stored for all."""
        key = (account.identity, account.fingerprint)
        row = await self._db.fetchone(
            """SELECT token_sealed, obtained_s, expires_s FROM fcm_access_tokens
               WHERE account = ? AND key_fingerprint = ?""",
            key,
        )
        if row is not None:
            stored = AccessToken(
                value=self._box.open(row["token_sealed"], ACCESS_TOKEN).decode(),
                obtained_at=float(row["obtained_s"]),
                expires_at=float(row["expires_s"]),
            )
            if keep(stored):
                return stored
        token = await fetch()
        async with self._db.transaction() as db:
            await db.execute(
                """INSERT INTO fcm_access_tokens
                       (account, key_fingerprint, token_sealed, obtained_s, expires_s)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (account, key_fingerprint) DO UPDATE SET
                       token_sealed = excluded.token_sealed,
                       obtained_s = excluded.obtained_s, expires_s = excluded.expires_s""",
                (
                    *key,
                    self._box.seal(token.value.encode(), ACCESS_TOKEN),
                    token.obtained_at,
                    token.expires_at,
                ),
            )
        return token

    async def reseal(self) -> int:
        """Rotation: seal the stored tokens again under the current master key."""
        count = 0
        async with self._db.transaction() as db:
            rows = await db.fetchall(
                "SELECT account, key_fingerprint, token_sealed FROM fcm_access_tokens"
            )
            for row in rows:
                plain = self._box.open(row["token_sealed"], ACCESS_TOKEN)
                await db.execute(
                    """UPDATE fcm_access_tokens SET token_sealed = ?
                       WHERE account = ? AND key_fingerprint = ?""",
                    (self._box.seal(plain, ACCESS_TOKEN), row["account"], row["key_fingerprint"]),
                )
                count += 1
        return count
