"""The public FCM client: a service account in, typed results out (docs/fcm.md §1, §3,
§4).

Every send needs an access token, so the client keeps one per account and renews it a
margin before it expires (:class:`~ringpush.fcm.oauth.AccessTokenCache`). A renewal is
one exchange however many sends wait for it: they all await the same task. The token
endpoint's own failures (5xx, 429, no connection) are retried a few times with the
project's backoff; a refusal (``invalid_grant``) is not. A 401 without an ``FcmError``
means FCM no longer takes the token: renew it and resend once. A 401 *with* one
(``THIRD_PARTY_AUTH_ERROR``) is about APNs or web-push credentials held by Firebase, and
renewing would loop for ever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from ringpush.actions import Action
from ringpush.backoff import retry_delay
from ringpush.fcm.answer import AuthFailure, FcmResult, parse_answer
from ringpush.fcm.errors import FcmError, TokenEndpointUnavailable, TokenExchangeError
from ringpush.fcm.h2_transport import H2Transport
from ringpush.fcm.message import FcmMessage
from ringpush.fcm.oauth import (
    AccessToken,
    AccessTokenCache,
    AccessTokenStore,
    parse_token_answer,
    token_request,
)
from ringpush.fcm.service_account import ServiceAccount
from ringpush.fcm.transport import Transport, TransportError

log = logging.getLogger("ringpush.fcm")

DEFAULT_BASE_URL = "https://fcm.googleapis.com"
#: Tries at the token endpoint per renewal (google-auth makes 3).
TOKEN_ATTEMPTS = 3
#: The first wait between them; each doubles (google-auth: 1 s, doubling).
TOKEN_RETRY_BASE_SECONDS = 1.0


class FcmClient:
    """Sends messages for one service account's project.

    ``base_url`` points the client at any FCM-compatible endpoint (the sandbox) instead
    of Google's, and the account's ``token_uri`` says where tokens come from; ``ca_file``
    or ``ca_pem`` adds a CA to trust for both. Pass one ``token_cache`` to several
    clients of an account to share its token in a process (each client then renews at
    most once at a time); pass a ``token_store`` to share it between the instances of a
    deployment (docs/fcm.md §3). ``clock`` (epoch seconds) is the new cache's; a given
    cache keeps its own. ``timeout`` bounds each request, token exchanges included.
    """

    def __init__(
        self,
        service_account: ServiceAccount,
        *,
        base_url: str = DEFAULT_BASE_URL,
        ca_file: str | Path | None = None,
        ca_pem: bytes | None = None,
        token_cache: AccessTokenCache | None = None,
        token_store: AccessTokenStore | None = None,
        timeout: float = 10.0,
        connect_timeout: float = 10.0,
        token_attempts: int = TOKEN_ATTEMPTS,
        token_retry_base: float = TOKEN_RETRY_BASE_SECONDS,
        clock: Callable[[], float] = time.time,
        transport: Transport | None = None,
    ) -> None:
        if token_cache is not None and token_cache.account.identity != service_account.identity:
            raise FcmError("the token cache was made for another service account")
        self.service_account = service_account
        self.token_cache = token_cache or AccessTokenCache(service_account, clock=clock)
        self._clock = self.token_cache.clock
        self._store = token_store
        project = service_account.project_id
        self._url = f"{base_url.rstrip('/')}/v1/projects/{project}/messages:send"
        self._token_attempts = max(1, token_attempts)
        self._token_retry_base = token_retry_base
        # The hand-written HTTP/2 transport by default: httpx costs 6-8x its CPU per
        # message (bench/fcm_throughput.py, bench/RESULTS.md). An endpoint that does not
        # speak HTTP/2 takes transport=HttpxTransport(...) (HTTP/1.1 keep-alive).
        self._transport = transport or H2Transport(
            ca_file=ca_file, ca_pem=ca_pem, timeout=timeout, connect_timeout=connect_timeout
        )
        self._renewal: asyncio.Task[AccessToken] | None = None
        #: Requests made to the token endpoint (for tests and metrics).
        self.token_requests = 0

    @property
    def send_url(self) -> str:
        return self._url

    async def send(self, message: FcmMessage) -> FcmResult:
        """Send one message; raises :class:`~ringpush.fcm.errors.InvalidMessage` if it
        breaks an FCM rule. Every answer, and every failure to get one, is a result."""
        return await self.send_encoded(message.encode())

    async def send_encoded(self, body: bytes) -> FcmResult:
        """Send a body :meth:`FcmMessage.encode` made (a resend sends the same bytes)."""
        result, token = await self._attempt(body, attempts=1)
        if token is None or result.action is not Action.REFRESH_AUTH:
            return result
        current = self.token_cache.current() == token
        if not self.token_cache.invalidate(token):
            return result  # a token that young is not what FCM refuses: no loop
        if current:  # once per token, not once per send that was in flight with it
            log.info("FCM refused the access token of %s; renewing", self.service_account.identity)
        retried, _ = await self._attempt(body, attempts=2)
        return retried

    async def _attempt(self, body: bytes, attempts: int) -> tuple[FcmResult, AccessToken | None]:
        try:
            token = await self.access_token()
        except TokenExchangeError as exc:
            auth = AuthFailure.UNAVAILABLE if exc.retryable else AuthFailure.REJECTED
            return FcmResult.no_token(auth, str(exc), attempts), None
        headers = {"authorization": token.authorization, "content-type": "application/json"}
        try:
            answer = await self._transport.post(self._url, headers, body)
        except TransportError as exc:
            return FcmResult.no_response(exc.failure, str(exc), attempts), token
        result = parse_answer(
            answer.status, answer.headers, answer.body, now=self._clock(), attempts=attempts
        )
        return result, token

    async def access_token(self) -> AccessToken:
        """The token to send with, renewed first when due; raises
        :class:`~ringpush.fcm.errors.TokenExchangeError` when none can be had."""
        token = self.token_cache.current()
        if token is not None:
            return token
        renewal = self._renewal
        if renewal is None or renewal.done():
            renewal = asyncio.create_task(self._renew())
            renewal.add_done_callback(_retrieved)
            self._renewal = renewal
        # Shielded: a send that gives up waiting must not cancel the others' renewal.
        return await asyncio.shield(renewal)

    async def _renew(self) -> AccessToken:
        if self._store is not None:
            token = await self._store.exchange(
                self.service_account, self.token_cache.keep, self._fetch
            )
        else:
            token = await self._fetch()
        self.token_cache.adopt(token)
        return token

    async def _fetch(self) -> AccessToken:
        """One renewal at the token endpoint, retrying its temporary failures."""
        account = self.service_account
        error: TokenExchangeError = TokenEndpointUnavailable("no attempt made")
        for attempt in range(1, self._token_attempts + 1):
            if attempt > 1:
                await asyncio.sleep(retry_delay(attempt - 1, base=self._token_retry_base))
            started = self._clock()
            request = token_request(account, int(started))
            self.token_requests += 1
            try:
                answer = await self._transport.post(
                    request.url, dict(request.headers), request.body
                )
                token = parse_token_answer(answer.status, answer.body, requested_at=started)
            except TransportError as exc:
                error = TokenEndpointUnavailable(f"token endpoint: {exc}")
            except TokenExchangeError as exc:
                if not exc.retryable:
                    log.warning("token endpoint refused %s: %s", account.identity, exc)
                    raise
                error = exc
            else:
                log.debug("access token for %s, valid %.0f s", account.identity, token.lifetime)
                return token
        log.warning("no access token for %s: %s", account.identity, error)
        raise error

    async def close(self) -> None:
        renewal = self._renewal
        if renewal is not None and not renewal.done():
            renewal.cancel()
        await self._transport.aclose()

    async def __aenter__(self) -> FcmClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _retrieved(task: asyncio.Task[AccessToken]) -> None:
    """Mark a renewal's failure as seen: its waiters got it, or all gave up waiting."""
    if not task.cancelled():
        task.exception()
