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
    FIRST_TOKEN_FROM_DECODE,
    GPTFAST_DEFAULT_OUTPUT,
    HOST_HIDDEN,
    SIM_REQUESTS,
    SOURCE_ENGINE,
    SOURCE_REQUESTS,
    TRTLLM_BENCH_REQUESTS,
    client_send_s,
    compute_efficiency_scale,
)

_MODEL_ALIASES = {
    "llama-7b": "llama-2-7b",
    "llama-4-scout-17b-16e": "llama-4-scout",
    "llama-4-maverick-17b-128e": "llama-4-maverick",
}
#: Datasets the CSVs name instead of lengths, and the catalog entry (datasets.toml)
#: holding the statistics the source states for them.
_DATASETS = {"sharegpt_standard_v1": "sharegpt-accelmark"}
#: The GPU memory the source's engine held, where a row's notes state it: LMDeploy's
#: mem(GB) is the peak memory used per GPU, in GiB (profile_generation.py's MemoryMonitor
#: divides NVML's bytes by 1 << 30; a 70B model at TP4 reads about 74, one GPU's share).
_ENGINE_MEMORY = re.compile(r"mem\(GB\)=([0-9.]+)")

Shape = Literal["static", "itl_fit", "max_load", "poisson", "closed"]
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
            f"{eng} b={raw_load} {show(self.input)}/{show(self.output)}"
        )


def model_id(name: str) -> str | None:
    base = re.sub(r"\(.*?\)", "", name).strip().lower().replace(" ", "-")
    base = base.removesuffix("-instruct").removesuffix("-hf")
    base = _MODEL_ALIASES.get(base, base)
    return base if base in catalog.load("model") else None


def gpu_id(name: str) -> str | None:
    found = _gpu_name(name.lower())
    return found if found in catalog.load("gpu") else None


def _gpu_name(n: str) -> str | None:
    # Superchips first: "gh200" contains "h200", "gb200" contains "b200".
    if "gb200" in n:
        return "gb200"
    if "gh200" in n:
        return "gh200-144gb" if "144" in n else "gh200-96gb"
    if "a100" in n:
        return "a100-sxm4-40gb" if "40g" in n else "a100-sxm4-80gb"
    if "h100" in n:
        return "h100-pcie" if "pcie" in n else "h100-sxm"
    if re.search(r"\bh20-3e\b|\bh20\b.*141", n):
        return "h20-3e"
    if re.search(r"\bh20\b", n):
        return "h20"
    if "h200" in n:
        return "h200"
    for gpu in ("b200", "l40s", "l4"):
        if re.search(rf"\b{gpu}\b", n):
            return gpu
    return None


def weights_id(text: str) -> str | None:
    """The weight scheme a source describes ("int4 weight-only W4A16 GPTQ (...)" -> int4-gptq)."""
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
    if "bf16 implied" in p:
        return "bf16"
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
    if weights in ("fp8", "nvfp4") and engine in (None, "tensorrt-llm"):
        return "fp8"
    return "fp16"


def engine_of(text: str) -> Engine | None:
    t = text.strip().lower()
    if t.startswith("trtllm") or t.startswith("tensorrt"):
        return "tensorrt-llm"
    if t.startswith("vllm"):
        return "vllm"
    if t.startswith("sglang"):
        return "sglang"
    return None


def vllm_version(text: str) -> str | None:
    """``v0`` for vLLM releases before 0.8.0 (where V1 became the default engine)."""
    m = re.match(r"\s*vllm\s+(\d+)\.(\d+)", text.lower())
    if m is None:
        return None
    return "v0" if (int(m.group(1)), int(m.group(2))) < (0, 8) else "v1"


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def lengths(text: str) -> Lengths | None:
    """A length column: a number, "~N (+/-P%)", "sweep A to ~Bk" or a named dataset."""
    t = text.strip()
    n = _int(t)
    if n is not None:
        return Lengths(n, float(n))
    m = re.fullmatch(r"~?\s*(\d+)\s*\(\+/-\s*(\d+)%\)", t)
    if m:
        mid, pct = int(m.group(1)), int(m.group(2))
        lo, hi = round(mid * (1 - pct / 100)), round(mid * (1 + pct / 100))
        return Lengths({"distribution": "uniform", "low": lo, "high": hi}, float(mid))
    m = re.fullmatch(r"sweep (\d+) to ~?(\d+)(k?)", t)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2)) * (1000 if m.group(3) else 1)
        return Lengths(lo, float(lo), sweep=(lo, hi))
    return None


