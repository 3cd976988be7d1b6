"""Predict one published measurement the way its source measured it.

* Static batches (LMDeploy, TensorRT-LLM v0.9 gptSessionBenchmark and low-latency tables,
  gpt-fast, Qwen's speed tables) use :func:`simplan.kernels.static_batch`: throughput is
  generated tokens over the whole time including prefill, per GPU where the source says so.
  A source whose batch is really a closed loop of clients sending rounds (LMDeploy) runs
  that loop in the serving simulation: its clients send one request at a time, so the
  rounds fall out of step and the engine prefills the prompts in smaller groups than the
  whole batch, and when the clients' sequences do not all fit in the KV cache later
  requests wait (the static kernel has neither).
* Fitted inter-token-latency lines (vLLM's FP8-KV post: batch 1, context swept) fit a line
  to the modelled decode step time over the same context range.
* Max-load rows (all requests queued at t=0), Poisson-rate rows and closed-loop rows
  ("concurrency N") run the serving simulation with the source's engine and load.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from simplan import catalog
from simplan.calibration import preset_overheads
from simplan.engine_knobs import EngineKnobs, custom_allreduce_id
from simplan.errors import SimplanError
from simplan.fit import does_not_fit_reason
from simplan.kernels.batch import static_batch
from simplan.kernels.roofline import step_time_s
from simplan.metrics import request_table, summarize
from simplan.perf import replica_from_ids
from simplan.recorder import COMPLETED
from simplan.scenario import scenario_from_dict
from simplan.sim import simulate
from simplan.validate.names import THROUGHPUTS, latency_metric
from simplan.validate.rows import Row, Spec, read_spec
from simplan.validate.server import highest_rate_meeting
from simplan.validate.wording import number, time_unit_per_s

_STATIC_METRICS = {
    "output_throughput_total",
    "output_throughput_per_gpu",
    "ttft",
    "ttft_mean",
    "itl_p50",
    "itl_mean",
    "tpot_mean",
    "decode_tokens_per_s_per_request",
    "e2e_output_tokens_per_s_per_request",
    "e2e_total_tokens_per_s_per_request",
}
#: gpu_memory_utilization of closed-form rows whose source does not state its engine's memory.
STATIC_MEMORY_UTILIZATION = 0.95
#: Context lengths the fitted ITL line is sampled at (the source sweeps 256 to ~125k).
ITL_FIT_POINTS = 16

#: Simulated runs shared by the rows that report different metrics of the same run.
SimCache = dict[str, dict[str, Any]]


def predict_row(
    raw: dict[str, str], line: int, *, max_load: bool = True, cache: SimCache | None = None
) -> Row:
    """Predict one CSV row (or say why it is skipped)."""
    measured = number(raw["value"])
    row = Row(
        line,
        raw["source_id"],
        raw["model"],
        raw["gpu"],
        raw["metric"],
        float("nan") if measured is None else measured,
        raw["unit"],
    )
    if measured is None:
        row.skipped = f"value {raw['value']!r} is not a number"
        return row
    if latency_metric(row.metric) is not None and time_unit_per_s(row.unit, row.metric) is None:
        row.skipped = f"unit {row.unit!r} of a latency is not a time unit (s, ms, us)"
        return row
    if row.source_id == "AUTOGPTQ":
        row.skipped = "Hugging Face eager generate: a lower bound, not a serving engine"
        return row
    spec = read_spec(raw, row.source_id)
    if isinstance(spec, str):
        row.skipped = spec
        return row
    row.config = spec.describe(raw["batch_or_concurrency"])
    row.regime = spec.regime
    row.model_id, row.gpu_id, row.tp = spec.model, spec.gpu, spec.tp
    arch = catalog.model(spec.model)
    row.model_family = arch.family
    row.architecture = arch.kind
    row.gpu_family = catalog.gpu(spec.gpu).family
    row.engine = spec.preset
    cache = cache if cache is not None else {}
    if spec.shape in ("static", "itl_fit"):
        return _predict_static(row, spec, cache)
    if not max_load:
        row.skipped = "needs the serving simulation (--no-max-load)"
        return row
    return _predict_simulated(row, spec, cache)


def _finite_stat(stat: Any, values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(stat(finite)) if finite.size else float("nan")


def _scale(row: Row, seconds: float) -> float:
    return seconds * (time_unit_per_s(row.unit, row.metric) or 1.0)


def _memory_share(spec: Spec) -> float:
    """gpu_memory_utilization of a closed-form row: the share of the GPU its engine held
    where the source states it."""
    if spec.engine_memory_gib is None:
        return STATIC_MEMORY_UTILIZATION
    return min(spec.engine_memory_gib / catalog.gpu(spec.gpu).memory_gib, 1.0)


def _predict_static(row: Row, spec: Spec, cache: SimCache) -> Row:
    if spec.replicas > 1:
        row.skipped = "a static batch spread over replicas is not modelled"
        return row
    fitted = {"itl_slope_ms_per_context_token", "itl_intercept_ms"}
    known = row.metric in _STATIC_METRICS | fitted or THROUGHPUTS.get(row.metric) == "output"
    if not known and _batch_latency(row.metric) is None:
        row.skipped = f"metric {row.metric!r} not modelled"
        return row
    batch = spec.batch
    in_len = int(spec.input.mean)
    out_len = int(spec.output.mean)
    longest = spec.input.sweep[1] if spec.input.sweep else in_len
    # a harness that never waits for the GPU pays no host time per step
    hidden = {"iteration_overhead_s": 0.0, "sequence_overhead_s": 0.0} if spec.host_hidden else {}
    try:
        engine = EngineKnobs(
            gpu_memory_utilization=_memory_share(spec),
            max_num_batched_tokens=batch * longest,
            max_num_seqs=batch,
            # a named engine's fitted host costs and all-reduce kernel, as a scenario
            # with that engine gets them
            **(preset_overheads(spec.preset) if spec.preset else {}) | hidden,
            custom_allreduce=custom_allreduce_id(spec.engine),
            compute_efficiency_scale=spec.compute_efficiency_scale,
        )
        replica = replica_from_ids(
            spec.model, spec.gpu, spec.weights, spec.kv, spec.tp, spec.pp, engine
        )
    except SimplanError as exc:
        row.skipped = f"invalid configuration: {exc.summary}"
        return row
    reason = does_not_fit_reason(replica, longest, out_len)
    if reason is not None:
        row.skipped = f"does not fit in the model: {reason}"
        return row
    if spec.shape == "itl_fit":
        # The source fits ITL = intercept + slope * context over a batch-1 sweep.
        ctx = np.linspace(spec.input.sweep[0], longest, ITL_FIT_POINTS)
        itl_ms = [static_batch(replica.cfg, 1, int(c), out_len)[1] * 1e3 for c in ctx]
        slope, intercept = np.polyfit(ctx, itl_ms, 1)
        if row.metric == "itl_slope_ms_per_context_token":
            row.predicted = float(slope)
        elif row.metric == "itl_intercept_ms":
            row.predicted = float(intercept)
        else:
            row.skipped = f"metric {row.metric!r} not modelled for a context sweep"
        return row
    if spec.rounds and batch > 1:
        figures = _rounds_figures(row, spec, cache)
        if isinstance(figures, str):
            row.skipped = figures
            return row
    else:
        timing = _decode_first_batch if spec.first_token_from_decode else static_batch
        ttft, tpot, e2e = timing(replica.cfg, batch, in_len, out_len)
        figures = {
            "output_tokens_per_s": batch * out_len / e2e,
            "ttft_s": ttft,
            "tpot_p50_s": tpot,
            "tpot_mean_s": tpot,
            "e2e_s": e2e,
        }
    return _read_batch_metric(row, spec, figures)


def _decode_first_batch(
    cfg: np.ndarray, batch: int, input_tokens: int, output_tokens: int
) -> tuple[float, float, float]:
    """(ttft_s, tpot_s, e2e_s) of a static batch on an engine that prefills all but the
    last prompt token and takes that one in the first decode step, which yields the
    first token: ``output_tokens`` decode steps, the first over contexts of
    ``input_tokens``. A 1-token prompt has no prefill at all."""
    # one prompt token less and one output more: exactly that prefill and those steps
    shorter_s, _, e2e_s = static_batch(cfg, batch, input_tokens - 1, output_tokens + 1)
    decode_s = e2e_s - shorter_s
    prefill_s = shorter_s if input_tokens > 1 else 0.0
    first_step_s = step_time_s(cfg, 0.0, 0.0, 0.0, batch, batch * input_tokens)
    tpot_s = (decode_s - first_step_s) / (output_tokens - 1) if output_tokens > 1 else 0.0
    return prefill_s + first_step_s, tpot_s, prefill_s + decode_s


def _read_batch_metric(row: Row, spec: Spec, figures: dict[str, float]) -> Row:
    """The row's metric from a batch's figures: output tokens/s, mean TTFT, median and
    mean time per output token and mean request time (seconds)."""
    in_len, out_len = int(spec.input.mean), int(spec.output.mean)
    m = row.metric
    found = latency_metric(m)
    tpot = found is not None and found[0] == "tpot_s"
    between_tokens = tpot or m == "decode_tokens_per_s_per_request"
    if out_len <= 1 and between_tokens:
        row.skipped = "a one-token answer has no time between tokens"
        return row
    if m == "output_throughput_total" or THROUGHPUTS.get(m) == "output":
        row.predicted = figures["output_tokens_per_s"]
    elif m == "output_throughput_per_gpu":
        row.predicted = figures["output_tokens_per_s"] / spec.n_gpus
    elif m in ("ttft", "ttft_mean"):
        row.predicted = _scale(row, figures["ttft_s"])
    elif m == "itl_p50":
        # the median of per-request mean token gaps stands in for the median gap
        row.predicted = _scale(row, figures["tpot_p50_s"])
    elif m in ("itl_mean", "tpot_mean"):
        row.predicted = _scale(row, figures["tpot_mean_s"])
    elif m == "decode_tokens_per_s_per_request":
        row.predicted = 1.0 / figures["tpot_mean_s"]
    elif m == "e2e_output_tokens_per_s_per_request":
        row.predicted = out_len / figures["e2e_s"]
    elif m == "e2e_total_tokens_per_s_per_request":
        # Qwen's speed tables: (prompt + generated tokens) / request time, at batch 1.
        row.predicted = (in_len + out_len) / figures["e2e_s"]
    elif (key := _batch_latency(m)) is not None:
        row.predicted = _scale(row, figures[key])
    else:
        row.skipped = f"metric {m!r} not modelled for a static batch"
    return row


def _batch_latency(metric: str) -> str | None:
    """The batch figure a latency metric reads: a static batch's requests share one
    timeline, so its mean and median are the figures' (a tail is not modelled)."""
    found = latency_metric(metric)
    if found is None or found[1] not in ("mean", "p50"):
        return None
    column, stat = found
    if column == "tpot_s":
        return "tpot_p50_s" if stat == "p50" else "tpot_mean_s"
    return column


