"""The terminal: rich consoles and the one progress-bar builder that the command line and the
benchmark runner share."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

err = Console(stderr=True)  # progress, messages, errors
out = Console()  # results (tables, JSON)


def progress_bar(title: str, *fields: str | ProgressColumn, eta: bool = True,
                 console: Console | None = None, enabled: bool = True) -> Progress:
    """A bar: `title` (a format string over the task, e.g. "[bold]{task.description}"), the bar
    and done/total, then `fields` (format strings or columns), the elapsed time and, with
    `eta`, the time remaining."""
    columns: list[ProgressColumn] = [TextColumn(title), BarColumn(), MofNCompleteColumn()]
    columns += [TextColumn(f) if isinstance(f, str) else f for f in fields]
    columns.append(TimeElapsedColumn())
    if eta:
        columns += [TextColumn("ETA"), TimeRemainingColumn()]
    return Progress(*columns, console=console or err, disable=not enabled)
