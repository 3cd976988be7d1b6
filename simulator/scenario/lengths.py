"""Token-length distributions a workload draws from (``input_tokens``,
``output_tokens``, ``reasoning_tokens``, session turns): a number or one of these tables."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator
from simplan.scenario.base import TokenCount, _Section


class FixedLength(_Section):
    distribution: Literal["fixed"]
    value: TokenCount


class UniformLength(_Section):
    distribution: Literal["uniform"]
    low: TokenCount
    high: TokenCount

    @model_validator(mode="after")
    def _ordered(self) -> UniformLength:
        if self.high < self.low:
            raise ValueError(f"`high` ({self.high}) must be >= `low` ({self.low})")
        return self


class NormalLength(_Section):
    """Normal or lognormal token lengths given by their mean and standard deviation."""

    distribution: Literal["normal", "lognormal"]
    mean: float = Field(ge=1, le=1e7, allow_inf_nan=False)
    std: float = Field(ge=0, le=1e8, allow_inf_nan=False)
    min: TokenCount = 1
    max: TokenCount | None = None


class EmpiricalLength(_Section):
    distribution: Literal["empirical"]
    path: str = Field(min_length=1, description="CSV file, relative to the scenario file.")
    column: str = Field(min_length=1)


LengthSpec = Annotated[
    FixedLength | UniformLength | NormalLength | EmpiricalLength,
    Field(discriminator="distribution"),
]
