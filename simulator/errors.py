"""The errors simplan shows to users.

Everything a user can get wrong (a scenario file, a catalog id, a configuration
that cannot physically work) raises a :class:`SimplanError`. The CLI prints its
message and exits with status 2; it never shows a traceback for these.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field


def nearest(name: str, allowed: Iterable[str]) -> str | None:
    """Return the allowed name closest to ``name`` (for typo suggestions), or None."""
    choices = list(allowed)
    lowered = {c.lower(): c for c in choices}
    key = name.lower()
    if key in lowered:
        return lowered[key]
    # a short form of an id ("h100" for "h100-sxm") beats a near spelling ("h200")
    prefixed = [c for c in lowered if c.startswith(key)] if len(key) >= 2 else []
    cutoff = 0.0 if prefixed else 0.5
    hits = difflib.get_close_matches(key, prefixed or list(lowered), n=1, cutoff=cutoff)
    return lowered[hits[0]] if hits else None


def format_key_path(loc: Iterable[object]) -> str:
    """Render a location such as ``('workload', 'input_tokens', 'mean')`` as a key path."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            if "." in text or " " in text:
                text = f'"{text}"'
            out += ("." if out else "") + text
    return out or "(top level)"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where, what value, and what is allowed."""

    key_path: str
    message: str
    value: object = None
    has_value: bool = False

    def render(self) -> str:
        shown = f" = {shown_value(self.value)}" if self.has_value else ""
        return f"  {self.key_path}{shown}: {self.message}"


#: The most characters of a bad value an error message repeats.
MAX_SHOWN_CHARS = 100


def shown_value(value: object) -> str:
    """``repr(value)``, cut to :data:`MAX_SHOWN_CHARS` with its size (a 10,000-character
    string or a huge array is named, not echoed)."""
    text = repr(value)
    if len(text) <= MAX_SHOWN_CHARS:
        return text
    if isinstance(value, str):
        size = f"{len(value):,} characters"
    elif isinstance(value, list | tuple | dict):
        size = f"{len(value):,} items"
    else:
        size = f"{len(text):,} characters shown in full"
    return f"{text[: MAX_SHOWN_CHARS - 10]}... ({size})"


@dataclass
class SimplanError(Exception):
    """A user-facing error: bad input or a configuration that cannot work."""

    summary: str
    problems: list[Problem] = field(default_factory=list)
    source: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.summary)

    def __str__(self) -> str:
        head = f"{self.source}: {self.summary}" if self.source else self.summary
        if not self.problems:
            return head
        return "\n".join([head, *(p.render() for p in self.problems)])


class ScenarioError(SimplanError):
    """A scenario file that cannot be read or does not validate."""


class CatalogError(SimplanError):
    """An unknown catalog id or a malformed catalog file."""


class InfeasibleError(SimplanError):
    """A configuration that cannot physically work (does not fit, invalid parallelism)."""


class DoesNotFitError(InfeasibleError):
    """The model's weights (and a minimal KV cache) do not fit in a replica's GPU memory."""


class ParallelismError(InfeasibleError):
    """A parallel layout or number format the model or GPU cannot run."""


class ContextError(InfeasibleError):
    """Every request is longer than the model's context: no fleet could serve one."""


def unknown_id_message(
    kind: str, name: str, allowed: Iterable[str], listing: str | None = None
) -> str:
    """Message for an unknown catalog id, with the nearest valid id when one is close;
    ``listing`` is the `simplan catalog` listing that shows them, if there is one."""
    choices = sorted(allowed)
    hint = nearest(name, choices)
    msg = f"unknown {kind} id {name!r}"
    if hint is not None:
        msg += f"; did you mean {hint!r}?"
    shown = ", ".join(choices[:12]) + (", ..." if len(choices) > 12 else "")
    see = f"; see `simplan catalog {listing}`" if listing else ""
    return f"{msg} (allowed: {shown}{see})"
