"""Benchmark logs from serving engines, read into one form: :class:`BenchRun`.

Formats (field definitions and sources in docs/calibrate.md):

- ``vllm``: the result JSON of ``vllm bench serve --save-result`` (and the older
  ``benchmarks/benchmark_serving.py``);
- ``sglang``: the JSONL that ``python -m sglang.bench_serving --output-file`` appends to,
  one run per line;
- ``genai-perf``: NVIDIA GenAI-Perf's ``profile_export_genai_perf.json``.

Every file is checked field by field: a malformed log is a :class:`~simplan.errors.SimplanError`
naming the file (and line) and the field, before any work starts. A log may lack the
percentile fields or the per-request arrays (trimmed or older logs); only the fields that
define the run (its load and lengths) and at least one latency or throughput are required.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from simplan.errors import Problem, SimplanError

#: Latency metrics and statistics a run may carry, as ``<metric>_<stat>_s`` (the SLO keys).
LATENCY_METRICS = ("ttft", "tpot", "e2e")
STATS = ("mean", "p50", "p90", "p95", "p99")
THROUGHPUT = "output_tokens_per_s"


class BenchLogError(SimplanError):
    """A benchmark log that cannot be used for calibration."""


@dataclass(frozen=True)
class BenchRun:
    """One benchmark run: its load, its request lengths and what it measured."""

    source: str
    format: str
    completed: int
    request_rate_per_s: float  # math.inf: every request sent at once
    max_concurrency: int | None
    mean_input_tokens: float
    mean_output_tokens: float
    measured: dict[str, float]  # "<metric>_<stat>_s" in seconds, and THROUGHPUT in tokens/s
    burstiness: float = 1.0  # vLLM's gamma shape: 1 is Poisson
    input_lens: np.ndarray | None = None
    output_lens: np.ndarray | None = None
    model_id: str | None = None
    engine: str | None = None
    date: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """A short description of the run's load, for tables."""
        if math.isinf(self.request_rate_per_s):
            if self.max_concurrency:
                return f"concurrency {self.max_concurrency}"
            return "all at once"
        return f"{self.request_rate_per_s:g} req/s"


def _problem(key: str, message: str, value: Any = None, has_value: bool = False) -> Problem:
    return Problem(key, message, value, has_value)


class _Fields:
    """Typed access to a log's fields that collects every problem before raising."""

    def __init__(self, data: dict[str, Any], source: str) -> None:
        self.data = data
        self.source = source
        self.problems: list[Problem] = []

    def number(
        self, key: str, *, required: bool = False, positive: bool = False, allow_inf: bool = False
    ) -> float | None:
        if key not in self.data or self.data[key] is None:
            if required:
                self.problems.append(_problem(key, "missing (this field is required)"))
            return None
        v = self.data[key]
        if allow_inf and isinstance(v, str) and v.strip().lower() in ("inf", "infinity"):
            return math.inf
        if isinstance(v, bool) or not isinstance(v, int | float):
            self.problems.append(_problem(key, "must be a number", v, True))
            return None
        x = float(v)
        if math.isnan(x) or (math.isinf(x) and not allow_inf):
            self.problems.append(_problem(key, "must be a finite number", v, True))
            return None
        if x < 0 or (positive and x == 0):
            need = "greater than 0" if positive else "0 or more"
            self.problems.append(_problem(key, f"must be {need}", v, True))
            return None
        return x

    def lengths(self, key: str, n: int | None) -> np.ndarray | None:
        v = self.data.get(key)
        if v is None:
            return None
        if not isinstance(v, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in v
        ):
            self.problems.append(_problem(key, "must be a list of token counts"))
            return None
        arr = np.asarray(v, dtype=np.float64)
        if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
            self.problems.append(_problem(key, "must hold finite token counts, 0 or more"))
            return None
        return arr

    def text(self, key: str) -> str | None:
        v = self.data.get(key)
        return str(v) if v is not None else None

    def raise_if_any(self) -> None:
        if self.problems:
            raise BenchLogError("malformed benchmark log", self.problems, source=self.source)


