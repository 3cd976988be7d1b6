"""How a command ends: a user's error as one line on stderr with exit status 2, Ctrl-C
and SIGTERM as a clean stop with status 130 (outputs are written atomically, so nothing
half-written is left)."""

from __future__ import annotations

import functools
import logging
import signal
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import click
from simplan.__main__ import EXIT_INTERRUPTED  # defined where start-up needs it
from simplan.errors import SimplanError

F = TypeVar("F", bound=Callable[..., Any])

#: Exit status of a command given bad input.
EXIT_USAGE = 2


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def user_errors(func: F) -> F:
    """Turn a SimplanError into a clear message on stderr and exit status 2 (no traceback).

    SIGINT and SIGTERM stop the command cleanly: outputs are written atomically (a file is
    complete or absent) and a sweep keeps its finished slices, so nothing half-written is
    left; the exit status is 130.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        previous = signal.getsignal(signal.SIGTERM)
        try:
            # the start-up handler (simplan.__main__) answered Ctrl-C until now
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, _terminate)
        except ValueError:  # not the main thread (e.g. inside a test runner's worker)
            previous = None
        try:
            return func(*args, **kwargs)
        except SimplanError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        except KeyboardInterrupt:
            click.echo(
                "interrupted: no partial output was written (finished sweep slices are "
                "kept; rerun the same command to resume)",
                err=True,
            )
            # an interrupt inside an asynchronous Zarr write abandons its event loop's
            # tasks; at exit Python reports each (coroutines never awaited, futures whose
            # exception nobody read, tasks destroyed while pending), which is noise after
            # a clean stop: the store being written is simplan's temporary folder
            warnings.filterwarnings(
                "ignore", message="coroutine .* was never awaited", category=RuntimeWarning
            )
            logging.getLogger("asyncio").setLevel(logging.CRITICAL + 1)
            sys.exit(EXIT_INTERRUPTED)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapper  # type: ignore[return-value]
