"""How the operator commands reach a running ``ringpush serve``: its URL, the operator
key, one request at a time.

The commands talk to the server over its HTTP API only, as any other client does (they
never open the database), so they work against a deployment on another host the same
way as against ``make run``. Where the key comes from, first found wins:
``--admin-key``, ``RINGPUSH_ADMIN_KEY``, ``--admin-key-file`` / ``RINGPUSH_ADMIN_KEY_FILE``,
then ``.ringpush/admin.key`` (the file ``make run`` and ``ringpush serve`` make in their
default state dir). Every refusal becomes one line and an exit code, never a traceback.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from ringpush.cli.root import EXIT_BAD_INPUT, EXIT_NOT_SENT, Command, fail

#: Where ``make run`` and ``ringpush serve`` keep the operator key by default.
DEFAULT_KEY_FILE = Path(".ringpush") / "admin.key"
DEFAULT_SERVER = "http://127.0.0.1:8080"
#: Seconds a request may take; a call's answer waits up to a second for APNs.
TIMEOUT_SECONDS = 30.0

ServerOption = Annotated[
    str,
    typer.Option(
        "--server", envvar="RINGPUSH_URL", help="The ringpush server's URL.", show_envvar=True
    ),
]
AdminKeyOption = Annotated[
    str | None,
    typer.Option(
        "--admin-key",
        envvar="RINGPUSH_ADMIN_KEY",
        show_envvar=True,
        show_default=False,
        help="The operator key. A flag is visible to other users of this machine in the"
        " process list: prefer the variable or --admin-key-file.",
    ),
]
AdminKeyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--admin-key-file",
        envvar="RINGPUSH_ADMIN_KEY_FILE",
        show_envvar=True,
        show_default=False,
        help=f"A file holding the operator key (default: {DEFAULT_KEY_FILE}, if it exists).",
    ),
]
ServerCaOption = Annotated[
    Path | None,
    typer.Option(
        "--server-ca",
        envvar="RINGPUSH_SERVER_CA",
        show_envvar=True,
        help="A CA (PEM) to trust for an https server with its own certificate.",
    ),
]
AppOption = Annotated[
    str | None,
    typer.Option(
        "--app",
        envvar="RINGPUSH_APP",
        show_envvar=True,
        show_default=False,
        help="The app (its id); may be left out when the server has only one.",
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the server's answer as JSON, for scripts.")
]


@dataclass(frozen=True, slots=True)
class Connection:
    """What every operator command is given: where the server is and how to sign in."""

    server: str
    admin_key: str | None
    admin_key_file: Path | None
    server_ca: Path | None

    def open(self) -> ServerApi:
        return ServerApi(self.server, self._key(), self.server_ca)

    def _key(self) -> str:
        if self.admin_key:
            return self.admin_key.strip()
        path = self.admin_key_file
        if path is None:
            if not DEFAULT_KEY_FILE.is_file():
                fail(
                    "no operator key: set RINGPUSH_ADMIN_KEY or give --admin-key-file"
                    f" (make run keeps one in {DEFAULT_KEY_FILE})"
                )
            path = DEFAULT_KEY_FILE
        try:
            key = path.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read the operator key from {path}: {getattr(exc, 'strerror', exc)}")
        if not key:
            fail(f"{path} is empty; it should hold the operator key")
        return key


class ServerApi:
    """The server's HTTP API as the operator sees it: JSON in, JSON out, one request at a
    time (``httpx`` is imported here, not by ``ringpush --help``)."""

    def __init__(self, server: str, admin_key: str, server_ca: Path | None) -> None:
        import httpx

        if not server.startswith(("http://", "https://")):
            fail(f"--server {server!r} is not an http:// or https:// URL")
        if server_ca is not None and not server_ca.is_file():
            fail(f"cannot read --server-ca {server_ca}")
        self.server = server.rstrip("/")
        self._http = httpx.Client(
            base_url=self.server,
            headers={"Authorization": f"Bearer {admin_key}"},
            timeout=TIMEOUT_SECONDS,
            verify=str(server_ca) if server_ca is not None else True,
        )

    def __enter__(self) -> ServerApi:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def get(self, path: str, **query: str | int | None) -> Any:
        return self.request("GET", path, query=query)

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        query: dict[str, str | int | None] | None = None,
    ) -> Any:
        """The answer's JSON (None for 204); a refusal exits with its one line."""
        import httpx

        params = {name: value for name, value in (query or {}).items() if value is not None}
        try:
            response = self._http.request(method, path, json=body, params=params)
        except httpx.HTTPError as exc:
            self._unreachable(exc)
        self._check(response.status_code, response.content)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def events(
        self, path: str, on_open: Callable[[], None] | None = None, **query: str | None
    ) -> Iterator[tuple[str, Any]]:
        """A server-sent event stream as ``(event, data)`` pairs, until the server ends it;
        ``on_open`` is called at its first line (the delivery log's says it follows)."""
        import httpx

        params = {name: value for name, value in query.items() if value is not None}
        try:
            with self._http.stream(
                "GET", path, params=params, timeout=httpx.Timeout(TIMEOUT_SECONDS, read=None)
            ) as response:
                if response.status_code != 200:
                    self._check(response.status_code, response.read())
                event, data = "message", ""
                for line in response.iter_lines():
                    if on_open is not None:
                        on_open()
                        on_open = None
                    if line.startswith("event:"):
                        event = line.removeprefix("event:").strip()
                    elif line.startswith("data:"):
                        data += line.removeprefix("data:").strip()
                    elif not line and data:
                        yield event, json.loads(data)
                        event, data = "message", ""
        except httpx.HTTPError as exc:
            self._unreachable(exc)

    def _unreachable(self, exc: Exception) -> None:
        fail(
            f"cannot reach ringpush at {self.server} ({exc or type(exc).__name__}):"
            " is it running? (--server or RINGPUSH_URL)",
            EXIT_NOT_SENT,
        )

    def _check(self, status: int, content: bytes) -> None:
        if status < 400:
            return
        code, message = _error_of(content)
        if status == 401:
            fail(f"the server refused the operator key ({message})")
        if status >= 500:
            fail(f"the server failed: {status} {code}: {message}", EXIT_NOT_SENT)
        fail(f"{code}: {message}", EXIT_BAD_INPUT)