def _run_from_flat(f: _Fields, fmt: str, names: dict[str, str]) -> BenchRun:
    """A vLLM- or SGLang-style flat result: ``mean_ttft_ms``, ``p99_tpot_ms``, ..."""
    completed = f.number("completed", required=True)
    if completed is not None and completed < 1:
        f.problems.append(
            _problem("completed", "no request completed: the run measured nothing", completed, True)
        )
    total_in = f.number("total_input_tokens", required=True, positive=True)
    total_out = f.number("total_output_tokens", required=True, positive=True)
    if f.data.get("ramp_up_strategy"):  # vLLM: the rate climbs during the run
        f.problems.append(
            _problem(
                "ramp_up_strategy",
                "the request rate ramped during the run, which the log does not record "
                "step by step; calibrate from runs at one rate or concurrency",
                f.data.get("ramp_up_strategy"),
                True,
            )
        )
    if f.data.get("request_rate") == "trace":  # SGLang --use-trace-timestamps
        f.problems.append(
            _problem(
                "request_rate",
                "the run replayed a trace's timestamps, which the log does not hold; "
                "calibrate from runs at a request rate or concurrency",
                "trace",
                True,
            )
        )
        f.data = {k: v for k, v in f.data.items() if k != "request_rate"}
    rate = f.number("request_rate", required=True, positive=True, allow_inf=True)
    burstiness = f.number("burstiness", positive=True, allow_inf=True)
    conc = f.number("max_concurrency", positive=True)
    if conc is not None and not float(conc).is_integer():
        f.problems.append(_problem("max_concurrency", "must be a whole number", conc, True))
    measured: dict[str, float] = {}
    for metric, log_name in names.items():
        for stat, prefix in (("mean", "mean"), ("p50", "median"), *((s, s) for s in STATS[2:])):
            x = f.number(f"{prefix}_{log_name}_ms")
            if x is not None and x > 0:
                measured[f"{metric}_{stat}_s"] = x / 1e3
    tput = f.number("output_throughput")
    if tput is not None and tput > 0:
        measured[THROUGHPUT] = tput
    if not measured and not f.problems:
        f.problems.append(
            _problem(
                "mean_ttft_ms",
                "no latency or throughput field: nothing to calibrate against (expected "
                "e.g. mean_ttft_ms, mean_tpot_ms, output_throughput)",
            )
        )
    n = int(completed) if completed else None
    details = f.data.get("details")  # SGLang's refactored --output-details
    if isinstance(details, dict):
        for key in ("input_lens", "output_lens"):
            f.data.setdefault(key, details.get(key))
    ins = f.lengths("input_lens", n)
    outs = f.lengths("output_lens", n)
    f.raise_if_any()
    assert completed is not None and total_in is not None and total_out is not None
    assert rate is not None
    if outs is not None and ins is not None and ins.size == outs.size:
        ok = outs > 0  # failed requests are listed with no output
        ins, outs = ins[ok], outs[ok]
    return BenchRun(
        source=f.source,
        format=fmt,
        completed=int(completed),
        request_rate_per_s=rate,
        max_concurrency=int(conc) if conc is not None else None,
        mean_input_tokens=total_in / completed,
        mean_output_tokens=total_out / completed,
        measured=measured,
        burstiness=burstiness or 1.0,
        input_lens=ins if ins is not None and ins.size else None,
        output_lens=outs if outs is not None and outs.size else None,
        model_id=f.text("model_id"),
        engine=f.text("backend"),
        date=f.text("date"),
    )


_VLLM_NAMES = {"ttft": "ttft", "tpot": "tpot", "e2e": "e2el"}
_SGLANG_NAMES = {"ttft": "ttft", "tpot": "tpot", "e2e": "e2e_latency"}


def _genai_perf(f: _Fields) -> BenchRun:
    data = f.data

    def stat_table(key: str) -> dict[str, Any] | None:
        v = data.get(key)
        if v is None:
            return None
        if not isinstance(v, dict):
            f.problems.append(_problem(key, "must be a table of statistics (avg, p50, ...)"))
            return None
        return v

    def value(key: str, stat: str, *, required: bool = False) -> float | None:
        table = stat_table(key)
        if table is None:
            if required:
                f.problems.append(_problem(key, "missing (this field is required)"))
            return None
        sub = _Fields(table, f.source)
        x = sub.number(stat, required=required, positive=required)
        f.problems += [
            Problem(f"{key}.{p.key_path}", p.message, p.value, p.has_value) for p in sub.problems
        ]
        return x

    measured: dict[str, float] = {}
    for metric, key in (
        ("ttft", "time_to_first_token"),
        ("tpot", "inter_token_latency"),
        ("e2e", "request_latency"),
    ):
        for stat, name in (("mean", "avg"), *((s, s) for s in STATS[1:])):
            x = value(key, name)
            if x is not None and x > 0:
                measured[f"{metric}_{stat}_s"] = x / 1e3
    tput = value("output_token_throughput", "avg")
    if tput is not None and tput > 0:
        measured[THROUGHPUT] = tput
    isl = value("input_sequence_length", "avg", required=True)
    osl = value("output_sequence_length", "avg", required=True)
    count = value("request_count", "avg")  # AIPerf has it; GenAI-Perf does not
    cfg = data.get("input_config")
    cfg = cfg if isinstance(cfg, dict) else {}
    # GenAI-Perf (flat arguments), later GenAI-Perf (perf_analyzer.stimulus), AIPerf (loadgen)
    load: dict[str, Any] = {}
    for table in (cfg, cfg.get("perf_analyzer"), cfg.get("loadgen")):
        if isinstance(table, dict):
            stimulus = table.get("stimulus")
            for t in (table, stimulus if isinstance(stimulus, dict) else {}):
                load.update({k: t[k] for k in ("request_rate", "concurrency") if t.get(k)})
    sub = _Fields(load, f.source)
    rate = sub.number("request_rate", positive=True, allow_inf=True)
    conc = sub.number("concurrency", positive=True)
    f.problems += [
        Problem(f"input_config.{p.key_path}", p.message, p.value, p.has_value) for p in sub.problems
    ]
    if rate is None and conc is None and not sub.problems:
        f.problems.append(
            _problem(
                "input_config",
                "names neither a request_rate nor a concurrency: the run's load is unknown",
            )
        )
    if count is None:
        n = cfg.get("request_count") or cfg.get("num_prompts")
        count = float(n) if isinstance(n, int) and n > 0 else None
    if not measured and not f.problems:
        f.problems.append(_problem("time_to_first_token", "no latency or throughput statistics"))
    f.raise_if_any()
    assert isl is not None and osl is not None
    models = cfg.get("model_names") or cfg.get("model") or cfg.get("model_name")
    model_id = models[0] if isinstance(models, list) and models else models
    return BenchRun(
        source=f.source,
        format="genai-perf",
        completed=int(count) if count else 1000,
        request_rate_per_s=rate if rate is not None else math.inf,
        max_concurrency=int(conc) if conc is not None and rate is None else None,  # closed loop
        mean_input_tokens=isl,
        mean_output_tokens=osl,
        measured=measured,
        model_id=str(model_id) if model_id else None,
        engine="genai-perf",
        notes=[] if count else ["request count not in the export: simulated 1,000 requests"],
    )


