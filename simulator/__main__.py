"""The ``simplan`` command and ``python -m simplan``.

Ctrl-C must never show a traceback, not even in the first fraction of a second while
the command line, numpy and the scenario machinery are being imported: the handler is
installed before anything heavy is imported, and each command puts Python's own handler
back when it starts (it turns an interrupt into exit status 130 and leaves no
half-written output).
"""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import Any

#: Exit status of an interrupted command (128 + SIGINT), as the commands use.
EXIT_INTERRUPTED = 130


def _interrupted_while_starting(signum: int, frame: Any) -> None:
    sys.stderr.write("interrupted while starting: nothing was done\n")
    sys.stderr.flush()
    raise SystemExit(EXIT_INTERRUPTED)


def main() -> None:
    """Run the command line, with an interrupt during start-up answered cleanly."""
    # every command puts Python's own handler back when it starts (simplan.command_exit.user_errors)
    with contextlib.suppress(ValueError):  # ValueError: not the main thread
        signal.signal(signal.SIGINT, _interrupted_while_starting)
    from simplan.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