def _rounds_figures(row: Row, spec: Spec, cache: SimCache) -> dict[str, float] | str:
    """A static row whose batch is a closed loop of clients: simulate it (``spec.rounds``
    requests per client, sent one at a time ``spec.client_send_s`` apart from t = 0) and
    measure it as the source does, over every request and the whole run (or say why it
    cannot be read)."""
    in_len, out_len = int(spec.input.mean), int(spec.output.mean)
    doc = {
        "model": {"name": spec.model, "weights": spec.weights, "kv_cache": spec.kv},
        "hardware": {"gpu": spec.gpu, "tp": spec.tp, "pp": spec.pp, "replicas": 1},
        "engine": {
            "name": "vllm",
            "gpu_memory_utilization": _memory_share(spec),
            "max_num_seqs": spec.batch,
            # TurboMind v0.1 prefills the admitted prompts whole, before the next decode
            # step: at batch 16-32 of 2048-token prompts the published mean first-token
            # latency is 0.7-1.0x the whole batch's prefill, not the 0.5x that prompts
            # spread over steps would give. It has no prefix cache, and the benchmark's
            # prompts repeat one token, which a prefix cache would serve.
            "chunked_prefill": False,
            "max_num_batched_tokens": spec.batch * in_len,
            "enable_prefix_caching": False,
            # TurboMind v0.1 all-reduces with NCCL (FasterTransformer's NcclParam)
            "custom_all_reduce": False,
            # and runs the GEMM algorithms the benchmark scripts tuned
            "calibration": {"compute_efficiency_scale": spec.compute_efficiency_scale},
        },
        "workload": {
            "input_tokens": in_len,
            "output_tokens": out_len,
            "arrival": "closed",
            "concurrency": spec.batch,
            "num_requests": spec.batch * spec.rounds,
            "client_send_s": spec.client_send_s,
        },
    }
    key = "rounds " + repr(doc)
    if key not in cache:
        res = simulate(scenario_from_dict(doc, source=f"calibration row {row.line}"))
        done = res.requests.column("status") == COMPLETED
        missing = int((~done).sum())
        if missing:
            cache[key] = {"error": f"{missing} requests not completed in the closed loop"}
        else:
            table = request_table(res)
            out_tokens = float(res.requests.column("output_tokens").sum())
            cache[key] = {
                "output_tokens_per_s": out_tokens / res.end_s,
                "ttft_s": float(np.mean(table["ttft_s"])),
                # one-token answers have no TPOT: NaN, which _read_batch_metric skips
                "tpot_p50_s": _finite_stat(np.median, table["tpot_s"]),
                "tpot_mean_s": _finite_stat(np.mean, table["tpot_s"]),
                "e2e_s": float(np.mean(table["e2e_s"])),
            }
    run = cache[key]
    if "error" in run:
        return str(run["error"])
    if spec.first_token_from_decode and in_len > 1:
        # the first token comes one decode step after the prefill the simulation ends it
        # with (a 1-token prompt has no prefill: its one-token step is that decode step)
        return {**run, "ttft_s": run["ttft_s"] + run["tpot_mean_s"]}
    return run


