"""The ``ringpush`` command: one Typer app, its subcommands in one module per concern.

- :mod:`ringpush.cli.local`: run ringpush's parts on this machine (``serve``, ``run``,
  ``sandbox``, ``send``, ``keygen``, ``demo``);
- :mod:`ringpush.cli.apps`, ``users``, ``devices``, ``calls``, ``deliveries``: a running
  server's API for its operator (:mod:`ringpush.cli.server_api`), printed as tables or
  ``--json`` (:mod:`ringpush.cli.output`).
"""

from __future__ import annotations

from ringpush.cli import local
from ringpush.cli.apps import apps
from ringpush.cli.calls import calls
from ringpush.cli.deliveries import deliveries
from ringpush.cli.devices import devices
from ringpush.cli.root import app
from ringpush.cli.server_api import operator_command
from ringpush.cli.users import users

app.add_typer(apps, name="apps")
app.add_typer(users, name="users")
app.add_typer(devices, name="devices")
app.add_typer(calls, name="calls")
operator_command(app, "deliveries")(deliveries)

__all__ = ["app", "local", "main"]


def main() -> None:
    app()
