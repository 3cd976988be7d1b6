"""The ``[engine.speculative]`` table: speculative decoding (vLLM's ``speculative_config``
keys and method names)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from simplan.scenario.base import _check_catalog_id, _Section

SpecMethod = Literal["eagle", "eagle3", "mtp", "draft_model", "ngram"]


class SpeculativeSection(_Section):
    """Speculative decoding: a drafter proposes ``num_speculative_tokens`` tokens per
    sequence and iteration; the target model verifies them in one pass."""

    method: SpecMethod = Field(
        description="eagle / eagle3: a one-layer draft head; mtp: the model's own "
        "multi-token-prediction module (DeepSeek-V3/R1, Qwen3-Next, GLM-4.5); draft_model: "
        "a separate small model (`draft_model`); ngram: prompt lookup on the host."
    )
    num_speculative_tokens: int = Field(
        ge=0,
        le=16,
        description="Tokens drafted per sequence and iteration (k); 0 turns speculation "
        "off (a sweep axis can compare 0 with k > 0).",
    )
    acceptance_rate: float = Field(
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="Probability that a drafted token is accepted given that the one before "
        "it was (alpha in Leviathan et al. 2023). An iteration then yields "
        "(1 - a^(k+1)) / (1 - a) tokens per sequence. From vLLM's metrics: solve that for a "
        "with the reported mean acceptance length.",
    )
    draft_model: str | None = Field(
        default=None,
        description="method = 'draft_model': the draft model's catalog id (run in 16-bit "
        "with the target's tensor parallelism).",
    )

    @field_validator("draft_model")
    @classmethod
    def _draft_known(cls, v: str | None) -> str | None:
        return None if v is None else _check_catalog_id("model", v)

    @model_validator(mode="after")
    def _draft_for_draft_model(self) -> SpeculativeSection:
        if self.method == "draft_model" and self.draft_model is None:
            raise ValueError("method = 'draft_model' needs `draft_model` (a model catalog id)")
        if self.method != "draft_model" and self.draft_model is not None:
            raise ValueError(
                f"`draft_model` applies to method = 'draft_model', not {self.method!r}"
            )
        return self

    @property
    def active(self) -> bool:
        """Whether speculation is on (k > 0)."""
        return self.num_speculative_tokens > 0
