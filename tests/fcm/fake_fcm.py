"""A tiny FCM over HTTPS (HTTP/2 and HTTP/1.1) for the client's tests.

The token endpoint verifies each assertion with the account's public key, as Google
does; the send endpoint checks the bearer and answers what the test scripts, or 200.
Kept small on purpose: when the shared sandbox (``ringpush.sandbox.fcm``) lands, these
tests move onto it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ringpush.embedded_uvicorn import bound_socket
from ringpush.fcm.answer import FCM_ERROR_TYPE
from ringpush.fcm.oauth import ASSERTION_LIFETIME_SECONDS, GRANT_TYPE, SCOPE
from ringpush.fcm.service_account import ServiceAccount
from ringpush.sandbox.certificates import CertificateAuthority
from ringpush.server.https import HttpsServer
from tests.fcm.support import key_file

EXPIRED = {
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    "reason": "ACCESS_TOKEN_EXPIRED",
    "domain": "googleapis.com",
}


def error(status: int, canonical: str, message: str, code: str | None = None) -> dict[str, Any]:
    """FCM's error body; ``code`` adds the FcmError detail."""
    details = [EXPIRED] if code is None else [{"@type": FCM_ERROR_TYPE, "errorCode": code}]
    return {"error": {"code": status, "message": message, "status": canonical, "details": details}}


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, headers, media_type="application/json; charset=UTF-8")


@dataclass
class Send:
    """One request the send endpoint took."""

    bearer: str
    body: dict[str, Any]
    http_version: str
    client_port: int


@dataclass
class FakeFcm:
    workdir: Path
    ca: CertificateAuthority = field(default_factory=lambda: CertificateAuthority("fcm test CA"))
    #: (header, claims) of every assertion verified.
    assertions: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    #: Answers the token endpoint gives before it issues tokens again: (status, body).
    token_failures: list[tuple[int, bytes]] = field(default_factory=list)
    token_delay: float = 0.0
    expires_in: int | str = 3599
    issued: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    refuse_every_token: bool = False
    #: Answers the send endpoint gives, in order, before it answers 200 again.
    answers: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)
    port: int = 0
    _accounts: dict[str, ServiceAccount] = field(default_factory=dict)
    _server: HttpsServer | None = None

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    def account(self, **overrides: Any) -> ServiceAccount:
        """A service account this FCM trusts, its token_uri pointing here."""
        account = ServiceAccount.from_json(
            json.dumps(key_file(token_uri=self.token_uri, **overrides))
        )
        self._accounts[account.private_key_id] = account
        return account

    async def start(self) -> None:
        issued = self.ca.issue_server_certificate()
        cert, key = self.workdir / "server.crt", self.workdir / "server.key"
        cert.write_bytes(issued.certificate_pem)
        key.write_bytes(issued.key_pem)
        key.chmod(0o600)
        app = Starlette(
            routes=[
                Route("/token", self._token, methods=["POST"]),
                Route("/v1/projects/{project}/messages:send", self._send, methods=["POST"]),
            ]
        )
        sock = bound_socket("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        self._server = HttpsServer(app, cert, key, idle_seconds=30, grace=1.0)
        # hypercorn ends an HTTP/2 connection after 1000 requests and fails the request
        # that crossed the line (ringpush serve has the same limit): lifted here, so
        # that a thousand sends on one connection measure the client, not that.
        self._server._config.keep_alive_max_requests = 1_000_000
        await self._server.start(sock)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()

    async def _token(self, request: Request) -> Response:
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            return _json(400, {"error": "invalid_request"})
        form = parse_qs((await request.body()).decode())
        if form.get("grant_type") != [GRANT_TYPE] or len(form.get("assertion", [])) != 1:
            return _json(400, {"error": "unsupported_grant_type"})
        assertion = form["assertion"][0]
        header = jwt.get_unverified_header(assertion)
        account = self._accounts.get(str(header.get("kid")))
        try:
            if account is None:
                raise jwt.InvalidTokenError("unknown kid")
            claims = jwt.decode(
                assertion,
                account.private_key.public_key(),
                algorithms=["RS256"],
                audience=self.token_uri,
                issuer=account.client_email,
                options={"verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidTokenError:
            return _json(
                400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            )
        if (
            claims.get("scope") != SCOPE
            or claims["exp"] - claims["iat"] != ASSERTION_LIFETIME_SECONDS
        ):
            return _json(400, {"error": "invalid_scope"})
        self.assertions.append((header, claims))
        if self.token_failures:
            status, body = self.token_failures.pop(0)
            return Response(body, status, media_type="application/json")
        await asyncio.sleep(self.token_delay)
        token = f"ya29.test-{len(self.issued) + 1}"
        self.issued.append(token)
        return _json(
            200, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
        )

    async def _send(self, request: Request) -> Response:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in self.issued or bearer in self.revoked or self.refuse_every_token:
            return _json(
                401,
                error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
            )
        body = json.loads(await request.body())
        client = request.client
        self.sends.append(
            Send(bearer, body, request.scope["http_version"], client.port if client else 0)
        )
        if self.answers:
            status, answer, headers = self.answers.pop(0)
            return _json(status, answer, headers)
        project = request.path_params["project"]
        return _json(200, {"name": f"projects/{project}/messages/0:{len(self.sends)}%31bd1c96"})
