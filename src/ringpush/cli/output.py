"""What the operator commands print: a table for people (Rich), the server's JSON as it
came with ``--json`` for scripts.

A table piped into a file or ``grep`` is not cut at 80 columns: off a terminal it is as
wide as its rows need, so a line holds a whole row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import typer

#: A column: its header, and how a row (one JSON object of the answer) shows in it.
Column = tuple[str, Callable[[Mapping[str, Any]], object]]

#: What a missing value looks like in a table.
NOTHING = "-"


def field(name: str) -> Callable[[Mapping[str, Any]], object]:
    """A column showing one field of the row."""
    return lambda row: row.get(name)


def shown(value: object) -> str:
    if value is None or value == "":
        return NOTHING
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def when(value: object) -> str:
    """An ISO timestamp as a person reads it: to the second, in UTC."""
    if not isinstance(value, str):
        return NOTHING
    return value.replace("T", " ")[:19]


def print_json(value: object) -> None:
    typer.echo(json.dumps(value, indent=2))


def _print(renderable: Any) -> None:
    """On a terminal as Rich fits it; elsewhere each row on one line, no padding after."""
    from rich.console import Console

    console = Console(highlight=False)
    if console.is_terminal:
        console.print(renderable)
        return
    console = Console(highlight=False, width=1000, no_color=True)
    with console.capture() as captured:
        console.print(renderable)
    typer.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def print_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], empty: str) -> None:
    """Rows under their headers; ``empty`` (one line) when there are none."""
    from rich import box
    from rich.table import Table

    listed = list(rows)
    if not listed:
        typer.echo(empty)
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for header, _ in columns:
        table.add_column(header)
    for row in listed:
        table.add_row(*(shown(value(row)) for _, value in columns))
    _print(table)


def print_fields(pairs: Iterable[tuple[str, object]]) -> None:
    """``name  value`` lines, names aligned: one object, whole values (a token is never
    folded over two lines)."""
    listed = [(name, shown(value)) for name, value in pairs]
    width = max(len(name) for name, _ in listed)
    for name, value in listed:
        typer.echo(f"{name.ljust(width)}  {value}")
