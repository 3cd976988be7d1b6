"""Sourced catalogs shipped with simplan: GPUs, model architectures, quantization, API prices.

Each catalog is a TOML file beside this module; every entry carries ``source`` and
``as_of``. Entries are validated on load so a malformed catalog fails loudly.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from pydantic import ValidationError
from simplan.catalog.entries import (
    LIMIT_KEYS,
    ApiPrice,
    CustomAllReduce,
    Dataset,
    Efficiency,
    Gpu,
    KvDtype,
    LengthStats,
    ModelArch,
    RateLimit,
    WeightScheme,
    _Entry,
)
from simplan.errors import CatalogError, Problem, format_key_path, unknown_id_message

__all__ = [
    "LIMIT_KEYS",
    "ApiPrice",
    "CustomAllReduce",
    "Dataset",
    "Efficiency",
    "Gpu",
    "KvDtype",
    "LengthStats",
    "ModelArch",
    "RateLimit",
    "WeightScheme",
    "api",
    "custom_allreduce_of",
    "dataset",
    "efficiency",
    "get",
    "gpu",
    "kv_cache",
    "load",
    "model",
    "tail_model",
    "weights",
]


_FILES: dict[str, tuple[str, str | None, type[_Entry]]] = {
    # kind -> (file, table prefix inside the file, entry type)
    "gpu": ("gpus.toml", None, Gpu),
    "model": ("models.toml", None, ModelArch),
    "weights": ("quantization.toml", "weights", WeightScheme),
    "kv_cache": ("quantization.toml", "kv_cache", KvDtype),
    "api": ("apis.toml", None, ApiPrice),
    "efficiency": ("efficiency.toml", None, Efficiency),
    "dataset": ("datasets.toml", None, Dataset),
    "allreduce": ("allreduce.toml", None, CustomAllReduce),
}


def _read_toml(name: str) -> dict[str, Any]:
    text = resources.files("simplan.catalog").joinpath(name).read_text(encoding="utf-8")
    return tomllib.loads(text)


@cache
def load(kind: str) -> dict[str, Any]:
    """Load one catalog as ``{id: entry}``.

    Parameters
    ----------
    kind : {"gpu", "model", "weights", "kv_cache", "api", "efficiency", "dataset", "allreduce"}
    """
    file, prefix, entry_type = _FILES[kind]
    raw = _read_toml(file)
    if prefix is not None:
        raw = raw.get(prefix, {})
    if kind == "model":
        raw = _with_shared_architectures(raw, file)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            out[key] = entry_type.model_validate({"id": key, **value})
        except ValidationError as exc:
            problems = [Problem(format_key_path((key, *e["loc"])), e["msg"]) for e in exc.errors()]
            raise CatalogError("malformed catalog entry", problems, source=file) from None
    return out


#: What a model entry that names ``same_architecture_as`` states itself; every other field
#: is its base's.
_OWN_FIELDS = ("display_name", "source", "as_of", "notes", "same_architecture_as")


def _with_shared_architectures(raw: dict[str, Any], file: str) -> dict[str, Any]:
    """Model entries with ``same_architecture_as`` completed from their base entry."""
    out = dict(raw)
    for key, value in raw.items():
        base_id = value.get("same_architecture_as")
        if base_id is None:
            continue
        base = raw.get(base_id)
        path = format_key_path((key, "same_architecture_as"))
        if base is None:
            msg = unknown_id_message("model", base_id, raw, "models")
            raise CatalogError("malformed catalog entry", [Problem(path, msg)], source=file)
        if "same_architecture_as" in base:
            msg = f"{base_id!r} itself shares {base['same_architecture_as']!r}: name that one"
            raise CatalogError("malformed catalog entry", [Problem(path, msg)], source=file)
        extra = sorted(set(value) - set(_OWN_FIELDS))
        if extra:
            msg = f"an entry sharing {base_id!r}'s architecture states only {_OWN_FIELDS}"
            problems = [Problem(format_key_path((key, k)), msg) for k in extra]
            raise CatalogError("malformed catalog entry", problems, source=file)
        shared = {k: v for k, v in base.items() if k not in _OWN_FIELDS}
        out[key] = {**shared, **value}
    return out


def get(kind: str, name: str) -> Any:
    """Return one catalog entry by id, or raise a :class:`CatalogError` naming the nearest id."""
    entries = load(kind)
    if name not in entries:
        word, listing = _KIND_WORDS[kind]
        raise CatalogError(unknown_id_message(word, name, entries, listing))
    return entries[name]


#: Per catalog kind: the word an error uses, and the `simplan catalog` listing that shows
#: its ids (None: the catalog has no listing).
_KIND_WORDS: dict[str, tuple[str, str | None]] = {
    "gpu": ("gpu", "gpus"),
    "model": ("model", "models"),
    "weights": ("quantization", "quantization"),
    "kv_cache": ("quantization", "quantization"),
    "api": ("api", "apis"),
    "efficiency": ("efficiency", None),
    "dataset": ("dataset", "datasets"),
    "allreduce": ("all-reduce kernel", None),
}


def gpu(name: str) -> Gpu:
    return get("gpu", name)


def model(name: str) -> ModelArch:
    return get("model", name)


def weights(name: str) -> WeightScheme:
    return get("weights", name)


def kv_cache(name: str) -> KvDtype:
    return get("kv_cache", name)


def api(name: str) -> ApiPrice:
    return get("api", name)


def dataset(name: str) -> Dataset:
    return get("dataset", name)


def custom_allreduce_of(engine: str) -> CustomAllReduce | None:
    """The custom all-reduce kernel an engine uses (None: it all-reduces with NCCL)."""
    return next((k for k in load("allreduce").values() if engine in k.engines), None)


def efficiency(family: str) -> Efficiency:
    """Efficiency factors for a GPU family; families without a fit use the nearest generation's.

    The profiling data covers Ampere (A100) and Hopper (H100). Other families borrow the
    closest fitted generation: Ada (L40S, L4) and Ampere GA10x (A10G) use the A100 fit,
    Blackwell uses the H100 fit. This is an assumption stated in docs/model.md.
    """
    entries = load("efficiency")
    key = _EFFICIENCY_FAMILY.get(family, family)
    if key not in entries:
        raise CatalogError(unknown_id_message("efficiency", family, entries))
    return entries[key]


_EFFICIENCY_FAMILY = {
    "ampere": "a100",
    "ada": "a100",
    "hopper": "h100",
    "blackwell": "h100",
    "cdna3": "h100",
    "cdna4": "h100",
}


@cache
def tail_model() -> dict[str, Any]:
    """The fast model's latency-percentile constants and their held-out error
    (``tail.toml``, written by ``tools/fit_tail.py``)."""
    raw = _read_toml("tail.toml")["tail"]
    for key in ("var_scale", "env_scale", "wait_scale", "ttft_env"):
        value = raw.get(key)
        if not isinstance(value, int | float) or not value >= 0:
            raise CatalogError(
                "malformed catalog entry",
                [Problem(f"tail.{key}", "must be a number >= 0", value, has_value=True)],
                source="tail.toml",
            )
    return raw
