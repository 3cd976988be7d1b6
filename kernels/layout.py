"""Layout of the configuration vector that kernels take instead of objects.

A *configuration* is one replica: a model architecture, a quantization, a GPU, its
efficiency factors, the parallel degrees and the engine's memory knobs, flattened into a
float64 vector of length :data:`NCFG`. The simulator builds it
(:func:`simplan.perf.build_replica`); kernels index it by the constants this module
defines, one per entry of :data:`FIELDS` (``cfg[LAYERS]``), so the slots, their number
and their units are declared once, here. Many configurations stack into an
``(n, NCFG)`` array for vectorized sweeps.

A vector starts from :func:`empty` (every slot NaN) and :func:`check_complete` refuses one
with a slot left unset: a forgotten field shows up at once instead of as a silent 0 (and
an infinite time after a division by it).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Field(NamedTuple):
    """One slot of the configuration vector."""

    name: str
    unit: str
    doc: str


FIELDS: tuple[Field, ...] = (
    # model architecture
    Field("LAYERS", "1", "transformer layers"),
    Field("HIDDEN", "1", "hidden size"),
    Field("HEADS", "1", "attention heads"),
    Field("KV_HEADS", "1", "KV heads"),
    Field("HEAD_DIM", "1", "head dimension"),
    Field("INTERMEDIATE", "1", "dense MLP intermediate size"),
    Field("VOCAB", "1", "vocabulary size"),
    Field("GATED", "0/1", "1 for a gated MLP (SwiGLU, 3 matrices), 0 for 2 matrices"),
    Field("EXPERTS", "1", "routed experts (0: dense)"),
    Field("EXPERTS_PER_TOKEN", "1", "routed experts each token uses"),
    Field("EXPERT_INTERMEDIATE", "1", "routed-expert intermediate size"),
    Field("SHARED_EXPERTS", "1", "shared experts"),
    Field("DENSE_LAYERS", "1", "dense (non-MoE) layers of an MoE model, leading or interleaved"),
    Field("MLA", "0/1", "1 for multi-head latent attention"),
    Field("KV_LORA", "1", "MLA compressed KV rank"),
    Field("Q_LORA", "1", "MLA query rank (0: no query compression)"),
    Field("QK_NOPE", "1", "MLA non-rotary query/key head dimension"),
    Field("QK_ROPE", "1", "MLA rotary query/key head dimension"),
    Field("V_HD", "1", "MLA value head dimension"),
    Field("TIE", "0/1", "1 for tied input and output embeddings"),
    # quantization
    Field("W_BYTES", "bytes", "per weight of the linear layers, scales included"),
    Field("A_BYTES", "bytes", "per activation element (fp16/bf16: 2)"),
    Field("KV_BYTES", "bytes", "per KV-cache element"),
    Field("PEAK_GEMM_FLOP_PER_S", "FLOP/s", "tensor-core peak of the dtype GEMMs run at"),
    Field(
        "DEQUANT",
        "1",
        "extra compute fraction: weight-only dequantization or a block-scaled format's "
        "measured shortfall",
    ),
    # GPU
    Field("BW_BYTES_PER_S", "bytes/s", "HBM bandwidth"),
    Field("MEM_BYTES", "bytes", "device memory"),
    Field("PEAK_FP16_FLOP_PER_S", "FLOP/s", "fp16 tensor-core peak (attention runs here)"),
    # parallelism
    Field("TP", "1", "tensor-parallel degree"),
    Field("PP", "1", "pipeline-parallel degree"),
    # efficiency factors (fitted; see simplan/catalog/efficiency.toml)
    Field("ETA_C", "1", "GEMM compute efficiency at large M"),
    Field("M_HALF_TOKENS", "tokens", "M at half the GEMM compute efficiency (quantized layers)"),
    Field("ETA_M", "1", "GEMM memory efficiency"),
    Field("T0_GEMM_S", "s", "fixed time per GEMM"),
    Field("ETA_ELEM", "1", "elementwise memory efficiency"),
    Field("T0_ELEM_S", "s", "fixed time per elementwise kernel"),
    Field("ETA_ATT_DEC", "1", "decode attention memory efficiency"),
    Field("ETA_ATT_PRE", "1", "attention compute efficiency at long context"),
    Field("T0_ATT_S", "s", "fixed time per attention kernel"),
    Field("AR_ALPHA_S", "s", "all-reduce latency"),
    Field("AR_BW_BYTES_PER_S", "bytes/s", "all-reduce bus bandwidth"),
    # the engine's own single-node all-reduce kernel (0: none, NCCL's ring only)
    Field("CAR_ALPHA_S", "s", "custom all-reduce latency"),
    Field("CAR_S_PER_BYTE", "s/byte", "custom all-reduce time per message byte"),
    Field("T_ITER_S", "s", "fixed overhead per iteration (scheduler, sampling, launches)"),
    Field("P2P_BW_BYTES_PER_S", "bytes/s", "pipeline-stage send bandwidth"),
    Field("P2P_ALPHA_S", "s", "pipeline-stage send latency"),
    # engine memory knobs
    Field("MEM_UTIL", "1", "gpu_memory_utilization"),
    Field("MAX_BATCHED_TOKENS", "tokens", "max_num_batched_tokens"),
    Field("MAX_NUM_SEQS", "1", "max_num_seqs"),
    Field("RESERVE_FIXED_BYTES", "bytes", "per GPU outside weights, activations and KV"),
    Field("BLOCK_TOKENS", "tokens", "KV block size"),
    # M_HALF_TOKENS is for the quantized linear layers (smaller for weight-only kernels
    # with 16-row tiles); this one is for 16-bit cuBLAS-style GEMMs (LM head, router)
    Field("M_HALF_16_TOKENS", "tokens", "M at half the compute efficiency of 16-bit GEMMs"),
    # host work that grows with the batch (scheduling, sampling, output processing)
    Field("T_SEQ_S", "s", "overhead per sequence in an iteration"),
    # speculative decoding (simplan.kernels.speculative); SPEC_TOKENS = 0 turns it off
    Field("SPEC_TOKENS", "tokens", "tokens drafted per sequence and iteration (k)"),
    Field("SPEC_ACCEPT", "1", "probability a drafted token is accepted after its parent"),
    Field(
        "DRAFT_KIND",
        "0-3",
        "drafter: 0 none (n-gram), 1 dense head layer, 2 MoE head "
        "layer (MTP), 3 separate draft model",
    ),
    Field("DRAFT_PARAMS_PER_GPU", "1", "draft-model parameters each GPU holds (kind 3)"),
    Field("DRAFT_W_BYTES", "bytes", "per draft weight"),
    Field("DRAFT_LAYERS", "1", "layers of the drafter"),
    Field("DRAFT_KV_ELEMS_PER_GPU", "1", "drafter KV elements per token on one GPU"),
    # prefix caching as the steady-state model sees it (simplan.prefix_model): what the
    # workload's shared prefixes save each request and pin in the cache (0: nothing)
    Field("PREFIX_HIT_TOKENS", "tokens", "prompt tokens each request reuses from the cache"),
    Field("PREFIX_POOL_TOKENS", "tokens", "KV tokens the cached shared prefixes hold"),
    Field("PREFIX_HIT_SHARE", "1", "share of the rest of a prompt reused (sessions' history)"),
    # sliding-window or chunked attention (gpt-oss, Mistral v0.1, Llama 4): these layers
    # attend to, and keep the KV of, at most the last SWA_WINDOW_TOKENS tokens
    Field("SWA_LAYERS", "1", "layers with windowed attention (0: all attend to everything)"),
    Field("SWA_WINDOW_TOKENS", "tokens", "their window"),
    # attention data-parallel across the TP GPUs (each runs all heads for its own
    # requests and keeps their KV) with the experts expert-parallel: 1 on, 0 off
    Field("ATT_DP", "0/1", "attention data-parallel, experts expert-parallel"),
    # prefill attention's efficiency grows with the context a query attends to:
    # ETA_ATT_PRE * L / (L + ATT_L_HALF_TOKENS), L = prefill pairs per prefill token
    Field("ATT_L_HALF_TOKENS", "tokens", "mean context at half the prefill attention efficiency"),
    # routed experts run as grouped GEMMs over many narrow matrices plus routing kernels
    # (top-k, permute, combine) that a dense layer does not have (fitted: calibration.toml):
    # a grouped GEMM reaches w / (w + MOE_HALF_WIDTH) of the dense compute efficiency,
    # w = the expert's intermediate width on one GPU
    Field("MOE_HALF_WIDTH", "features", "expert width on one GPU at half the GEMM efficiency"),
    Field("T0_MOE_S", "s", "fixed time per MoE layer for routing, permute and combine"),
    # vLLM V0's async output processing hands a step's tokens to the client while the
    # next step runs: the first token arrives one iteration after its prefill
    Field("OUTPUT_LAG", "0/1", "first token delivered one iteration late"),
    # DeepSeek sparse attention (V3.2): a lightning indexer scores every cached key with
    # INDEXER_HEADS small FP8 heads and each query attends to the DSA_TOPK_TOKENS best
    Field("DSA_TOPK_TOKENS", "tokens", "keys each query attends to (0: dense attention)"),
    Field("INDEXER_HEADS", "1", "indexer heads per query token"),
    Field("INDEXER_HEAD_DIM", "1", "indexer head dimension (one shared FP8 key per token)"),
    # an expert-parallel replica wider than one node (attention DP): collectives cross the
    # node's network for the GPUs beyond NODE_GPUS
    Field("NODE_GPUS", "1", "GPUs of the TP/EP group that share one NVLink domain"),
    Field("INTER_BW_BYTES_PER_S", "B/s", "network bandwidth per GPU between nodes"),
    Field("INTER_ALPHA_S", "s", "network latency per collective between nodes"),
    # with attention DP, TensorRT-LLM and vLLM keep the dense MLPs, shared experts and the
    # embedding/LM head whole on every GPU (each runs them for its own tokens); SGLang
    # keeps them tensor-parallel over the group by default
    Field("ADP_WHOLE_DENSE", "0/1", "attention DP keeps dense MLPs and vocab tables whole"),
    # an MoE call takes at most this many tokens, more in chunks (TensorRT-LLM's
    # moe_max_num_tokens): it bounds the MoE working set the activation reserve holds
    Field("MOE_MAX_TOKENS", "tokens", "most tokens one MoE call takes (0: all of the step's)"),
)

#: Slot of each field, by name.
INDEX: dict[str, int] = {f.name: i for i, f in enumerate(FIELDS)}
#: Length of a configuration vector.
NCFG = len(FIELDS)

# One module constant per field (``layout.LAYERS == 0``): numba reads them as compile-time
# integers.
globals().update(INDEX)


def __getattr__(name: str) -> int:  # pragma: no cover - for type checkers only
    raise AttributeError(f"no configuration field {name!r} (fields: {', '.join(INDEX)})")


def empty() -> np.ndarray:
    """A configuration vector with every slot unset (NaN)."""
    return np.full(NCFG, np.nan)


def check_complete(cfg: np.ndarray) -> np.ndarray:
    """Return ``cfg`` if every slot is set; raise naming the unset fields otherwise."""
    unset = [FIELDS[i].name for i in np.flatnonzero(np.isnan(cfg))]
    if unset:
        raise ValueError(f"configuration vector has unset fields: {', '.join(unset)}")
    return cfg
