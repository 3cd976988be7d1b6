"""Prefill/decode disaggregation: moving a prompt's KV cache from the replica that
computed it to the one that decodes it, and what such a fleet sustains.

A disaggregated fleet (``[hardware] role`` and its pools' roles) sends each new request
to a prefill replica. When its prompt is computed (the first token is sampled there), the
fleet picks a decode replica and the prompt's KV cache travels to it: every GPU of the
sending replica streams its share at once, over at most as many links as the smaller of
the two replicas has GPUs. The time is

    latency + KV bytes / (links x per-GPU link bandwidth)

with the KV of every layer and every KV head once (heads replicated under TP are not
sent twice; MLA's latent is one per token). The first token reaches the client when the
decode replica has the cache, so TTFT includes the transfer, as in vLLM's and SGLang's
disaggregated serving, whose decode instance streams every token. The link defaults to
the inter-node network (:data:`simplan.perf.INTER_NODE_GB_PER_S` per GPU);
``kv_transfer_gb_per_s`` sets another (NVLink when both replicas share a node).
"""

from __future__ import annotations

import math

from simplan.kernels import layout as c
from simplan.kernels.grid import max_rate
from simplan.kernels.ops import indexer_bytes_per_token_per_layer
from simplan.kernels.roofline import step_time_s
from simplan.perf import INTER_NODE_GB_PER_S, INTER_NODE_LATENCY_S, Replica
from simplan.units import GB


def kv_bytes_per_token(replica: Replica) -> float:
    """KV-cache bytes one token takes in the whole model (each KV head once)."""
    cfg = replica.cfg
    if cfg[c.MLA] > 0.0:
        per_layer = cfg[c.KV_LORA] + cfg[c.QK_ROPE]
    else:
        per_layer = 2.0 * cfg[c.KV_HEADS] * cfg[c.HEAD_DIM]
    # a sparse-attention model's indexer keys travel with the KV (FP8 whatever its dtype)
    indexer = indexer_bytes_per_token_per_layer(cfg)
    return float(cfg[c.LAYERS] * (per_layer * cfg[c.KV_BYTES] + indexer))


def transfer_s(
    src: Replica, dst: Replica, tokens: int, link_gb_per_s: float | None = None
) -> float:
    """Seconds to move ``tokens`` tokens of KV cache from replica ``src`` to ``dst``."""
    per_gpu = (link_gb_per_s if link_gb_per_s is not None else INTER_NODE_GB_PER_S) * GB
    links = min(src.num_gpus, dst.num_gpus)
    return INTER_NODE_LATENCY_S + tokens * kv_bytes_per_token(src) / (links * per_gpu)


def prefill_rate_per_s(replica: Replica, prompt_tokens: float) -> float:
    """Prompts per second a prefill replica computes when busy: iterations filled with
    whole prompts up to the token budget (and the sequence limit)."""
    cfg = replica.cfg
    i_len = max(prompt_tokens, 1.0)
    per_iteration = max(min(cfg[c.MAX_BATCHED_TOKENS] // i_len, cfg[c.MAX_NUM_SEQS]), 1.0)
    tokens = per_iteration * i_len
    step = step_time_s(cfg, tokens, tokens * (i_len + 1.0) / 2.0, per_iteration, 0.0, 0.0)
    return per_iteration / step if step > 0 and math.isfinite(step) else 0.0


def decode_rate_per_s(replica: Replica, prompt_tokens: float, output_tokens: float) -> float:
    """Requests per second a decode replica sustains: the colocated capacity with every
    prompt's KV arriving computed (all but its last token counted as reused, none held
    twice), so the batch limit still holds whole prompts."""
    cfg = replica.cfg.copy()
    cfg[c.PREFIX_HIT_TOKENS] = prompt_tokens  # capped at the prompt less one token
    cfg[c.PREFIX_HIT_SHARE] = 0.0
    cfg[c.PREFIX_POOL_TOKENS] = 0.0
    return float(max_rate(cfg, prompt_tokens, output_tokens))