def _engine_section(spec: Spec) -> dict[str, Any]:
    if spec.engine in (None, "tensorrt-llm"):
        # trtllm-bench: TensorRT-LLM's memory semantics (KV takes 0.90 of the memory free
        # after load) and GUARANTEED_NO_EVICT admission; batch 2048 / 8192 tokens.
        return {"name": "tensorrt-llm", **spec.engine_knobs}
    if spec.engine == "sglang":
        return {"name": "sglang", **spec.engine_knobs}
    version = {"version": spec.version} if spec.version else {}
    return {"name": "vllm", **version, **spec.engine_knobs}


def _at_highest_rate_meeting_limits(spec: Spec, cache: SimCache, line: int) -> dict[str, Any] | str:
    """A server run (MLPerf's Server scenario): the summary at the highest Poisson rate
    whose p99 TTFT and p99 TPOT meet the row's limits, or why there is none."""
    offline = _simulated(spec, _workload(spec) | {"arrival": "offline"}, cache, line)
    if "error" in offline:
        return str(offline["error"])
    assert spec.latency_limits_s is not None
    return highest_rate_meeting(
        lambda rate, slo: _simulated(spec, _workload(spec) | _poisson(rate), cache, line, slo),
        capacity_per_s=offline["requests_per_s"],
        ttft_p99_s=spec.latency_limits_s[0],
        tpot_p99_s=spec.latency_limits_s[1],
    )


