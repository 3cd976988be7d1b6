"""Token-length distributions a workload draws from (``input_tokens``,
``output_tokens``, ``reasoning_tokens``, session turns): a number or one of these tables.

``{ dataset = "sharegpt" }`` names a benchmark dataset instead: it becomes the lognormal
the dataset catalog (``datasets.toml``) states for its prompts or its answers.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator
from simplan import catalog
from simplan.scenario.base import TokenCount, _check_catalog_id, _Section

#: Which of a dataset's lengths each length field takes.
_DATASET_SIDE = {"input_tokens": "input", "turn_input_tokens": "input", "output_tokens": "output"}


class FixedLength(_Section):
    distribution: Literal["fixed"]
    value: TokenCount


class UniformLength(_Section):
    distribution: Literal["uniform"]
    low: TokenCount
    high: TokenCount

    @field_validator("high")
    @classmethod
    def _ordered(cls, high: int, info: ValidationInfo) -> int:
        # a field validator, so the error is reported at `high`
        low = info.data.get("low")
        if low is not None and high < low:
            raise ValueError(f"`high` ({high}) must be >= `low` ({low})")
        return high


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


def _from_dataset(value: Any, info: ValidationInfo) -> Any:
    if not (isinstance(value, dict) and "dataset" in value):
        return value
    extra = sorted(set(value) - {"dataset"})
    if extra:
        raise ValueError(f"a dataset length takes only `dataset`, not {', '.join(extra)}")
    side = _DATASET_SIDE.get(info.field_name or "")
    if side is None:
        raise ValueError(
            f"`{info.field_name}` cannot come from a dataset: a dataset gives prompt "
            "(input_tokens) and answer (output_tokens) lengths"
        )
    entry = catalog.dataset(_check_catalog_id("dataset", value["dataset"]))
    return getattr(entry, f"{side}_tokens").model_dump(exclude_none=True)


LengthSpec = Annotated[
    FixedLength | UniformLength | NormalLength | EmpiricalLength,
    Field(discriminator="distribution"),
    BeforeValidator(_from_dataset),
]
