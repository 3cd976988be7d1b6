"""Running the CLI under a time bound, in-process or measured in a child (fuzz tests)."""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from simplan.cli import main


class _Hang(BaseException):
    """Raised by the alarm when a command runs too long (BaseException: nothing catches it)."""


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang


def invoke(args: list[str], timeout_s: float = 20.0, context: str = "") -> Result:
    """Run the CLI in-process; a command still running after ``timeout_s`` is a hang
    (reported with ``context``, such as the scenario's text)."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        return CliRunner().invoke(main, args)
    except _Hang:
        pytest.fail(
            f"`simplan {' '.join(args)}` still running after {timeout_s} s (a hang)\n{context}"
        )
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


#: Peak memory a fuzz case may use (issue 18): over this, a case must have been refused.
MAX_CASE_RSS_BYTES = 2 * 1024**3

# Runs the CLI and, on the way out, writes the process's peak resident memory to a file
# (ru_maxrss is in KiB on Linux): a number per case, whatever ran in the tests before it.
_MEASURED = """
import atexit, resource, sys
path = sys.argv.pop(1)
def _peak():
    with open(path, "w") as f:
        f.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
atexit.register(_peak)
from simplan.cli import main
main(prog_name="simplan")
"""


@dataclass
class Measured:
    """A CLI run in a process of its own: exit status, output and peak memory."""

    returncode: int
    stdout: str
    stderr: str
    peak_rss_bytes: int


def run_measured(args: list[str], tmp: Path, timeout_s: float = 60.0) -> Measured:
    """Run ``simplan ARGS`` in a child process; past ``timeout_s`` it is a hang.

    In a process of its own because a time bound cannot interrupt a long numpy call
    in-process, and so that the peak memory is this case's alone.
    """
    peak_file = tmp / "peak_rss_bytes"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _MEASURED, str(peak_file), *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`simplan {' '.join(args)}` still running after {timeout_s} s (a hang)")
    peak = int(peak_file.read_text()) if peak_file.exists() else 0
    return Measured(proc.returncode, proc.stdout, proc.stderr, peak)