def _detect(obj: dict[str, Any]) -> str | None:
    if isinstance(obj.get("time_to_first_token"), dict) or isinstance(
        obj.get("request_latency"), dict
    ):
        return "genai-perf"
    if "completed" in obj and any(k.endswith("_e2e_latency_ms") for k in obj):
        return "sglang"
    if "completed" in obj:
        return "vllm"
    return None


def _parse(obj: Any, source: str) -> BenchRun:
    if not isinstance(obj, dict):
        raise BenchLogError(
            "not a benchmark result: expected a JSON object of fields", source=source
        )
    fmt = _detect(obj)
    f = _Fields(obj, source)
    if fmt == "genai-perf":
        return _genai_perf(f)
    if fmt == "sglang":
        return _run_from_flat(f, "sglang", _SGLANG_NAMES)
    if fmt == "vllm":
        return _run_from_flat(f, "vllm", _VLLM_NAMES)
    raise BenchLogError(
        "not a recognised benchmark log: expected vLLM's result JSON (`completed`, "
        "`mean_ttft_ms`, ...), SGLang's bench_serving JSONL or GenAI-Perf's "
        "profile_export_genai_perf.json",
        [_problem("completed", "missing (vLLM and SGLang results have it)")],
        source=source,
    )


def _json(text: str, source: str) -> Any:
    """``json.loads`` with the failures JSONDecodeError does not cover made clear."""
    try:
        return json.loads(text)
    except RecursionError:
        raise BenchLogError("not a usable log: objects nested too deeply", source=source) from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise BenchLogError(f"not a usable log: {exc}", source=source) from None


def read_logs(paths: list[str | Path]) -> list[BenchRun]:
    """Read benchmark logs (JSON, or JSONL with one run per line), detecting the format.

    Raises
    ------
    BenchLogError
        A file is missing, not JSON, of no known format, or a field is malformed; the
        message names the file (and line) and the field. Also when the logs name more
        than one model.
    """
    if not paths:
        raise BenchLogError("no benchmark logs given")
    runs: list[BenchRun] = []
    for path in paths:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise BenchLogError("no such benchmark log", source=str(p)) from None
        except IsADirectoryError:
            raise BenchLogError("is a directory, not a benchmark log", source=str(p)) from None
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise BenchLogError(f"cannot read: {why}", source=str(p)) from None
        try:
            runs.append(_parse(_json(text, str(p)), str(p)))
            continue
        except json.JSONDecodeError as whole:
            lines = [(i, ln) for i, ln in enumerate(text.splitlines(), 1) if ln.strip()]
            if len(lines) < 2:
                raise BenchLogError(
                    f"not JSON: {whole.msg} (line {whole.lineno}, column {whole.colno})",
                    source=str(p),
                ) from None
        for i, line in lines:
            where = f"{p}:{i}"
            try:
                obj = _json(line, where)
            except json.JSONDecodeError as exc:
                raise BenchLogError(f"not JSON: {exc.msg}", source=where) from None
            runs.append(_parse(obj, where))
    models = {r.model_id for r in runs if r.model_id}
    if len(models) > 1:
        raise BenchLogError(
            "the logs are of different models: calibrate one deployment at a time",
            [_problem(f"{r.source}: model_id", "", r.model_id, True) for r in runs if r.model_id],
        )
    return runs
