"""Trace and length files: a CSV of arrivals and token counts (``arrival = "trace"``), or
one column of lengths for an empirical distribution, read once per file version.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import math
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from simplan.arrivals import Requests
from simplan.errors import ScenarioError


def read_column(path: Path, column: str, key_path: str) -> np.ndarray:
    """The token counts in one column of a CSV file (``key_path`` names the scenario key).

    Parsed once per file content: a run asks for the same column several times (the check,
    the mean lengths, the sampling). The array is read-only.
    """
    key = _file_version(path)
    if key is None:
        return _parse_column(path, column, key_path)  # raises the clear error
    return _cached_column(key, column, key_path)


def read_trace(path: Path) -> Requests:
    """Read a request trace CSV: a timestamp, input tokens and output tokens per row.

    Timestamps are seconds (a number) or ISO-8601 date-times (the Azure trace format);
    they are shifted so the first request arrives at t = 0 and sorted. Parsed once per
    file content (the check and the run both need it); the arrays are read-only.
    """
    key = _file_version(path)
    if key is None:
        return _parse_trace(path)  # raises the clear error
    return _cached_trace(key)


def _file_version(path: Path) -> tuple[str, str] | None:
    """(path, content hash): an edited file is read again; None if unreadable.

    The content, not the modification time, which filesystems keep only to a few
    milliseconds (a file rewritten at once could look unchanged). Hashing is far cheaper
    than parsing the CSV.
    """
    try:
        digest = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    except (OSError, ValueError):  # ValueError: a NUL byte in the path
        return None
    return str(path), digest


@functools.lru_cache(maxsize=8)
def _cached_column(version: tuple[str, str], column: str, key_path: str) -> np.ndarray:
    values = _parse_column(Path(version[0]), column, key_path)
    values.flags.writeable = False
    return values


@functools.lru_cache(maxsize=2)
def _cached_trace(version: tuple[str, str]) -> Requests:
    reqs = _parse_trace(Path(version[0]))
    for arr in (reqs.arrival_s, reqs.input_tokens, reqs.output_tokens):
        arr.flags.writeable = False
    return reqs


def _parse_column(path: Path, column: str, key_path: str) -> np.ndarray:
    rows = _read_csv(path, key_path)
    header = rows[0][1] if rows else []
    if column not in header:
        raise ScenarioError(
            f"{key_path}: CSV has no column {column!r} (columns: {', '.join(header)})",
            source=str(path),
        )
    col = header.index(column)
    out = []
    for line_no, row in rows[1:]:
        cell = row[col] if col < len(row) else ""
        v = _token_count(cell)
        if v is None:
            raise ScenarioError(
                f"line {line_no}: column {column!r} = {cell!r} is not a token count "
                f"(a whole number from 1 to {MAX_TOKENS:,})",
                source=str(path),
            )
        out.append(v)
    if not out:
        raise ScenarioError(f"column {column!r} has no rows", source=str(path))
    return np.asarray(out, dtype=np.int64)


#: The largest token count a CSV cell may hold (as the scenario schema allows).
MAX_TOKENS = 10_000_000


def _token_count(cell: str) -> int | None:
    """A CSV cell as a token count in 1..MAX_TOKENS, or None."""
    try:
        x = float(cell)
    except ValueError:
        return None
    if not math.isfinite(x) or x < 1 or x > MAX_TOKENS:
        return None
    return int(x)


def _read_csv(path: Path, key_path: str) -> list[tuple[int, list[str]]]:
    """Non-empty CSV rows with their line numbers in the file (a BOM is ignored)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            out = []
            for row in reader:
                if row and any(cell.strip() for cell in row):
                    out.append((reader.line_num, row))
            return out
    except FileNotFoundError:
        raise ScenarioError(f"{key_path}: no such CSV file", source=str(path)) from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{key_path}: CSV is not UTF-8 text", source=str(path)) from None
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ScenarioError(f"{key_path}: cannot read CSV: {why}", source=str(path)) from None
    except csv.Error as exc:
        raise ScenarioError(f"{key_path}: not a readable CSV: {exc}", source=str(path)) from None


# --- traces ----------------------------------------------------------------------------

#: Accepted column names, first match wins. The Azure LLM inference traces (2023, 2024)
#: use TIMESTAMP, ContextTokens, GeneratedTokens.
TRACE_COLUMNS = {
    "timestamp": ("timestamp_s", "timestamp", "TIMESTAMP", "arrival_s", "time"),
    "input": ("input_tokens", "ContextTokens", "prompt_tokens", "input"),
    "output": ("output_tokens", "GeneratedTokens", "completion_tokens", "output"),
}


def _parse_trace(path: Path) -> Requests:
    rows = _read_csv(path, "workload.trace")
    if len(rows) < 2:
        raise ScenarioError("workload.trace: the trace has no requests", source=str(path))
    header = [h.strip() for h in rows[0][1]]
    idx = {}
    for role, names in TRACE_COLUMNS.items():
        found = next((header.index(n) for n in names if n in header), None)
        if found is None:
            raise ScenarioError(
                f"workload.trace: no {role} column; expected one of {', '.join(names)} "
                f"(found: {', '.join(header)})",
                source=str(path),
            )
        idx[role] = found
    ts: list[float] = []
    inp: list[int] = []
    out: list[int] = []
    for line_no, row in rows[1:]:
        try:
            raw_t = row[idx["timestamp"]].strip()
            try:
                t = float(raw_t)
            except ValueError:
                t = _iso_seconds(raw_t)
            i = _token_count(row[idx["input"]])
            o = _token_count(row[idx["output"]])
            if i is None or o is None:
                raise ValueError
        except (ValueError, IndexError, OverflowError):
            raise ScenarioError(
                f"line {line_no}: cannot read {','.join(row)!r}: need a timestamp (seconds or "
                f"ISO-8601) and token counts from 1 to {MAX_TOKENS:,}",
                source=str(path),
            ) from None
        if not math.isfinite(t) or abs(t) > 1e12:
            raise ScenarioError(
                f"line {line_no}: need a finite timestamp (seconds or ISO-8601), "
                f"got {','.join(row)!r}",
                source=str(path),
            )
        ts.append(t)
        inp.append(i)
        out.append(o)
    t_arr = np.asarray(ts)
    order = np.argsort(t_arr, kind="stable")
    t_arr = t_arr[order] - t_arr[order][0]
    return Requests(t_arr, np.asarray(inp, np.int64)[order], np.asarray(out, np.int64)[order])


def _iso_seconds(text: str) -> float:
    """Seconds since the epoch of an ISO-8601 time; naive times are taken as UTC.

    Fractional seconds beyond microseconds (the Azure traces have seven digits) are cut
    while any UTC offset after them is kept.
    """
    m = re.match(r"^(.*?[T ]\d{2}:\d{2}:\d{2})(\.\d+)?(.*)$", text.strip())
    if m is None:
        raise ValueError(text)
    head, frac, tail = m.groups()
    frac = (frac or "")[:7]
    tail = "+00:00" if tail in ("Z", "z") else tail
    stamp = datetime.fromisoformat(head + frac + tail)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()