def dataset_lengths(text: str, which: Literal["input", "output"]) -> Lengths | None:
    """Lengths of a dataset a row names (``input_len`` names it; ``output_len`` then
    describes the generation cap, which the catalog entry already holds)."""
    name = text.strip().split(" ", 1)[0]
    entry = _DATASETS.get(name)
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
    weights = weights_id(raw["precision_weights"])
    if weights is None:
        return f"weights {raw['precision_weights']!r} not in the catalog"
    engine = engine_of(raw.get("engine", ""))
    kv = kv_id(raw["precision_kv"], weights, engine)
    tp = _int(raw["tp"].split(" ", 1)[0]) or 1
    n_gpus = _int(raw["n_gpus"]) or tp
    inp = lengths(raw["input_len"]) or dataset_lengths(raw["input_len"], "input")
    if inp is not None and isinstance(inp.spec, dict) and "dataset" in inp.spec:
        out: Lengths | None = dataset_lengths(raw["input_len"], "output")
    else:
        out = lengths(raw["output_len"])
    if out is None and source_id == "GPTFAST":
        out = Lengths(GPTFAST_DEFAULT_OUTPUT, float(GPTFAST_DEFAULT_OUTPUT))
    if inp is None or out is None:
        return "input or output length not stated"
    load = raw["batch_or_concurrency"].strip().lower()
    batch = _int(load)
    rate = float(raw["rate_per_s"]) if raw.get("rate_per_s") else None
    shape: Shape
    if batch is not None:
        shape = "itl_fit" if inp.sweep else "static"
    elif load.startswith("max load"):
        shape, batch = "max_load", 0
    elif load == "poisson" and rate:
        shape, batch = "poisson", 0
    elif (m := re.fullmatch(r"concurrency (\d+)", load)) is not None:
        shape, batch = "closed", int(m.group(1))
    else:
        return f"load {raw['batch_or_concurrency']!r} not understood"
    return Spec(
        model,
        gpu,
        weights,
        kv,
        engine,
        vllm_version(raw.get("engine", "")),
        tp,
        max(n_gpus // tp, 1),
        n_gpus,
        shape,
        inp,
        out,
        batch=batch,
        rate_per_s=rate,
        engine_knobs={
            k: v
            for k, v in SOURCE_ENGINE.get(source_id, {}).items()
            if k != "attention_dp" or catalog.model(model).is_moe
        },
        num_requests=_num_requests(source_id, shape, inp, out),
        rounds=CLOSED_ROUNDS.get(source_id, 0) if shape == "static" else 0,
        engine_memory_gib=_engine_memory_gib(raw.get("notes", "")),
        first_token_from_decode=source_id in FIRST_TOKEN_FROM_DECODE,
        client_send_s=client_send_s(source_id),
        compute_efficiency_scale=compute_efficiency_scale(source_id),
        host_hidden=source_id in HOST_HIDDEN,
    )


def _engine_memory_gib(notes: str) -> float | None:
    m = _ENGINE_MEMORY.search(notes)
    return float(m.group(1)) if m else None


def _num_requests(source_id: str, shape: Shape, inp: Lengths, out: Lengths) -> int:
    """Requests to simulate: the source's own count where it states one (trtllm-bench's
    table for the nearest ISL/OSL: v0.20's 1024/2048 runs as 1000/2000)."""
    if shape == "max_load" and source_id.startswith("TRTLLM_"):
        isl, osl = inp.mean, out.mean
        nearest = min(
            TRTLLM_BENCH_REQUESTS, key=lambda k: abs(k[0] - isl) / k[0] + abs(k[1] - osl) / k[1]
        )
        return TRTLLM_BENCH_REQUESTS[nearest]
    return {**SIM_REQUESTS, **SOURCE_REQUESTS.get(source_id, {})}.get(shape, 0)
