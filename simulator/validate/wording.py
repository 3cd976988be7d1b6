"""A calibration row's columns in its source's words: weights, KV cache, engine and
version, counts, lengths and load.

Sources print the same fact many ways ("fp8_e4m3", "AWQ 4-bit", "TRT-LLM 1.0", "2x8",
"1,024", "concurrency=64", "server (TTFT p99 <= 2 s, TPOT p99 <= 200 ms)"); each reader
here returns simplan's term or None, and :mod:`simplan.validate.rows` says why a row it
cannot read is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from simplan import catalog

Shape = Literal["static", "itl_fit", "max_load", "poisson", "closed", "slo_max_rate"]
Engine = Literal["vllm", "tensorrt-llm", "sglang"]


@dataclass(frozen=True)
class Lengths:
    """A length as a workload takes it (``spec``) and its mean for closed-form rows."""

    spec: int | dict[str, Any]
    mean: float
    sweep: tuple[int, int] | None = None


def weights_id(text: str, gpu: str | None = None) -> str | None:
    """The weight scheme a source describes ("int4 weight-only W4A16 GPTQ (...)" -> int4-gptq).

    A bare "FP4" is the GPU maker's format: NVFP4 on NVIDIA's parts (the TensorRT-LLM
    pages' FP4 columns run NVIDIA's NVFP4 checkpoints), MXFP4 on AMD's (the OCP format
    CDNA 4 computes in)."""
    p = text.strip().lower()
    known = catalog.load("weights")
    if p in known:
        return p
    if p == "int4-wo-g32":
        return "int4-g32"
    first = re.split(r"[\s(]", p, maxsplit=1)[0]
    if "w4a16" in p or first == "int4":
        return "int4-awq" if "awq" in p else "int4-gptq"
    if "w8a16" in p or "int8 weight-only" in p:
        return "int8-wo"
    if first in known:
        return first
    # gpt-oss ships its experts in MXFP4 (the attention weights stay 16-bit, under 5% of
    # the parameters); a "base checkpoint, BF16 implied" is the 16-bit release.
    if "mxfp4" in p:
        return "mxfp4"
    if first == "fp4":
        return "mxfp4" if gpu is not None and gpu.startswith("mi") else "nvfp4"
    if "bf16 implied" in p:
        return "bf16"
    # quantizer names: AWQ and GPTQ checkpoints are 4-bit unless the row says 8-bit (a
    # stated 4-bit wins over an 8-bit KV cache the same text mentions)
    quantizer = re.search(r"gptq|awq", p)
    if quantizer:
        if re.search(r"int8|8[- ]?bit|w8a16", p) and not re.search(r"int4|4[- ]?bit|w4a16", p):
            return "int8-wo"
        return "int4-awq" if quantizer.group(0) == "awq" else "int4-gptq"
    # framework dtypes: "fp8_e4m3", "bfloat16", "float16"
    for words, scheme in (
        (("fp8", "e4m3"), "fp8"),
        (("bfloat16",), "bf16"),
        (("float16", "half"), "fp16"),
    ):
        if any(w in p for w in words):
            return scheme
    return None


def kv_id(text: str, weights: str, engine: Engine | None) -> str:
    """The KV-cache dtype a row ran with.

    "auto" is vLLM's default: the model's activation dtype (16-bit even for FP8 or INT8
    checkpoints). An unstated KV on TensorRT-LLM with NVIDIA's FP8 or NVFP4 checkpoints is
    FP8 (their quantization config carries FP8 KV scales, and the TensorRT-LLM pages say
    FP8 quantization also sets the KV cache to FP8). Anything else unstated is 16-bit.
    """
    kv = text.strip().lower()
    known = catalog.load("kv_cache")
    first = re.split(r"[\s(]", kv, maxsplit=1)[0]
    if first in known:
        return first
    stated = re.search(r"default (\w+)", kv)
    if stated and stated.group(1) in known:
        return stated.group(1)
    if first == "auto":
        return "fp16"
    # framework spellings: "fp8_e4m3", "float8_e4m3fn", "KV: fp8", "bfloat16", "float16"
    if re.search(r"fp8|float8|e4m3", kv):
        return "fp8"
    for prefix, dtype in (("bfloat16", "bf16"), ("float16", "fp16")):
        if first.startswith(prefix):
            return dtype
    if weights in ("fp8", "nvfp4") and engine in (None, "tensorrt-llm"):
        return "fp8"
    return "fp16"


def engine_of(text: str) -> Engine | None:
    """The serving engine a row names, wherever the name stands ("TRT-LLM 1.0", "MLPerf
    submission (TensorRT-LLM)", "vLLM v0.6.3"). NVIDIA NIM's benchmarked profiles are
    TensorRT-LLM engines (its profile ids read tensorrt_llm-<gpu>-<precision>-tp<n>)."""
    t = text.strip().lower()
    words: dict[Engine, str] = {
        "tensorrt-llm": r"tensorrt|trt[- _]?llm",
        "sglang": r"sglang",
        "vllm": r"vllm",
    }
    # "NIM (vLLM backend)": the backend it names
    for engine, word in words.items():
        if re.search(rf"(?:{word})\S*\s+backend", t):
            return engine
    # otherwise the first engine the text names ("vLLM (compared to SGLang)")
    found = [(m.start(), e) for e, w in words.items() if (m := re.search(w, t))]
    if found:
        return min(found)[1]
    return "tensorrt-llm" if re.search(r"\bnim\b", t) else None


def vllm_version(text: str) -> str | None:
    """``v0`` for vLLM releases before 0.8.0 (where V1 became the default engine), or
    the engine a row names ("V1 engine")."""
    t = text.lower()
    if "vllm" not in t:
        return None
    # the engine a row names wins over its release's default ("0.9 (V0 engine)")
    named = re.search(r"\bv([01]) engine\b|vllm_use_v1\s*=\s*([01])", t)
    if named:
        return f"v{named.group(1) or named.group(2)}"
    m = re.search(r"vllm\s*(?:==|-|v)?\s*v?(\d+)\.(\d+)", t)
    if m is not None:
        return "v0" if (int(m.group(1)), int(m.group(2))) < (0, 8) else "v1"
    return None


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def number(text: str) -> float | None:
    """A number as sources print it ("12,345", "1.2e3", " 7 "), or None."""
    try:
        value = float(text.strip().replace(",", "").replace("_", ""))
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def count(text: str, prefix: str) -> int | None:
    """The leading count of a column ("8", "TP8", "tp=2 (PP2)", "2 (one node)"), or the
    count after ``prefix`` wherever it stands ("DP2 TP4")."""
    t = text.lower()
    if prefix and (m := re.search(rf"{prefix}\s*[=:]?\s*(\d+)", t)):
        return int(m.group(1))
    m = re.match(r"\s*(\d+)", t)
    return int(m.group(1)) if m else None


def gpu_count(text: str) -> int | None:
    """A GPU count: "8", "16 (2 nodes)", "2x8" (nodes x GPUs)."""
    m = re.match(r"\s*(\d+)\s*[x×*]\s*(\d+)", text.lower())
    return int(m.group(1)) * int(m.group(2)) if m else count(text, "")


def lengths(text: str) -> Lengths | None:
    """A length column: a number, "~N (+/-P%)", "sweep A to ~Bk" or a named dataset."""
    t = text.strip()
    n = _int(t)
    if n is not None:
        return Lengths(n, float(n)) if n > 0 else None
    m = re.fullmatch(r"~?\s*(\d+)\s*\(\+/-\s*(\d+)%\)", t)
    if m:
        mid, pct = int(m.group(1)), int(m.group(2))
        lo, hi = round(mid * (1 - pct / 100)), round(mid * (1 + pct / 100))
        return Lengths({"distribution": "uniform", "low": lo, "high": hi}, float(mid))
    m = re.fullmatch(r"sweep (\d+) to ~?(\d+)(k?)", t)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2)) * (1000 if m.group(3) else 1)
        return Lengths(lo, float(lo), sweep=(lo, hi))
    # a fixed length as tables print it: "1,024", "2k" (thousands, as "~125k" above),
    # "~1000", "ISL 1024", "1024 tokens (ignore_eos)"
    m = re.fullmatch(
        r"(?:isl|osl|input|output)?\s*[:=]?\s*~?\s*(\d+(?:\.\d+)?)\s*(k?)\s*(?:tokens?)?\s*(?:\(.*\))?",
        t.lower().replace(",", ""),
    )
    if m:
        n = round(float(m.group(1)) * (1000 if m.group(2) else 1))
        return Lengths(n, float(n)) if n > 0 else None
    return None


#: How sources word a load: offline (every request queued at once), a closed loop of N
#: clients, a request rate (the rate column, or the text's own number), a static batch.
_MAX_LOAD = re.compile(r"max[ _]load|offline|infinite rate")
_CLOSED = re.compile(
    r"(?:max[ _])?concurrency\s*[=:]?\s*(\d+)(?!\s*[-–]\s*\d)|c\s*=\s*(\d+)|(\d+) concurrent"
)
#: A request rate per second: "poisson", "request rate 4.5", "rate 25/s", "10 qps"; a
#: rate per minute or hour is not read as one per second.
_RATE = re.compile(
    r"(?:poisson|server|online|request rate|rate)\b[\s:=@(]*([\d.]+)?\s*"
    r"(?:qps|req(?:uests)?/s\b|/s\b|req(?:uests)?\s*per\s*s|\)|$)"
)
_PER_SECOND = re.compile(r"([\d.]+)\s*(?:qps|req(?:uests)?/s\b|requests per second)")
#: A latency limit a server run states: "TTFT p99 <= 2000 ms", "tpot < 0.2 s"; a bare
#: "=" or ":" counts only after "p99" (a "mean TTFT = 50 ms" is a result, not a limit).
_LIMIT = (
    r"{0}\s*p99\s*(?:<=|≤|<|=|:|under|below)\s*([\d.]+)\s*(ms|s)\b"
    r"|{0}(?:\s*p99)?\s*(?:<=|≤|<|under|below)\s*([\d.]+)\s*(ms|s)\b"
)


def latency_limits_s(text: str) -> tuple[float, float] | None:
    """(p99 TTFT, p99 TPOT) limits in seconds a server run states, or None."""
    found = []
    for name in ("ttft", "tpot"):
        m = re.search(_LIMIT.format(name), text.lower())
        if m is None:
            return None
        value, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        limit = number(value)
        if limit is None or limit <= 0:
            return None
        found.append(limit / _TIME_UNITS[unit])
    return found[0], found[1]


_BATCH = re.compile(r"(?:batch(?: size)?|bs)\s*[=:]?\s*(\d+)|interactive")


def load_shape(text: str, rate_text: str) -> tuple[Shape, int, float | None] | None:
    """(shape, batch or clients, rate) of a load column, or None if not understood."""
    load = text.strip().lower()
    rate = number(rate_text) if rate_text.strip() else None
    if rate_text.strip() and (rate is None or rate <= 0):
        return None
    found = _load_words(load, rate)
    # a batch, a loop or a rate of nothing is no load
    if found is None or (found[0] in ("static", "closed") and found[1] < 1):
        return None
    if found[2] is not None and found[2] <= 0:
        return None
    return found


def _load_words(load: str, rate: float | None) -> tuple[Shape, int, float | None] | None:
    if (batch := _int(load)) is not None:
        return "static", batch, rate
    if _MAX_LOAD.search(load):
        return "max_load", 0, rate
    if (m := _CLOSED.match(load)) is not None:
        # a loop capped by a rate as well (vLLM's --max-concurrency with --request-rate)
        # is not modelled
        return None if rate is not None else ("closed", int(next(g for g in m.groups() if g)), None)
    if re.search(r"\bserver\b", load) and rate is None:
        stated = _PER_SECOND.search(load)  # "server (8 qps)": a rate, not a search
        return ("poisson", 0, number(stated.group(1))) if stated else ("slo_max_rate", 0, None)
    if (m := _RATE.match(load)) is not None:
        rate = rate if rate is not None else number(m.group(1)) if m.group(1) else None
        return ("poisson", 0, rate) if rate else None
    if (m := _BATCH.fullmatch(load)) is not None:
        return "static", int(m.group(1) or 1), rate
    return None


#: A row that says its MoE model ran attention data-parallel (SGLang's
#: --enable-dp-attention, TensorRT-LLM's enable_attention_dp, "DP attention", "ADP").
_ATTENTION_DP = re.compile(r"attention[ _-]?dp|dp[ _-]?attention|\badp\b")
#: Words that turn a setting off where they stand next to it ("no ADP",
#: "enable_attention_dp: false", "attention DP off").
_OFF = re.compile(r"\b(?:no|not|without|disabled?|off|false)\b")


def stated_knobs(raw: dict[str, str]) -> dict[str, Any]:
    """Engine settings a row states in its own columns (the tp column or the notes)."""
    stated = f"{raw.get('tp', '')} {raw.get('notes', '')}".lower()
    for m in _ATTENTION_DP.finditer(stated):
        before = stated[max(m.start() - 12, 0) : m.start()]
        after = stated[m.end() : m.end() + 10]
        if not _OFF.search(before) and not _OFF.search(after):
            return {"attention_dp": True}
    return {}


#: Time units rows state, per second.
_TIME_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e3, "msec": 1e3}
_TIME_UNITS |= {"millisecond": 1e3, "milliseconds": 1e3, "us": 1e6, "µs": 1e6, "μs": 1e6}
_TIME_UNITS |= {"microseconds": 1e6}


def time_unit_per_s(unit: str, metric: str) -> float | None:
    """How many of a row's time unit make a second ("ms", "ms/token", "msec"; a blank
    unit reads the metric's suffix, "mean_ttft_ms"), or None for a unit that is not a
    time."""
    u = re.split(r"[\s/(]", unit.strip().lower(), maxsplit=1)[0]
    if not u:
        u = next((x for x in ("ms", "us", "s") if metric.lower().endswith(f"_{x}")), "")
    return _TIME_UNITS.get(u)
