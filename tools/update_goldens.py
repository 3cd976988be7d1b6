"""Regenerate the golden answers of tests/test_golden.py after an intended model change.

The tests only compare; this is the one way to rewrite ``tests/golden/``. It computes
every golden the tests check (runs, plans, fast sweeps), writes the files that changed
and lists each one with the keys whose values moved, so the change can be reviewed (and
named in the commit) before the diff is committed.

Usage: python tools/update_goldens.py [--only runs|plans|sweeps]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import test_golden as g  # noqa: E402  (the tests' own definitions of each golden)


def _moved(old: Any, new: Any, prefix: str = "") -> Iterator[str]:
    """Dotted keys whose values differ between two JSON trees."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            yield from _moved(old.get(key), new.get(key), f"{prefix}{key}.")
    elif old != new:
        yield prefix.rstrip(".") or "(whole file)"


def _cases(only: str | None) -> Iterator[tuple[Path, Callable[[], dict[str, Any]]]]:
    if only in (None, "runs"):
        for p in g.SCENARIOS:
            yield g.GOLDEN / f"{p.stem}.json", lambda p=p: g.compute(p)
    if only in (None, "plans"):
        for p in g.SHIPPED:
            yield g.GOLDEN / "plan" / f"{p.stem}.json", lambda p=p: g.golden_plan(p)
    if only in (None, "sweeps"):
        for p in g.SWEPT:
            yield g.GOLDEN / "sweep" / f"{p.stem}.json", lambda p=p: g.golden_sweep(p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["runs", "plans", "sweeps"])
    args = parser.parse_args()
    changed = 0
    for path, compute in _cases(args.only):
        got = compute()
        old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        name = path.relative_to(ROOT)
        if old == got:
            print(f"unchanged  {name}")
            continue
        changed += 1
        moved = list(_moved(old, got)) if old is not None else ["(new file)"]
        print(f"changed    {name}: {', '.join(moved[:12])}{' ...' if len(moved) > 12 else ''}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{changed} golden file(s) rewritten; review `git diff tests/golden/` before committing")


if __name__ == "__main__":
    main()
