"""What one published measurement says, in simplan's terms.

A row of a calibration CSV names its model, GPU, weights, KV cache, engine, lengths and
load in the source's own words ("fp8 (nvidia/Llama-3.3-70B-Instruct-FP8)", "H200 (141GB)",
"concurrency 8", "~20000 (+/-15%)"). :func:`read_spec` turns them into catalog ids and a
load shape, or says why the row cannot be expressed. Assumptions that are not in the row
(what "unspecified" means for a given engine) are stated here, each once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from simplan import catalog
from simplan.validate.harness import (
    CLOSED_ROUNDS,
    CLOSED_ROUNDS_UNSTATED,
    FIRST_TOKEN_FROM_DECODE,
    GPTFAST_DEFAULT_OUTPUT,
    HOST_HIDDEN,
    SIM_REQUESTS,
    SOURCE_ENGINE,
    SOURCE_REQUESTS,
    TRTLLM_BENCH_REQUESTS,
    client_send_s,
    compute_efficiency_scale,
    harness_of,
)
from simplan.validate.names import dataset_id, gpu_id, model_id

#: The GPU memory the source's engine held, where a row's notes state it: LMDeploy's
#: mem(GB) is the peak memory used per GPU, in GiB (profile_generation.py's MemoryMonitor
#: divides NVML's bytes by 1 << 30; a 70B model at TP4 reads about 74, one GPU's share).
_ENGINE_MEMORY = re.compile(r"mem\(GB\)=([0-9.]+)")

Shape = Literal["static", "itl_fit", "max_load", "poisson", "closed", "slo_max_rate"]
Engine = Literal["vllm", "tensorrt-llm", "sglang"]


@dataclass
class Row:
    """One published measurement and what simplan predicts for it."""

    line: int
    source_id: str
    model: str
    gpu: str
    metric: str
    measured: float
    unit: str
    predicted: float | None = None
    skipped: str | None = None
    config: str = ""
    #: grouping keys for the error tables ("" when the row is not expressed)
    model_family: str = ""
    gpu_family: str = ""
    engine: str = ""
    architecture: str = ""  # dense, moe or mla
    regime: str = ""  # single, batch or serving (simplan.validate.bands)
    model_id: str = ""  # the catalog ids the row was read as
    gpu_id: str = ""
    tp: int = 0  # GPUs per tensor-parallel group (0 when the row is not expressed)

    @property
    def rel_error(self) -> float | None:
        if self.predicted is None or self.measured == 0:
            return None
        return self.predicted / self.measured - 1.0


@dataclass(frozen=True)
class Lengths:
    """A length as a workload takes it (``spec``) and its mean for closed-form rows."""

    spec: int | dict[str, Any]
    mean: float
    sweep: tuple[int, int] | None = None


@dataclass
class Spec:
    """A row in catalog ids: what to build and how it was loaded."""

    model: str
    gpu: str
    weights: str
    kv: str
    engine: Engine | None
    version: str | None
    tp: int
    pp: int
    n_gpus: int
    shape: Shape
    input: Lengths
    output: Lengths
    batch: int = 1
    rate_per_s: float | None = None
    engine_knobs: dict[str, Any] = field(default_factory=dict)
    num_requests: int = 0
    #: copies of the tp x pp replica the row's GPUs hold (data parallel)
    replicas: int = 1
    #: a server run's p99 TTFT and p99 TPOT limits, seconds (shape slo_max_rate)
    latency_limits_s: tuple[float, float] | None = None
    #: requests each client of a static row's closed loop sends in turn (0: a true
    #: static batch) and the GPU memory its engine held, GiB per GPU (None: unstated)
    rounds: int = 0
    engine_memory_gib: float | None = None
    #: the engine's first token comes from a decode step over the batch, the last prompt
    #: token's (harness.FIRST_TOKEN_FROM_DECODE)
    first_token_from_decode: bool = False
    #: the load generator's host time per request sent, one at a time over its clients
    #: (harness.client_send_s)
    client_send_s: float = 0.0
    #: the compute efficiency the source's engine got over the catalog's
    #: (harness.compute_efficiency_scale)
    compute_efficiency_scale: float = 1.0
    #: the host's per-iteration work hides behind the GPU's (harness.HOST_HIDDEN)
    host_hidden: bool = False

    @property
    def regime(self) -> str:
        """``single`` (one request at a time), ``batch`` (a static batch) or ``serving``
        (max load, a request rate, a concurrency)."""
        if self.shape == "itl_fit" or (self.shape == "static" and self.batch == 1):
            return "single"
        return "batch" if self.shape == "static" else "serving"

    @property
    def preset(self) -> str:
        """The engine preset the row is predicted with, named as ``EngineSection.preset``
        names it (``vllm-v0``, ``tensorrt-llm``); max-load rows that name no engine ran
        trtllm-bench; "" for closed-form rows that name none."""
        if self.engine == "vllm":
            return f"vllm-{self.version or 'v1'}"
        if self.engine is None:
            return "tensorrt-llm" if self.shape == "max_load" else ""
        return self.engine

    def describe(self, raw_load: str) -> str:
        def show(ln: Lengths) -> str:
            if ln.sweep:
                return f"{ln.sweep[0]}..{ln.sweep[1]}"
            return str(ln.spec) if isinstance(ln.spec, int) else f"~{ln.mean:.0f}"

        eng = f" {self.engine}" if self.engine else ""
        eng += f"-{self.version}" if self.version else ""
        return (
            f"{self.model} {self.weights}/{self.kv} {self.gpu} tp={self.tp} pp={self.pp}"
            f"{f' x{self.replicas}' if self.replicas > 1 else ''}"
            f"{eng} b={raw_load} {show(self.input)}/{show(self.output)}"
        )


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
    # spellings of the framework dtypes and quantizer names ("fp8_e4m3", "bfloat16",
    # "AWQ"): AWQ and GPTQ checkpoints are 4-bit unless the row says otherwise
    if re.search(r"gptq|awq", p) and re.search(r"int8|8[- ]?bit", p):
        return "int8-wo"
    for words, scheme in (
        (("fp8", "e4m3"), "fp8"),
        (("bfloat16",), "bf16"),
        (("float16", "half"), "fp16"),
        (("awq",), "int4-awq"),
        (("gptq",), "int4-gptq"),
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
    # framework spellings: "fp8_e4m3", "bfloat16", "float16"
    for prefix, dtype in (("fp8", "fp8"), ("bfloat16", "bf16"), ("float16", "fp16")):
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
    if re.search(r"tensorrt|trt[- _]?llm|\bnim\b", t):
        return "tensorrt-llm"
    if "sglang" in t:
        return "sglang"
    if "vllm" in t:
        return "vllm"
    return None


def vllm_version(text: str) -> str | None:
    """``v0`` for vLLM releases before 0.8.0 (where V1 became the default engine), or
    the engine a row names ("V1 engine")."""
    t = text.lower()
    m = re.search(r"vllm\s*v?(\d+)\.(\d+)", t)
    if m is not None:
        return "v0" if (int(m.group(1)), int(m.group(2))) < (0, 8) else "v1"
    named = re.search(r"\bv([01]) engine\b", t)
    return f"v{named.group(1)}" if named and "vllm" in t else None


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


def _count(text: str, prefix: str) -> int | None:
    """The leading count of a column ("8", "TP8", "tp=2 (PP2)", "2 (one node)")."""
    m = re.match(rf"\s*(?:{prefix}\s*[=:]?\s*)?(\d+)", text.lower())
    return int(m.group(1)) if m else None


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


def dataset_lengths(
    text: str, which: Literal["input", "output"], model: str = ""
) -> Lengths | None:
    """Lengths of a dataset a row names (``input_len`` names it; ``output_len`` then
    describes the generation cap, which the catalog entry already holds)."""
    entry = dataset_id(text, model)
    if entry is None:
        return None
    spec = {"dataset": entry}
    stats = getattr(catalog.dataset(entry), f"{which}_tokens")
    return Lengths(spec, float(stats.mean))


def read_spec(raw: dict[str, str], source_id: str) -> Spec | str:
    """The row in catalog ids, or the reason it cannot be expressed."""
    model = model_id(raw["model"])
    if model is None:
        return f"model {raw['model']!r} not in the catalog"
    gpu = gpu_id(raw["gpu"])
    if gpu is None:
        return f"GPU {raw['gpu']!r} not in the catalog"
    weights = weights_id(raw["precision_weights"], gpu)
    if weights is None:
        return f"weights {raw['precision_weights']!r} not in the catalog"
    engine = engine_of(raw.get("engine", ""))
    kv = kv_id(raw["precision_kv"], weights, engine)
    tp = _count(raw["tp"], "tp") or 1
    # "tp" may state a pipeline as well ("4 (PP2)", "tp4 pp2"); GPUs beyond one
    # replica's tp x pp serve more replicas (data parallel), as MLPerf's 8-GPU systems do
    stated_pp = re.search(r"\bpp\s*=?\s*(\d+)", raw["tp"].lower())
    pp = int(stated_pp.group(1)) if stated_pp else 1
    n_gpus = _count(raw["n_gpus"], "") or tp * pp
    inp = lengths(raw["input_len"]) or dataset_lengths(raw["input_len"], "input", model)
    if inp is not None and isinstance(inp.spec, dict) and "dataset" in inp.spec:
        out: Lengths | None = dataset_lengths(raw["input_len"], "output", model)
    else:
        out = lengths(raw["output_len"])
    if out is None and source_id == "GPTFAST":
        out = Lengths(GPTFAST_DEFAULT_OUTPUT, float(GPTFAST_DEFAULT_OUTPUT))
    if inp is None or out is None:
        return "input or output length not stated"
    if raw.get("rate_per_s", "").strip() and not (number(raw["rate_per_s"]) or 0) > 0:
        return f"rate_per_s {raw['rate_per_s']!r} is not a positive number"
    load = _load(raw["batch_or_concurrency"], raw.get("rate_per_s", ""))
    if load is None:
        return f"load {raw['batch_or_concurrency']!r} not understood"
    shape, batch, rate = load
    limits = None
    if shape == "slo_max_rate":
        limits = latency_limits_s(f"{raw['batch_or_concurrency']} {raw.get('notes', '')}")
        if limits is None:
            return "a server run needs its limits stated: 'TTFT p99 <= X ms, TPOT p99 <= Y ms'"
    if shape == "static" and inp.sweep:
        shape = "itl_fit"
    elif shape == "static" and isinstance(inp.spec, dict):
        # lengths drawn from a dataset cannot form one static batch: the source's
        # clients send them one after another (AccelMark's "interactive" runs, batch 1)
        shape = "closed"
    return Spec(
        model,
        gpu,
        weights,
        kv,
        engine,
        vllm_version(raw.get("engine", "")),
        tp,
        pp,
        n_gpus,
        shape,
        inp,
        out,
        batch=batch,
        rate_per_s=rate,
        engine_knobs={
            k: v
            for k, v in (SOURCE_ENGINE.get(harness_of(source_id), {}) | _stated_knobs(raw)).items()
            if k != "attention_dp" or catalog.model(model).is_moe
        },
        num_requests=_num_requests(source_id, shape, inp, out, max(n_gpus // (tp * pp), 1), batch),
        replicas=max(n_gpus // (tp * pp), 1),
        latency_limits_s=limits,
        rounds=CLOSED_ROUNDS.get(source_id, 0) if shape == "static" else 0,
        engine_memory_gib=_engine_memory_gib(raw.get("notes", "")),
        first_token_from_decode=source_id in FIRST_TOKEN_FROM_DECODE,
        client_send_s=client_send_s(source_id),
        compute_efficiency_scale=compute_efficiency_scale(source_id),
        host_hidden=source_id in HOST_HIDDEN,
    )


#: How sources word a load: offline (every request queued at once), a closed loop of N
#: clients, a request rate (the rate column, or the text's own number), a static batch.
_MAX_LOAD = re.compile(r"max[ _]load|offline|infinite rate")
_CLOSED = re.compile(r"(?:max[ _])?concurrency\s*[=:]?\s*(\d+)|c\s*=\s*(\d+)|(\d+) concurrent")
_RATE = re.compile(
    r"(?:poisson|server|online|request rate|rate)\b[\s:=@(]*([\d.]+)?\s*(?:qps|req|/s|\)|$)"
)
#: A latency limit a server run states: "TTFT p99 <= 2000 ms", "tpot < 0.2 s".
_LIMIT = r"{}(?:\s*p99)?\s*(?:<=|≤|<|=|:|under|below)\s*([\d.]+)\s*(ms|s)\b"


def latency_limits_s(text: str) -> tuple[float, float] | None:
    """(p99 TTFT, p99 TPOT) limits in seconds a server run states, or None."""
    found = []
    for name in ("ttft", "tpot"):
        m = re.search(_LIMIT.format(name), text.lower())
        if m is None:
            return None
        found.append(float(m.group(1)) * (1e-3 if m.group(2) == "ms" else 1.0))
    return found[0], found[1]


_BATCH = re.compile(r"(?:batch(?: size)?|bs)\s*[=:]?\s*(\d+)|interactive")


def _load(text: str, rate_text: str) -> tuple[Shape, int, float | None] | None:
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
        return "closed", int(next(g for g in m.groups() if g)), rate
    if re.search(r"\bserver\b", load) and rate is None:
        return "slo_max_rate", 0, None
    if (m := _RATE.match(load)) is not None:
        rate = rate if rate is not None else float(m.group(1)) if m.group(1) else None
        return ("poisson", 0, rate) if rate else None
    if (m := _BATCH.fullmatch(load)) is not None:
        return "static", int(m.group(1) or 1), rate
    return None


#: A row that says its MoE model ran attention data-parallel (SGLang's
#: --enable-dp-attention, TensorRT-LLM's enable_attention_dp, "DP attention", "ADP").
_ATTENTION_DP = re.compile(r"attention[ _-]?dp|dp[ _-]?attention|\badp\b")


def _stated_knobs(raw: dict[str, str]) -> dict[str, Any]:
    """Engine settings a row states in its own columns (the tp column or the notes)."""
    stated = f"{raw.get('tp', '')} {raw.get('notes', '')}".lower()
    return {"attention_dp": True} if _ATTENTION_DP.search(stated) else {}


def _engine_memory_gib(notes: str) -> float | None:
    m = _ENGINE_MEMORY.search(notes)
    return float(m.group(1)) if m else None


def _num_requests(
    source_id: str, shape: Shape, inp: Lengths, out: Lengths, replicas: int, clients: int
) -> int:
    """Requests to simulate: the source's own count where it states one (trtllm-bench's
    table for the nearest ISL/OSL: v0.20's 1024/2048 runs as 1000/2000), else simplan's
    count for each replica, and for a closed loop at least CLOSED_ROUNDS_UNSTATED
    requests per client."""
    if shape == "max_load" and source_id.startswith("TRTLLM_"):
        isl, osl = inp.mean, out.mean
        nearest = min(
            TRTLLM_BENCH_REQUESTS, key=lambda k: abs(k[0] - isl) / k[0] + abs(k[1] - osl) / k[1]
        )
        return TRTLLM_BENCH_REQUESTS[nearest]
    stated = SOURCE_REQUESTS.get(harness_of(source_id), {})
    if shape in stated:
        return stated[shape]
    least = clients * CLOSED_ROUNDS_UNSTATED if shape == "closed" else 0
    # a server run's trial rates are Poisson runs
    return max(
        SIM_REQUESTS.get("poisson" if shape == "slo_max_rate" else shape, 0) * replicas, least
    )
