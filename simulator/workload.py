"""Workload generation: arrival times and token lengths, one function per kind.

Everything draws from one ``numpy.random.Generator`` seeded by the scenario, so the
same scenario and seed give the same requests.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from simplan.errors import ScenarioError
from simplan.scenario import (
    EmpiricalLength,
    FixedLength,
    NormalLength,
    Scenario,
    UniformLength,
    WorkloadSection,
)

# Open-loop arrival processes, chosen by name; each returns sorted arrival times in seconds.
ArrivalFn = Callable[[WorkloadSection, np.random.Generator, float, int | None], np.ndarray]

#: More requests than this in one run is refused up front (memory would run out first).
MAX_REQUESTS = 20_000_000


@dataclass
class Requests:
    """The open-loop request stream: arrival times and token lengths."""

    arrival_s: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray  # generated: the visible answer plus any hidden reasoning
    reasoning_tokens: np.ndarray | None = None  # the hidden part (None: none)
    prefix_id: np.ndarray | None = None  # shared prefix each prompt starts with (None: none)

    def __len__(self) -> int:
        return int(self.arrival_s.shape[0])


def _count(rate: float, horizon_s: float, num: int | None) -> int:
    """Draws needed to cover ``horizon_s`` at ``rate`` (with margin), capped by ``num``."""
    n = num if num is not None else 0
    if math.isfinite(horizon_s):
        mean = rate * horizon_s
        by_horizon = math.ceil(mean * 1.2 + 10 * math.sqrt(mean) + 10)
        n = min(n, by_horizon) if num is not None else by_horizon
    if n > MAX_REQUESTS:
        raise ScenarioError(
            f"the workload asks for about {n:,} requests; simplan simulates at most "
            f"{MAX_REQUESTS:,} per run (shorten workload.duration_s or lower rate_per_s; "
            "use `simplan sweep --method fast` for extreme loads)"
        )
    return n


def _truncate(times: np.ndarray, horizon_s: float, num: int | None) -> np.ndarray:
    """Arrivals stop at whichever comes first: ``num`` requests or ``horizon_s``."""
    if num is not None:
        times = times[:num]
    return times[times < horizon_s]


def poisson_arrivals(
    w: WorkloadSection, rng: np.random.Generator, horizon_s: float, num: int | None
) -> np.ndarray:
    """Poisson arrivals; with ``diurnal`` a non-homogeneous process by thinning."""
    assert w.rate_per_s is not None
    if w.diurnal is None:
        n = _count(w.rate_per_s, horizon_s, num)
        return _truncate(np.cumsum(rng.exponential(1.0 / w.rate_per_s, n)), horizon_s, num)
    mult = np.asarray(w.diurnal, dtype=float)
    target = num if num is not None else MAX_REQUESTS + 1
    _count(w.rate_per_s * float(mult.mean()), horizon_s, num)  # refuse absurd sizes first
    kept: list[np.ndarray] = []
    total, t0, hours = 0, 0.0, 0
    # hour by hour: a Poisson count at that hour's rate, spread uniformly over the hour
    # (work in proportion to requests and hours, however quiet the night is)
    while total < target and t0 < horizon_s and hours < MAX_DIURNAL_HOURS:
        end = min((math.floor(t0 / 3600.0) + 1) * 3600.0, horizon_s)
        lam = w.rate_per_s * mult[int(t0 // 3600.0) % 24] * (end - t0)
        k = int(rng.poisson(lam)) if lam > 0 else 0
        if total + k > MAX_REQUESTS:
            _count(0.0, math.inf, total + k)
        if k:
            kept.append(np.sort(rng.uniform(t0, end, k)))
            total += k
        t0, hours = end, hours + 1
    return _truncate(np.concatenate(kept) if kept else np.zeros(0), horizon_s, num)


#: A diurnal process without a duration stops after ten years of simulated hours.
MAX_DIURNAL_HOURS = 24 * 3660


def gamma_arrivals(
    w: WorkloadSection, rng: np.random.Generator, horizon_s: float, num: int | None
) -> np.ndarray:
    """Renewal process with gamma inter-arrival times; ``burstiness`` is their squared CV."""
    assert w.rate_per_s is not None
    shape = 1.0 / w.burstiness
    scale = 1.0 / (w.rate_per_s * shape)
    n = _count(w.rate_per_s, horizon_s, num)
    return _truncate(np.cumsum(rng.gamma(shape, scale, n)), horizon_s, num)


def constant_arrivals(
    w: WorkloadSection, rng: np.random.Generator, horizon_s: float, num: int | None
) -> np.ndarray:
    """Evenly spaced arrivals at ``rate_per_s``."""
    assert w.rate_per_s is not None
    n = _count(w.rate_per_s, horizon_s, num)
    return _truncate((np.arange(n) + 1.0) / w.rate_per_s, horizon_s, num)


def offline_arrivals(
    w: WorkloadSection, rng: np.random.Generator, horizon_s: float, num: int | None
) -> np.ndarray:
    """Every request queued at t = 0 (the engines' "max load" benchmark)."""
    assert num is not None
    _count(0.0, 0.0, num)
    return np.zeros(num)


ARRIVALS: dict[str, ArrivalFn] = {
    "poisson": poisson_arrivals,
    "gamma": gamma_arrivals,
    "constant": constant_arrivals,
    "offline": offline_arrivals,
}


# --- token lengths ---------------------------------------------------------------------


def sample_lengths(
    spec: object, n: int, rng: np.random.Generator, scenario: Scenario, key: str, cap: int
) -> np.ndarray:
    """Draw ``n`` token lengths from a length spec (a number or a distribution table)."""
    if isinstance(spec, int):
        return np.full(n, spec, dtype=np.int64)
    if isinstance(spec, FixedLength):
        return np.full(n, spec.value, dtype=np.int64)
    if isinstance(spec, UniformLength):
        return rng.integers(spec.low, spec.high + 1, n).astype(np.int64)
    if isinstance(spec, NormalLength):
        hi = spec.max if spec.max is not None else cap
        if spec.distribution == "normal":
            x = rng.normal(spec.mean, spec.std, n)
        else:
            # lognormal with the given mean and standard deviation of the length itself
            sigma2 = math.log1p((spec.std / spec.mean) ** 2)
            mu = math.log(spec.mean) - sigma2 / 2.0
            x = rng.lognormal(mu, math.sqrt(sigma2), n)
        return np.clip(np.rint(x), spec.min, max(hi, spec.min)).astype(np.int64)
    if isinstance(spec, EmpiricalLength):
        values = read_column(scenario.resolve_path(spec.path), spec.column, f"workload.{key}.path")
        return rng.choice(values, n, replace=True).astype(np.int64)
    raise TypeError(f"unknown length spec {spec!r}")


def busiest_hour(w: WorkloadSection) -> int | None:
    """Hour of the day (0-23) with the highest ``diurnal`` multiplier; None without one.

    This is the hour every command judges a daily cycle's SLO at and sizes fleets for.
    """
    if not w.diurnal:
        return None
    return int(np.argmax(np.asarray(w.diurnal, dtype=float)))


def diurnal_multipliers(w: WorkloadSection) -> tuple[float, float]:
    """(busiest hour's, day's mean) multiplier of ``rate_per_s``; (1, 1) without a cycle."""
    if not w.diurnal:
        return 1.0, 1.0
    return float(max(w.diurnal)), float(np.mean(w.diurnal))


def peak_rate_per_s(w: WorkloadSection) -> float:
    """The offered request rate at the busiest hour (the rate itself without a cycle)."""
    return float(w.rate_per_s or 0.0) * diurnal_multipliers(w)[0]


def mean_rate_per_s(w: WorkloadSection) -> float:
    """The offered request rate averaged over the day (the rate itself without a cycle)."""
    return float(w.rate_per_s or 0.0) * diurnal_multipliers(w)[1]


def mean_length(scenario: Scenario, key: str) -> float:
    """The mean of ``workload.<key>`` (``input_tokens`` or ``output_tokens``), in tokens."""
    return length_mean(scenario, getattr(scenario.workload, key), key)


def length_mean(scenario: Scenario, spec: object, key: str) -> float:
    """The mean of a length spec found at ``workload.<key>``."""
    if isinstance(spec, int):
        return float(spec)
    if isinstance(spec, FixedLength):
        return float(spec.value)
    if isinstance(spec, UniformLength):
        return (spec.low + spec.high) / 2.0
    if isinstance(spec, NormalLength):
        return float(spec.mean)
    if isinstance(spec, EmpiricalLength):
        values = read_column(scenario.resolve_path(spec.path), spec.column, f"workload.{key}.path")
        return float(values.mean())
    raise TypeError(f"unknown length spec {spec!r}")


def mean_lengths(scenario: Scenario) -> tuple[float, float]:
    """Mean (input, output) tokens per request of a scenario's workload: input is the whole
    prompt (any shared prefix included); output counts every generated token, hidden
    reasoning included (it is decoded and billed alike)."""
    w = scenario.workload
    out = mean_length(scenario, "output_tokens")
    if w.reasoning_tokens is not None:
        out += mean_length(scenario, "reasoning_tokens")
    first = mean_length(scenario, "input_tokens") + float(w.shared_prefix_tokens or 0)
    if w.sessions is not None:  # later turns repeat the conversation so far
        from simplan.sessions import mean_session_prompt

        return mean_session_prompt(scenario, first, out)[0], out
    return first, out


def reuses_prompts(scenario: Scenario) -> bool:
    """Whether requests repeat earlier prompt tokens (shared prefixes, or sessions whose
    later turns repeat the conversation): what a prefix cache can reuse."""
    w = scenario.workload
    return w.shared_prefix_tokens is not None or w.sessions is not None


def prefix_weights(w: WorkloadSection) -> np.ndarray:
    """Probability of each shared prefix (empty without shared prefixes)."""
    if w.shared_prefix_tokens is None:
        return np.zeros(0)
    raw = np.asarray(w.shared_prefix_weights or np.ones(w.num_shared_prefixes), dtype=float)
    return raw / raw.sum()


def sample_prefixes(scenario: Scenario, n: int, rng: np.random.Generator) -> np.ndarray | None:
    """The shared prefix each of ``n`` prompts starts with (None without shared prefixes),
    drawn after every other length so a workload without them draws as it always did."""
    p = prefix_weights(scenario.workload)
    if not p.size:
        return None
    return rng.choice(p.size, size=n, p=p).astype(np.int64)


def sample_generated(
    scenario: Scenario, n: int, rng: np.random.Generator, cap: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """(generated, reasoning) tokens of ``n`` requests: the visible answer plus, for a
    reasoning workload, the hidden reasoning drawn after it (None without reasoning, so a
    workload without it draws exactly what it always did)."""
    w = scenario.workload
    out = sample_lengths(w.output_tokens, n, rng, scenario, "output_tokens", cap)
    if w.reasoning_tokens is None:
        return out, None
    hidden = sample_lengths(w.reasoning_tokens, n, rng, scenario, "reasoning_tokens", cap)
    return out + hidden, hidden


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
    import re
    from datetime import UTC, datetime

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


def generate_requests(scenario: Scenario, rng: np.random.Generator, context_cap: int) -> Requests:
    """The open-loop request stream of a scenario (every arrival kind except ``closed``)."""
    w = scenario.workload
    if w.arrival == "trace":
        assert w.trace is not None
        reqs = read_trace(scenario.resolve_path(w.trace))
        if w.num_requests is not None:
            reqs = Requests(
                reqs.arrival_s[: w.num_requests],
                reqs.input_tokens[: w.num_requests],
                reqs.output_tokens[: w.num_requests],
                None,
            )
        if w.duration_s is not None:
            keep = reqs.arrival_s < w.duration_s
            reqs = Requests(reqs.arrival_s[keep], reqs.input_tokens[keep], reqs.output_tokens[keep])
        return reqs
    horizon = w.duration_s if w.duration_s is not None else math.inf
    times = ARRIVALS[w.arrival](w, rng, horizon, w.num_requests)
    n = times.shape[0]
    inp = sample_lengths(w.input_tokens, n, rng, scenario, "input_tokens", context_cap)
    out, hidden = sample_generated(scenario, n, rng, context_cap)
    prefix = sample_prefixes(scenario, n, rng)
    if prefix is not None:
        inp = inp + int(w.shared_prefix_tokens or 0)
    return Requests(times, inp, out, hidden, prefix)
