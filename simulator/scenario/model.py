"""``[model]``: which model, from the catalog, an inline architecture or a Hugging Face
``config.json``, in which weight and KV-cache formats."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from simplan import catalog
from simplan.hf_config import architecture_from_config
from simplan.scenario.base import (
    PositiveInt,
    _check_catalog_id,
    _Section,
)


class InlineArchitecture(_Section):
    """An architecture given inline instead of a catalog id (same fields as the catalog)."""

    num_layers: PositiveInt
    hidden_size: PositiveInt
    num_attention_heads: PositiveInt
    num_kv_heads: PositiveInt
    head_dim: PositiveInt
    intermediate_size: PositiveInt
    vocab_size: PositiveInt
    max_context_tokens: PositiveInt
    total_params_b: float = Field(gt=0)
    active_params_b: float | None = Field(default=None, gt=0)
    gated_mlp: bool = True
    tie_word_embeddings: bool = False
    attention: Literal["mha", "gqa", "mla"] = "gqa"
    num_experts: int = Field(default=0, ge=0)
    experts_per_token: int = Field(default=0, ge=0)
    moe_intermediate_size: int = Field(default=0, ge=0)
    num_shared_experts: int = Field(default=0, ge=0)
    first_dense_layers: int = Field(default=0, ge=0)
    moe_layer_step: int = Field(default=1, ge=1)
    sliding_window_layers: int = Field(default=0, ge=0)
    sliding_window_tokens: int = Field(default=0, ge=0)
    kv_lora_rank: int = Field(default=0, ge=0)
    q_lora_rank: int = Field(default=0, ge=0)
    qk_nope_head_dim: int = Field(default=0, ge=0)
    qk_rope_head_dim: int = Field(default=0, ge=0)
    v_head_dim: int = Field(default=0, ge=0)


class ModelSection(_Section):
    name: str | None = Field(
        default=None, description="Model catalog id (`simplan catalog models`)."
    )
    architecture: InlineArchitecture | None = Field(
        default=None, description="Inline architecture, instead of `name`."
    )
    config: str | None = Field(
        default=None,
        min_length=1,
        description="A Hugging Face config.json (a path, relative to the scenario file), "
        "instead of `name`.",
    )
    weights: str = Field(default="fp16", description="Weight quantization scheme id.")
    kv_cache: str = Field(default="fp16", description="KV-cache dtype id.")

    @field_validator("name")
    @classmethod
    def _name_known(cls, v: str | None) -> str | None:
        return None if v is None else _check_catalog_id("model", v)

    @field_validator("weights")
    @classmethod
    def _weights_known(cls, v: str) -> str:
        return _check_catalog_id("weights", v)

    @field_validator("kv_cache")
    @classmethod
    def _kv_known(cls, v: str) -> str:
        return _check_catalog_id("kv_cache", v)

    @model_validator(mode="after")
    def _one_of(self) -> ModelSection:
        given = [x is not None for x in (self.name, self.architecture, self.config)]
        if sum(given) != 1:
            raise ValueError(
                "give exactly one of `name` (a catalog id), `architecture` (a table) or "
                "`config` (a Hugging Face config.json)"
            )
        if self.architecture is not None or self.config is not None:
            # the same consistency checks as catalog entries (heads, experts, MLA ranks)
            try:
                self.arch()
            except ValidationError as exc:
                msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
                raise ValueError(f"inconsistent architecture: {msgs}") from None
        return self

    def arch(self) -> catalog.ModelArch:
        """The architecture: the catalog entry, or the inline table as a catalog entry."""
        if self.name is not None:
            return catalog.model(self.name)
        if self.config is not None:
            fields = architecture_from_config(self.config)
            return catalog.ModelArch.model_validate(
                {
                    "id": Path(self.config).parent.name or "config",
                    "source": self.config,
                    "as_of": "2000-01-01",
                    **fields,
                }
            )
        assert self.architecture is not None
        data = self.architecture.model_dump()
        if data["active_params_b"] is None:
            data["active_params_b"] = data["total_params_b"]
        return catalog.ModelArch.model_validate(
            {"id": "inline", "source": "scenario file (inline)", "as_of": "2000-01-01", **data}
        )
