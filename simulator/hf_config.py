"""A model's architecture from its Hugging Face ``config.json`` (``[model] config = ...``).

Reads the keys the common decoder families use:

- Llama, Mistral, Qwen2 and Qwen3 (dense);
- Mixtral, Qwen2-MoE, Qwen3-MoE and gpt-oss (mixture of experts);
- DeepSeek-V2/V3 and Kimi K2 (MLA attention, shared experts, leading dense layers);
- wrappers that nest the language model under ``text_config`` (Llama 4 and the
  multimodal models).

Each key becomes a field of :class:`simplan.catalog.ModelArch`. The parameter counts,
which config files do not state, are computed from the shapes. An architecture simplan
cannot represent is refused, naming the key: for example, alternating dense and MoE
layers in a pattern other than "the first k dense, then every n-th MoE" (``mlp_only_layers``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simplan.errors import Problem, ScenarioError
from simplan.named_files import read_named_file

#: Families whose MLP is one up and one down projection (no gate): the rest use a gated
#: (SwiGLU / GeGLU) MLP of three matrices.
_UNGATED = {"gpt2", "gptj", "gpt_neox", "opt", "bloom", "falcon"}


def _int(cfg: dict[str, Any], *keys: str, default: int | None = None) -> int | None:
    for k in keys:
        v = cfg.get(k)
        if isinstance(v, bool):
            continue
        if isinstance(v, int) and v >= 0:
            return v
    return default


def parameter_counts(a: dict[str, Any]) -> tuple[float, float]:
    """(total, active) parameters in billions for architecture fields ``a``: embeddings
    (and an untied LM head), attention, the dense or expert MLPs and the router. Norms
    and biases are left out (well under 0.1% of any of these models)."""
    h, layers = a["hidden_size"], a["num_layers"]
    if a["attention"] == "mla":
        q_in = a["q_lora_rank"] or h
        qk = a["qk_nope_head_dim"] + a["qk_rope_head_dim"]
        heads = a["num_attention_heads"]
        attn = (
            (h * a["q_lora_rank"] if a["q_lora_rank"] else 0)
            + q_in * heads * qk
            + h * (a["kv_lora_rank"] + a["qk_rope_head_dim"])
            + a["kv_lora_rank"] * heads * (a["qk_nope_head_dim"] + a["v_head_dim"])
            + heads * a["v_head_dim"] * h
        )
    else:
        d = a["head_dim"]
        attn = h * d * (2 * a["num_attention_heads"] + 2 * a["num_kv_heads"])
    mats = 3 if a["gated_mlp"] else 2
    dense_mlp = mats * h * a["intermediate_size"]
    embed = a["vocab_size"] * h * (1 if a["tie_word_embeddings"] else 2)
    if not a["num_experts"]:
        total = embed + layers * (attn + dense_mlp)
        return total / 1e9, total / 1e9
    expert = mats * h * a["moe_intermediate_size"]
    moe_layers = (layers - a["first_dense_layers"]) // a.get("moe_layer_step", 1)
    router = h * a["num_experts"]
    shared = a["num_shared_experts"] * expert
    base = embed + layers * attn + (layers - moe_layers) * dense_mlp
    total = base + moe_layers * (a["num_experts"] * expert + shared + router)
    active = base + moe_layers * (a["experts_per_token"] * expert + shared + router)
    return total / 1e9, active / 1e9


def _windows(cfg: dict[str, Any], model_type: str, layers: int, context: int) -> tuple[int, int]:
    """(layers with windowed attention, their window): Mistral's and gpt-oss's
    ``sliding_window`` (on the ``layer_types`` marked sliding, else every layer; off where
    ``use_sliding_window`` is false, as in Qwen2), Llama 4's ``attention_chunk_size`` on
    every layer but each ``no_rope_layer_interval``-th (4)."""
    chunk = _int(cfg, "attention_chunk_size", default=0) or 0
    if chunk and model_type.startswith("llama4"):
        rope = cfg.get("no_rope_layers")
        if isinstance(rope, list) and len(rope) == layers:
            return sum(1 for r in rope if r), chunk  # 1 = a RoPE (chunked) layer
        interval = _int(cfg, "no_rope_layer_interval", default=4) or 4
        return layers - layers // interval, chunk
    window = _int(cfg, "sliding_window", default=0) or 0
    if not window or cfg.get("use_sliding_window") is False or window >= context:
        return 0, 0
    types = cfg.get("layer_types")
    if isinstance(types, list):
        return sum(1 for t in types if t == "sliding_attention"), window
    return layers, window


def architecture_from_config(path: str | Path, key_path: str = "model.config") -> dict[str, Any]:
    """The fields of a :class:`simplan.catalog.ModelArch` from a ``config.json``.

    Raises
    ------
    ScenarioError
        The file is missing or not JSON, a required key is missing, or the architecture is
        one simplan cannot represent; the message names the file and the key.
    """
    return dict(read_named_file(path, key_path, "model config (config.json)", _parse_config))


def _parse_config(text: str, source: str) -> dict[str, Any]:
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ScenarioError(
            "not a model config: expected a JSON object", [Problem("model.config", source)]
        )
    return _fields(raw, source)


def _fields(raw: dict[str, Any], source: str) -> dict[str, Any]:
    nested = raw.get("text_config")
    cfg: dict[str, Any] = nested if isinstance(nested, dict) else raw
    problems: list[Problem] = []

    def need(*keys: str) -> int:
        v = _int(cfg, *keys)
        if v is None or v == 0:
            problems.append(
                Problem(
                    keys[0], "missing or not a positive integer", cfg.get(keys[0]), keys[0] in cfg
                )
            )
            return 1
        return v

    layers = need("num_hidden_layers", "n_layer", "num_layers")
    hidden = need("hidden_size", "n_embd", "d_model")
    heads = need("num_attention_heads", "n_head")
    vocab = need("vocab_size")
    context = need("max_position_embeddings", "max_seq_len", "seq_length")
    kv_heads = _int(cfg, "num_key_value_heads", "num_kv_heads", default=heads) or heads
    if cfg.get("multi_query") is True and "num_key_value_heads" not in cfg:
        kv_heads = 1  # Falcon's multi-query attention
    head_dim = _int(cfg, "head_dim") or hidden // heads
    # Llama 4: layer i is MoE when (i + 1) % step == 0 (Maverick: every second layer)
    step = _int(cfg, "interleave_moe_layer_step", default=1) or 1
    experts = _int(cfg, "num_local_experts", "num_experts", "n_routed_experts", default=0) or 0
    for key in ("decoder_sparse_step", "moe_layer_freq"):
        every = _int(cfg, key, default=1)
        if experts and every is not None and every > 1:
            problems.append(Problem(key, "MoE on only some layers is not modelled", every, True))
    if experts and cfg.get("mlp_only_layers"):
        problems.append(
            Problem(
                "mlp_only_layers",
                "dense layers between MoE layers are not modelled",
                cfg.get("mlp_only_layers"),
                True,
            )
        )
    if not experts and not (_int(cfg, "intermediate_size", "ffn_dim", "ffn_hidden_size") or 0):
        problems.append(Problem("intermediate_size", "missing: a dense model needs its MLP width"))
    per_token = _int(cfg, "num_experts_per_tok", "experts_per_token", "moe_topk", default=0) or 0
    intermediate = _int(cfg, "intermediate_size", "ffn_dim", "ffn_hidden_size", default=0) or 0
    moe_size = _int(cfg, "moe_intermediate_size", "intermediate_size_moe", default=0) or 0
    dense_size = _int(cfg, "intermediate_size_mlp", default=0) or 0
    if experts and dense_size:
        # Llama 4 names the expert width intermediate_size and the dense one _mlp
        moe_size, intermediate = moe_size or intermediate, dense_size
    if experts and not moe_size:
        moe_size = intermediate  # Mixtral, gpt-oss: every MLP is an expert of this size
    shared = _int(cfg, "n_shared_experts", "num_shared_experts", default=0) or 0
    shared_size = _int(cfg, "shared_expert_intermediate_size", default=0) or 0
    if experts and not shared and shared_size and moe_size:
        shared = max(1, round(shared_size / moe_size))  # Qwen2-MoE: one wider shared expert
    model_type = str(cfg.get("model_type", raw.get("model_type", "")))
    if experts and model_type.startswith("llama4"):
        shared = 1  # Llama 4's MoE block always adds one shared expert (no config key)
    kv_lora = _int(cfg, "kv_lora_rank", default=0) or 0
    swa_layers, window = _windows(cfg, model_type, layers, context)
    if problems:
        raise ScenarioError("unusable model config", problems, source=source)
    fields: dict[str, Any] = {
        "num_layers": layers,
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_kv_heads": kv_heads,
        "head_dim": head_dim,
        "intermediate_size": intermediate,
        "vocab_size": vocab,
        "gated_mlp": model_type not in _UNGATED,
        "tie_word_embeddings": bool(
            raw.get("tie_word_embeddings", cfg.get("tie_word_embeddings", False))
        ),
        "attention": "mla" if kv_lora else ("mha" if kv_heads == heads else "gqa"),
        "max_context_tokens": context,
        "num_experts": experts,
        "experts_per_token": per_token if experts else 0,
        "moe_intermediate_size": moe_size if experts else 0,
        "num_shared_experts": shared if experts else 0,
        "first_dense_layers": (_int(cfg, "first_k_dense_replace", default=0) or 0)
        if experts
        else 0,
        "moe_layer_step": step if experts else 1,
        "sliding_window_layers": swa_layers,
        "sliding_window_tokens": window,
        "kv_lora_rank": kv_lora,
        "q_lora_rank": _int(cfg, "q_lora_rank", default=0) or 0,
        "qk_nope_head_dim": _int(cfg, "qk_nope_head_dim", default=0) or 0,
        "qk_rope_head_dim": _int(cfg, "qk_rope_head_dim", default=0) or 0,
        "v_head_dim": _int(cfg, "v_head_dim", default=0) or 0,
        # DeepSeek-V3.2's sparse attention (DeepseekV32ForCausalLM)
        "sparse_attention_topk_tokens": _int(cfg, "index_topk", default=0) or 0,
        "indexer_heads": _int(cfg, "index_n_heads", default=0) or 0,
        "indexer_head_dim": _int(cfg, "index_head_dim", default=0) or 0,
    }
    if kv_lora:
        fields["head_dim"] = fields["qk_nope_head_dim"] + fields["qk_rope_head_dim"]
        fields["num_kv_heads"] = heads
    total, active = parameter_counts(fields)
    fields["total_params_b"] = round(total, 2)
    fields["active_params_b"] = round(active, 2)
    return fields
