"""Running the CLI in-process under a time bound (shared by the fuzz tests)."""

from __future__ import annotations

import signal
from typing import Any

import pytest
from click.testing import CliRunner, Result
from simplan.cli import main


class _Hang(BaseException):
    """Raised by the alarm when a command runs too long (BaseException: nothing catches it)."""


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang


def invoke(args: list[str], timeout_s: float = 20.0) -> Result:
    """Run the CLI in-process; a command still running after ``timeout_s`` is a hang."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        return CliRunner().invoke(main, args)
    except _Hang:
        pytest.fail(f"`simplan {' '.join(args)}` still running after {timeout_s} s (a hang)")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
