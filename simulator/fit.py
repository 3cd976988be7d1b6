"""Does a model fit a replica's memory, and if not, the nearest configuration that does.

Every command asks the same question with the same words: ``run`` and ``plan`` refuse a
fleet that cannot hold the model or one request, ``estimate`` and ``validate`` say why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from simplan import catalog
from simplan.engine_knobs import engine_knobs
from simplan.errors import InfeasibleError
from simplan.kernels import layout as c
from simplan.kernels import memory as kmem
from simplan.kernels.speculative import draft_weight_bytes_per_gpu
from simplan.perf import Replica, build_replica, valid_tp_degrees
from simplan.units import GIB

if TYPE_CHECKING:
    from simplan.scenario import Scenario


def moe_chunk_hint(cfg: np.ndarray, input_tokens: int, output_tokens: int) -> str:
    """A clause naming ``[engine] moe_max_num_tokens`` where taking the MoE in chunks of
    one rank's token budget would let the replica serve the request; else ""."""
    if cfg[c.ATT_DP] <= 0.0 or cfg[c.EXPERTS] <= 0.0 or cfg[c.MOE_MAX_TOKENS] > 0.0:
        return ""
    chunk = int(cfg[c.MAX_BATCHED_TOKENS])
    chunked = cfg.copy()
    chunked[c.MOE_MAX_TOKENS] = chunk
    if kmem.max_batch(chunked, float(input_tokens), float(output_tokens)) < 1:
        return ""
    freed_gib = (kmem.activation_reserve_bytes(cfg) - kmem.activation_reserve_bytes(chunked)) / GIB
    return (
        f"; the MoE takes all {cfg[c.TP]:.0f} ranks' tokens at once ({freed_gib:.1f} GiB per GPU "
        f"more than chunks of {chunk}): [engine] moe_max_num_tokens = {chunk} fits"
    )


def does_not_fit_reason(replica: Replica, input_tokens: int, output_tokens: int) -> str | None:
    """Why a replica cannot serve one request of these lengths, or None if it can."""
    reason = _does_not_fit(replica, input_tokens, output_tokens)
    if reason is None:
        return None
    return reason + moe_chunk_hint(replica.cfg, input_tokens, output_tokens)


def _does_not_fit(replica: Replica, input_tokens: int, output_tokens: int) -> str | None:
    mem = replica.memory(input_tokens, output_tokens)
    need = mem["weights_gib_per_gpu"] + mem["reserve_gib_per_gpu"]
    spec = replica.engine.speculative
    drafter = float(draft_weight_bytes_per_gpu(replica.cfg)) / GIB
    what = f"{replica.arch.id} ({replica.weights.id})"
    if spec is not None and drafter > 0:
        name = spec.draft.id if spec.draft is not None else f"its {spec.method} head"
        what += f" with the drafter {name} ({drafter:.1f} GiB per GPU of it)"
    if mem["kv_cache_capacity_tokens"] <= 0 and replica.engine.kv_cache_free_fraction is not None:
        return (
            f"{what} needs {need:.1f} GiB per GPU for weights "
            f"and activations, more than the {mem['memory_gib_per_gpu']:.1f} GiB of "
            f"{replica.gpu.id} on tp={replica.tp} x pp={replica.pp}: no memory is left for "
            "the KV cache"
        )
    if mem["kv_cache_capacity_tokens"] <= 0:
        return (
            f"{what} needs {need:.1f} GiB per GPU for weights "
            f"and activations, but {replica.gpu.id} at gpu_memory_utilization="
            f"{replica.engine.gpu_memory_utilization:g} offers {mem['budget_gib_per_gpu']:.1f} GiB "
            f"per GPU on tp={replica.tp} x pp={replica.pp}"
        )
    if mem["max_batch"] < 1:
        return (
            f"one sequence of {input_tokens + output_tokens} tokens needs more KV cache than the "
            f"{mem['kv_cache_capacity_tokens']:.0f} tokens left on {replica.gpu.id} "
            f"(tp={replica.tp}, pp={replica.pp})"
        )
    return None


def nearest_fit(replica: Replica, input_tokens: int, output_tokens: int) -> str | None:
    """The nearest configuration that fits: more GPUs (tp, then pp), or fewer weight bits."""
    arch = replica.arch
    candidates: list[tuple[int, str, Replica]] = []
    for tp in valid_tp_degrees(arch):
        for pp in (1, 2, 3, 4, 6, 8, 12, 16):
            if tp * pp < replica.num_gpus or pp > arch.num_layers:
                continue
            try:
                r = build_replica(
                    arch, replica.gpu, replica.weights, replica.kv_cache, tp, pp, replica.engine
                )
            except InfeasibleError:
                continue
            if does_not_fit_reason(r, input_tokens, output_tokens) is None:
                candidates.append((tp * pp, f"tp={tp} pp={pp} ({tp * pp} GPUs)", r))
                break
    by_bits = sorted(catalog.load("weights").values(), key=lambda w: -w.bits_per_weight)
    for w in by_bits:
        if w.bits_per_weight >= replica.weights.bits_per_weight:
            continue
        r = build_replica(
            arch, replica.gpu, w, replica.kv_cache, replica.tp, replica.pp, replica.engine
        )
        if does_not_fit_reason(r, input_tokens, output_tokens) is None:
            candidates.append((replica.num_gpus, f"weights = {w.id!r} on the same GPUs", r))
            break
    if not candidates:
        return None
    candidates.sort(key=lambda x: x[0])
    options = [text for _, text, _ in candidates[:2]]
    return "nearest that fits: " + "; or ".join(options)


def replica_cfg(sc: Scenario) -> tuple[np.ndarray, int]:
    """The configuration vector of a scenario's ``[hardware]`` replica and a reason code:
    0 fits, 1 does not fit in GPU memory, 2 invalid parallelism (a zero vector, never
    evaluated). Sweeps, plans and job plans screen candidates with it."""
    knobs = engine_knobs(sc, sc.hardware.gpu, sc.hardware.tp, sc.hardware.pp)
    try:
        replica = build_replica(
            sc.model.arch(),
            catalog.gpu(sc.hardware.gpu),
            catalog.weights(sc.model.weights),
            catalog.kv_cache(sc.model.kv_cache),
            sc.hardware.tp,
            sc.hardware.pp,
            knobs,
        )
    except InfeasibleError:
        cfg = c.empty()  # never evaluated: the group is infeasible (reason 2)
        return cfg, 2
    if does_not_fit_reason(replica, 1, 1) is not None:
        return replica.cfg, 1
    return replica.cfg, 0
