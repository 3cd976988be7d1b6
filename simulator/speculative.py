"""The drafter a scenario's ``[engine.speculative]`` puts into a replica: the kernel slots
of :mod:`simplan.kernels.speculative` (tokens drafted, acceptance, the drafter's kind,
weights and KV cache per GPU)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from simplan import catalog
from simplan.kernels import layout as c
from simplan.kernels import speculative as kspec
from simplan.kernels.ops import attention_params, kv_elems_per_token_per_layer
from simplan.scenario.speculative import SpeculativeSection

#: Bytes per weight of EAGLE heads and draft models: engines load them in 16-bit.
DRAFT_16BIT_BYTES = 2.0


@dataclass(frozen=True)
class SpecKnobs:
    """Speculative decoding as the performance model needs it."""

    method: str
    num_speculative_tokens: int
    acceptance_rate: float
    draft: catalog.ModelArch | None = None


def knobs_from(section: object) -> SpecKnobs | None:
    """The :class:`SpecKnobs` of an ``[engine.speculative]`` section (None when absent or
    with k = 0)."""
    if not isinstance(section, SpeculativeSection) or not section.active:
        return None
    draft = catalog.model(section.draft_model) if section.draft_model else None
    return SpecKnobs(section.method, section.num_speculative_tokens, section.acceptance_rate, draft)


def fill_cfg(cfg: np.ndarray, spec: SpecKnobs | None) -> None:
    """Set the speculative-decoding slots of ``cfg`` (its architecture, quantization and TP
    already set): all zero without speculation."""
    for slot in (
        c.SPEC_TOKENS,
        c.SPEC_ACCEPT,
        c.DRAFT_KIND,
        c.DRAFT_PARAMS_PER_GPU,
        c.DRAFT_W_BYTES,
        c.DRAFT_LAYERS,
        c.DRAFT_KV_ELEMS_PER_GPU,
    ):
        cfg[slot] = 0.0
    if spec is None:
        return
    cfg[c.SPEC_TOKENS] = spec.num_speculative_tokens
    cfg[c.SPEC_ACCEPT] = spec.acceptance_rate
    if spec.method == "ngram":
        return  # prompt lookup on the host: no drafter on the GPU
    tp = cfg[c.TP]
    h = cfg[c.HIDDEN]
    mats = 2.0 + cfg[c.GATED]
    if spec.method == "draft_model":
        d = spec.draft
        assert d is not None  # the schema requires it
        cfg[c.DRAFT_KIND] = kspec.DRAFT_MODEL
        cfg[c.DRAFT_PARAMS_PER_GPU] = d.total_params_b * 1e9 / tp
        cfg[c.DRAFT_W_BYTES] = DRAFT_16BIT_BYTES
        cfg[c.DRAFT_LAYERS] = d.num_layers
        if d.attention == "mla":
            per_layer = float(d.kv_lora_rank + d.qk_rope_head_dim)
        else:
            per_layer = 2.0 * max(d.num_kv_heads / tp, 1.0) * d.head_dim
        cfg[c.DRAFT_KV_ELEMS_PER_GPU] = d.num_layers * per_layer
        return
    # EAGLE heads and MTP modules: one decoder layer shaped like the target's
    attn = attention_params(cfg, cfg[c.HEADS] / tp, max(cfg[c.KV_HEADS] / tp, 1.0))
    moe = spec.method == "mtp" and cfg[c.EXPERTS] > 0.0
    if moe:
        ffn = (cfg[c.EXPERTS] + cfg[c.SHARED_EXPERTS]) * mats * h * cfg[
            c.EXPERT_INTERMEDIATE
        ] / tp + h * cfg[c.EXPERTS]
    else:
        ffn = mats * h * cfg[c.INTERMEDIATE] / tp
    cfg[c.DRAFT_KIND] = kspec.DRAFT_HEAD_MOE if moe else kspec.DRAFT_HEAD_DENSE
    cfg[c.DRAFT_PARAMS_PER_GPU] = attn + ffn
    # an MTP module ships in the checkpoint, quantized like the model; EAGLE heads are
    # separate 16-bit checkpoints
    cfg[c.DRAFT_W_BYTES] = cfg[c.W_BYTES] if spec.method == "mtp" else DRAFT_16BIT_BYTES
    cfg[c.DRAFT_LAYERS] = 1.0
    cfg[c.DRAFT_KV_ELEMS_PER_GPU] = kv_elems_per_token_per_layer(cfg)
