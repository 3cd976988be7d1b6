"""Tabular views of the catalogs for `simplan catalog` (rows of plain values)."""

from __future__ import annotations

from typing import Any

from simplan import catalog

# For each catalog kind: the columns a table shows, in order. `--json` shows every field.
_COLUMNS: dict[str, list[str]] = {
    "gpus": [
        "id",
        "memory_gib",
        "hbm_bandwidth_gb_per_s",
        "tflops_fp16",
        "tflops_fp8",
        "tflops_int8",
        "interconnect",
        "nvlink_domain_gpus",
        "tdp_w",
        "price_on_demand_usd_per_hour",
        "price_spot_usd_per_hour",
        "price_reserved_usd_per_hour",
        "as_of",
    ],
    "models": [
        "id",
        "num_layers",
        "hidden_size",
        "num_attention_heads",
        "num_kv_heads",
        "attention",
        "num_experts",
        "experts_per_token",
        "total_params_b",
        "active_params_b",
        "max_context_tokens",
        "as_of",
    ],
    "quantization": [
        "id",
        "kind",
        "bits_per_weight",
        "bytes_per_element",
        "compute_dtype",
        "weight_only",
        "quality_loss_pct_range",
        "as_of",
    ],
    "apis": ["id", "provider", "usd_per_mtok_input", "usd_per_mtok_output", "model", "as_of"],
    "datasets": [
        "id",
        "tokenizer",
        "input_median",
        "input_max",
        "output_median",
        "output_max",
        "as_of",
    ],
}

KINDS = tuple(_COLUMNS)


def catalog_rows(kind: str) -> list[dict[str, Any]]:
    """Every entry of a catalog as a dict of all its fields (``kind`` as in `simplan catalog`)."""
    if kind == "quantization":
        rows = [{"kind": "weights", **e.model_dump()} for e in catalog.load("weights").values()]
        rows += [{"kind": "kv_cache", **e.model_dump()} for e in catalog.load("kv_cache").values()]
        return rows
    if kind == "datasets":
        # each side's median (a lognormal's median is mean / sqrt(1 + cv^2), untouched by
        # the clipping to [min, max]) and cap, so the table reads without the fit
        rows = []
        for e in catalog.load("dataset").values():
            row = e.model_dump()
            for side in ("input", "output"):
                d = getattr(e, f"{side}_tokens")
                row[f"{side}_median"] = round(d.mean / (1 + (d.std / d.mean) ** 2) ** 0.5, 1)
                row[f"{side}_max"] = d.max
            rows.append(row)
        return rows
    singular = {"gpus": "gpu", "models": "model", "apis": "api"}[kind]
    return [e.model_dump() for e in catalog.load(singular).values()]


def table_columns(kind: str) -> list[str]:
    return list(_COLUMNS[kind])
