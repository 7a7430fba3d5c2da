"""The ``ringpush`` command's root: the Typer app every subcommand hangs on, and the
conventions they share.

Bad input gets one clear line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import functools
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

#: Exit code for bad input (wrong flag values, unreadable files, invalid pushes, a
#: request the server refused).
EXIT_BAD_INPUT = 2
#: Exit code for a push APNs did not accept, or a server that could not be reached.
EXIT_NOT_SENT = 1


class EnvironmentChoice(StrEnum):
    """An APS environment as a flag's value (Typer shows the choices)."""

    development = "development"
    production = "production"


class _FlagsAsFlags:
    """Help that shows a boolean flag as a flag: Typer would print ``<bool>`` beside
    ``--once`` or ``--help``, as if it took a value."""

    def get_params(self, ctx: Any) -> Any:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False):  # Typer's own options are not click's
                param.metavar = ""
        return params


class Group(_FlagsAsFlags, TyperGroup):
    pass


class Command(_FlagsAsFlags, TyperCommand):
    pass


def new_group(help_text: str) -> typer.Typer:
    """A command group (``ringpush apps …``) with the root's conventions."""
    return typer.Typer(
        cls=Group,
        help=help_text,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )


app = new_group("ringpush: wake phones for calls over APNs and FCM.")
command = functools.partial(app.command, cls=Command)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print one line to stderr and exit (the bad-input code unless told)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@command()
def version() -> None:
    """Print the ringpush version."""
    from ringpush import __version__

    typer.echo(__version__)


def _print_version(wanted: bool) -> None:
    if wanted:
        version()
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """ringpush: wake phones for calls over APNs and FCM."""