def _poisson(rate_per_s: float) -> dict[str, Any]:
    return {"arrival": "poisson", "rate_per_s": rate_per_s}


def _workload(spec: Spec) -> dict[str, Any]:
    w: dict[str, Any] = {
        "input_tokens": spec.input.spec,
        "output_tokens": spec.output.spec,
        "num_requests": spec.num_requests,
    }
    if spec.shape in ("max_load", "slo_max_rate"):
        w["arrival"] = "offline"
    elif spec.shape == "poisson":
        w.update(arrival="poisson", rate_per_s=spec.rate_per_s)
    else:
        w.update(arrival="closed", concurrency=spec.batch)
    return w


def _simulated(
    spec: Spec,
    workload: dict[str, Any],
    cache: SimCache,
    line: int,
    slo: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The summary of the row's run under ``workload`` (simulated once per run; ``slo``
    its latency objectives), or ``{"error": reason}``."""
    doc: dict[str, Any] = {
        "model": {"name": spec.model, "weights": spec.weights, "kv_cache": spec.kv},
        "hardware": {"gpu": spec.gpu, "tp": spec.tp, "pp": spec.pp, "replicas": spec.replicas},
        "engine": _engine_section(spec),
        "workload": workload,
        # the source measured every request it sent, however long the queue grew
        "simulation": {"run_to_completion": True},
    }
    if slo:
        doc["slo"] = slo
    key = repr(doc)
    if key not in cache:
        try:
            scenario = scenario_from_dict(doc, source=f"calibration row {line}")
            res = simulate(scenario)
            tpot = request_table(res)["tpot_s"]
            cache[key] = summarize(res) | {
                "per_user_tokens_per_s": float(np.mean(1.0 / tpot[tpot > 0]))
                if (tpot > 0).any()
                else None
            }
        except SimplanError as exc:
            cache[key] = {"error": f"does not fit in the model: {exc}"}
    return cache[key]


def _predict_simulated(row: Row, spec: Spec, cache: SimCache) -> Row:
    latency = latency_metric(row.metric)
    rate = THROUGHPUTS.get(row.metric)
    if latency is None and rate is None:
        row.skipped = f"metric {row.metric!r} not modelled for a simulated run"
        return row
    if spec.shape == "slo_max_rate":
        found = _at_highest_rate_meeting_limits(spec, cache, row.line)
        if isinstance(found, str):
            row.skipped = found
            return row
        summary = found
    else:
        summary = _simulated(spec, _workload(spec), cache, row.line)
    if "error" in summary:
        row.skipped = summary["error"]
        return row
    if summary["requests_rejected"]:
        row.skipped = f"requests rejected: {summary['reject_reasons']}"
        return row
    if latency is not None:
        column, stat = latency
        value = summary[column][stat]
        if value is None:
            row.skipped = f"no completed request measures {row.metric!r}"
        else:
            row.predicted = _scale(row, value)
    elif rate == "requests":
        row.predicted = summary["requests_per_s"]
    elif rate == "total":
        row.predicted = summary["output_tokens_per_s"] + summary["input_tokens_per_s"]
    elif rate == "output":
        row.predicted = summary["output_tokens_per_s"]
    elif rate == "per_user":
        row.predicted = summary["per_user_tokens_per_s"]
        if row.predicted is None:
            row.skipped = "no completed request generated two tokens"
    else:  # per_gpu
        row.predicted = summary["output_tokens_per_s"] / spec.n_gpus
    return row
