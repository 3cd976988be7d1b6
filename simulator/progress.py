"""Progress bars of the command line, on stderr, each yielding the callback an API
function takes as ``progress`` (rich draws them; they are off when stderr is no terminal
unless asked for)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def _on(show: bool | None) -> bool:
    return sys.stderr.isatty() if show is None else show


@contextmanager
def simulated_time(show: bool | None = None) -> Iterator[Callable[[float, float], None] | None]:
    """A bar of simulated seconds with the time left: yields ``tick(now_s, horizon_s)``,
    or None when off (the run then skips the callbacks)."""
    if not _on(show):
        yield None
        return
    with Progress(
        TextColumn("simulated"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} / {task.total:,.0f} s"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("sim", total=1.0)

        def tick(now_s: float, horizon_s: float) -> None:
            bar.update(task, completed=now_s, total=max(horizon_s, 1e-9))

        yield tick


@contextmanager
def points(label: str) -> Iterator[Callable[[int, int], None]]:
    """A bar of ``label`` done out of a total: yields ``tick(done, total)``."""
    with Progress(transient=True, disable=not _on(None)) as bar:
        task = bar.add_task(label, total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield tick


@contextmanager
def count(template: str) -> Iterator[Callable[[int], None]]:
    """A spinner with an open-ended count, shown as ``template.format(done)``: yields
    ``tick(done)``."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, transient=True, disable=not _on(None)) as bar:
        task = bar.add_task(template.format(0), total=None)

        def tick(done: int) -> None:
            bar.update(task, description=template.format(done))

        yield tick
