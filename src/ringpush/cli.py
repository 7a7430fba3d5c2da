"""The ``ringpush`` command."""

from __future__ import annotations

import typer

app = typer.Typer(help="ringpush: wake phones for calls over APNs.", no_args_is_help=True)


@app.command()
def version() -> None:
    """Print the ringpush version."""
    from ringpush import __version__

    typer.echo(__version__)


def main() -> None:
    app()