def _error_of(content: bytes) -> tuple[str, str]:
    """The ``{"error": {"code", "message"}}`` body, or what there is of it (a proxy's page)."""
    try:
        error = json.loads(content)["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return "error", content.decode(errors="replace").strip()[:200] or "no body"


def chosen_app(api: ServerApi, app_id: str | None) -> str:
    """The ``--app`` given, or the server's only app."""
    if app_id is not None:
        return app_id
    apps = [app["app_id"] for app in api.get("/v1/apps")]
    if len(apps) == 1:
        return str(apps[0])
    if not apps:
        fail("the server has no app yet: make one with `ringpush apps put NAME --bundle-id …`")
    return fail(f"give --app (or RINGPUSH_APP): the server has {len(apps)}: {', '.join(apps)}")


KEYWORD = inspect.Parameter.KEYWORD_ONLY


def operator_command(group: typer.Typer, name: str) -> Callable[[Callable[..., None]], None]:
    """Register ``func(api, ...)`` as ``group``'s command ``name``, with the connection
    flags every operator command takes (``--server``, ``--admin-key``,
    ``--admin-key-file``, ``--server-ca``) added to its own: ``api`` is the open
    connection they describe."""

    def register(func: Callable[..., None]) -> None:
        own = inspect.signature(func, eval_str=True)
        flags = [
            inspect.Parameter(flag, KEYWORD, default=default, annotation=kind)
            for flag, kind, default in CONNECTION_FLAGS
        ]
        parameters = [p for p in own.parameters.values() if p.name != "api"] + flags

        @functools.wraps(func)
        def command(**given: Any) -> None:
            connection = Connection(*(given.pop(flag) for flag, _, _ in CONNECTION_FLAGS))
            with connection.open() as api:
                func(api, **given)

        command.__signature__ = own.replace(parameters=parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        group.command(name, cls=Command)(command)

    return register


#: The flags of :func:`operator_command`, in :class:`Connection`'s order.
CONNECTION_FLAGS: list[tuple[str, object, object]] = [
    ("server", ServerOption, DEFAULT_SERVER),
    ("admin_key", AdminKeyOption, None),
    ("admin_key_file", AdminKeyFileOption, None),
    ("server_ca", ServerCaOption, None),
]
