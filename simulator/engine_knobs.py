"""The engine settings a replica's configuration vector is built with: the scenario's
``[engine]`` (memory semantics, batch limits, speculative decoding, attention data
parallelism), the host overheads fitted for its preset, and a deployment's own
calibration factors (``simplan calibrate``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from simplan.calibration import preset_overheads
from simplan.calibration_profile import factors_for
from simplan.prefix_model import PromptReuse, reuse_of
from simplan.speculative import SpecKnobs, knobs_from

if TYPE_CHECKING:
    from simplan.scenario import Scenario


@dataclass(frozen=True)
class EngineKnobs:
    """The engine settings the memory model needs (defaults match vLLM's)."""

    gpu_memory_utilization: float = 0.90
    max_num_batched_tokens: int = 8192
    max_num_seqs: int = 256
    block_size: int = 16
    # TensorRT-LLM: the KV cache takes this share of the memory left after the weights,
    # activations and fixed reserve (None: vLLM's gpu_memory_utilization of all memory).
    kv_cache_free_fraction: float | None = None
    # Deployment calibration (``simplan calibrate``): 1.0 / None keep the catalog's.
    compute_efficiency_scale: float = 1.0
    memory_efficiency_scale: float = 1.0
    iteration_overhead_s: float | None = None
    sequence_overhead_s: float | None = None
    speculative: SpecKnobs | None = None
    # attention data-parallel across the TP GPUs, experts expert-parallel
    attention_dp: bool = False
    # what the workload's prompts repeat, when the engine caches it (the fast path's hits)
    prompt_reuse: PromptReuse | None = None


def engine_knobs(sc: Scenario, gpu_id: str) -> EngineKnobs:
    """The engine knobs of a scenario's replicas on ``gpu_id``, with the calibration
    factors its ``[engine] calibration`` gives for that GPU."""
    eng = sc.engine
    f = factors_for(sc, gpu_id)
    host = preset_overheads(eng.preset)
    knobs = EngineKnobs(
        gpu_memory_utilization=eng.gpu_memory_utilization,
        max_num_batched_tokens=eng.max_num_batched_tokens,
        max_num_seqs=eng.max_num_seqs,
        block_size=eng.block_size,
        kv_cache_free_fraction=eng.kv_cache_free_gpu_mem_fraction,
        attention_dp=eng.attention_dp,
        speculative=knobs_from(eng.speculative),
        prompt_reuse=reuse_of(sc),
        iteration_overhead_s=host.get("iteration_overhead_s"),
        sequence_overhead_s=host.get("sequence_overhead_s"),
    )
    if f is None:
        return knobs
    # a deployment's own fit (simplan calibrate) wins over the engine preset's
    return replace(
        knobs,
        compute_efficiency_scale=f.compute_efficiency_scale or 1.0,
        memory_efficiency_scale=f.memory_efficiency_scale or 1.0,
        iteration_overhead_s=(
            knobs.iteration_overhead_s if f.iteration_overhead_s is None else f.iteration_overhead_s
        ),
        sequence_overhead_s=(
            knobs.sequence_overhead_s if f.sequence_overhead_s is None else f.sequence_overhead_s
        ),
    )
