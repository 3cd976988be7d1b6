"""The static-batch estimate behind `simplan estimate`."""

from __future__ import annotations

from typing import Any

from simplan.engine_knobs import EngineKnobs
from simplan.fit import does_not_fit_reason, nearest_fit
from simplan.kernels import layout as c
from simplan.kernels.batch import static_batch
from simplan.kernels.roofline import step_flops_and_bytes
from simplan.perf import Replica, replica_from_ids
from simplan.validated import uncalibrated_note


def bound_verdict(replica: Replica, batch: int, context_tokens: float) -> tuple[str, str]:
    """('compute-bound' | 'memory-bound', why) for a decode step of ``batch`` sequences."""
    cfg = replica.cfg
    flops, nbytes = step_flops_and_bytes(cfg, 0.0, 0.0, 0.0, float(batch), batch * context_tokens)
    intensity = flops / nbytes
    ridge = cfg[c.PEAK_GEMM_FLOP_PER_S] / cfg[c.BW_BYTES_PER_S]
    kind = "compute-bound" if intensity >= ridge else "memory-bound"
    why = (
        f"decode at batch {batch} does {intensity:.0f} FLOP per byte of weights and KV read; "
        f"{replica.gpu.id} balances at {ridge:.0f} FLOP/byte"
    )
    return kind, why


def estimate_static(
    *,
    model: str,
    gpu: str,
    tp: int = 1,
    pp: int = 1,
    weights: str = "fp16",
    kv_cache: str = "fp16",
    batch: int = 1,
    input_tokens: int = 512,
    output_tokens: int = 128,
    gpu_memory_utilization: float = 0.90,
) -> dict[str, Any]:
    """Model ``batch`` requests prefilled together, then decoded together.

    Returns
    -------
    dict
        ``fits``, ``reason``, ``weights_gib_per_gpu``, ``kv_cache_capacity_tokens``,
        ``max_batch``, ``ttft_s``, ``tpot_s``, ``e2e_s``, ``output_tokens_per_s``,
        ``decode_tokens_per_s_per_request``, ``bound``, ``bound_reason``, ``notes`` and the
        inputs. Times are None when the configuration does not fit.
    """
    engine = EngineKnobs(
        gpu_memory_utilization=gpu_memory_utilization,
        max_num_batched_tokens=max(batch * input_tokens, 1),
        max_num_seqs=batch,
    )
    replica = replica_from_ids(model, gpu, weights, kv_cache, tp, pp, engine)
    mem = replica.memory(input_tokens, output_tokens)
    out: dict[str, Any] = {
        "model": model,
        "gpu": gpu,
        "tp": tp,
        "pp": pp,
        "num_gpus": replica.num_gpus,
        "weights": weights,
        "kv_cache": kv_cache,
        "batch": batch,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "weights_gib_per_gpu": mem["weights_gib_per_gpu"],
        "reserve_gib_per_gpu": mem["reserve_gib_per_gpu"],
        "budget_gib_per_gpu": mem["budget_gib_per_gpu"],
        "kv_bytes_per_token_per_gpu": mem["kv_bytes_per_token_per_gpu"],
        "kv_cache_capacity_tokens": int(max(mem["kv_cache_capacity_tokens"], 0)),
        "max_batch": int(mem["max_batch"]),
        "notes": list(replica.notes),
    }
    # a static batch names no engine: only the GPU and model can be unchecked
    unchecked = uncalibrated_note([gpu], model)
    if unchecked:
        out["notes"].append(unchecked)
    reason = does_not_fit_reason(replica, input_tokens, output_tokens)
    if reason is None and batch > mem["max_batch"]:
        reason = (
            f"batch {batch} needs KV for {batch * (input_tokens + output_tokens)} tokens; "
            f"capacity is {int(mem['kv_cache_capacity_tokens'])} tokens "
            f"(max batch {int(mem['max_batch'])})"
        )
    if reason is not None:
        hint = nearest_fit(replica, input_tokens, output_tokens)
        out.update(fits=False, reason=reason + (f"; {hint}" if hint else ""))
        for key in (
            "ttft_s",
            "tpot_s",
            "e2e_s",
            "output_tokens_per_s",
            "decode_tokens_per_s_per_request",
            "bound",
            "bound_reason",
        ):
            out[key] = None
        return out
    ttft, tpot, e2e = static_batch(replica.cfg, batch, input_tokens, output_tokens)
    bound, why = bound_verdict(replica, batch, input_tokens + output_tokens / 2)
    out.update(
        fits=True,
        reason=None,
        ttft_s=ttft,
        tpot_s=tpot,
        e2e_s=e2e,
        output_tokens_per_s=batch * output_tokens / e2e,
        decode_tokens_per_s_per_request=(1.0 / tpot) if tpot > 0 else None,
        bound=bound,
        bound_reason=why,
    )
    return out
