"""Files a scenario names (a calibration profile, a model's ``config.json``): read once
per version of the file, with errors that name the scenario key and the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from simplan.errors import Problem, ScenarioError

T = TypeVar("T")

_NAMED_FILES: dict[tuple[str, str, int, int], Any] = {}


def read_named_file(
    path: str | Path, key_path: str, what: str, parse: Callable[[str, str], T]
) -> T:
    """``parse(text, source)`` of a file a scenario names at ``key_path`` (a calibration
    profile, a model config), once per version of the file (path, mtime, size).

    A missing or unreadable file, and a ``ValueError`` from ``parse`` (TOML or JSON
    syntax), become a :class:`ScenarioError` naming the key and the file; ``parse`` raises
    its own errors for content it refuses.
    """
    p = Path(path)
    try:
        st = p.stat()
        if p.is_dir():
            raise IsADirectoryError(21, "is a directory", str(p))
        key = (what, str(p.resolve()), st.st_mtime_ns, st.st_size)
        if key in _NAMED_FILES:
            return cast(T, _NAMED_FILES[key])
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(
            f"no such {what}", [Problem(key_path, "the file does not exist", str(p), True)]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ScenarioError(
            f"cannot read the {what}", [Problem(key_path, f"{p}: {why}", str(p), True)]
        ) from None
    try:
        value = parse(text, str(p))
    except (ValueError, RecursionError) as exc:
        raise ScenarioError(
            f"cannot read the {what}", [Problem(key_path, f"{p}: {exc}", str(p), True)]
        ) from None
    _NAMED_FILES[key] = value
    return value
