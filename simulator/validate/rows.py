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
from simplan.validate.wording import (
    Engine,
    Lengths,
    Shape,
    count,
    engine_of,
    gpu_count,
    kv_id,
    latency_limits_s,
    lengths,
    load_shape,
    number,
    stated_knobs,
    vllm_version,
    weights_id,
)

#: The GPU memory the source's engine held, where a row's notes state it: LMDeploy's
#: mem(GB) is the peak memory used per GPU, in GiB (profile_generation.py's MemoryMonitor
#: divides NVML's bytes by 1 << 30; a 70B model at TP4 reads about 74, one GPU's share).
_ENGINE_MEMORY = re.compile(r"mem\(GB\)=([0-9.]+)")


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
    tp = count(raw["tp"], "tp") or 1
    # "tp" may state a pipeline as well ("4 (PP2)", "tp4 pp2"); GPUs beyond one
    # replica's tp x pp serve more replicas (data parallel), as MLPerf's 8-GPU systems do
    stated_pp = re.search(r"pp\s*[=:]?\s*(\d+)", raw["tp"].lower())
    pp = int(stated_pp.group(1)) if stated_pp else 1
    n_gpus = gpu_count(raw["n_gpus"]) or tp * pp
    if n_gpus < tp * pp:
        return f"n_gpus {raw['n_gpus']!r} is fewer than tp x pp = {tp * pp}"
    replicas = n_gpus // (tp * pp)
    inp = lengths(raw["input_len"]) or dataset_lengths(raw["input_len"], "input", model)
    if inp is not None and isinstance(inp.spec, dict) and "dataset" in inp.spec:
        # the dataset's answers, unless the row fixes the output length
        out: Lengths | None = lengths(raw["output_len"]) or dataset_lengths(
            raw["input_len"], "output", model
        )
    else:
        out = lengths(raw["output_len"])
    if out is None and source_id == "GPTFAST":
        out = Lengths(GPTFAST_DEFAULT_OUTPUT, float(GPTFAST_DEFAULT_OUTPUT))
    if inp is None or out is None:
        return "input or output length not stated"
    if raw.get("rate_per_s", "").strip() and not (number(raw["rate_per_s"]) or 0) > 0:
        return f"rate_per_s {raw['rate_per_s']!r} is not a positive number"
    load = load_shape(raw["batch_or_concurrency"], raw.get("rate_per_s", ""))
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
            for k, v in (SOURCE_ENGINE.get(harness_of(source_id), {}) | stated_knobs(raw)).items()
            if k != "attention_dp" or catalog.model(model).is_moe
        },
        num_requests=_num_requests(source_id, shape, inp, out, replicas, batch),
        replicas=replicas,
        latency_limits_s=limits,
        rounds=CLOSED_ROUNDS.get(source_id, 0) if shape == "static" else 0,
        engine_memory_gib=_engine_memory_gib(raw.get("notes", "")),
        first_token_from_decode=source_id in FIRST_TOKEN_FROM_DECODE,
        client_send_s=client_send_s(source_id),
        compute_efficiency_scale=compute_efficiency_scale(source_id),
        host_hidden=source_id in HOST_HIDDEN,
    )


def _engine_memory_gib(notes: str) -> float | None:
    m = _ENGINE_MEMORY.search(notes)
    return number(m.group(1)) if m else None


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
