"""Token-length distributions a workload draws from (``input_tokens``,
``output_tokens``, ``reasoning_tokens``, session turns): a number or one of these tables.

``{ dataset = "sharegpt" }`` names a benchmark dataset instead: it becomes the lognormal
the dataset catalog (``datasets.toml``) states for its prompts or its answers.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator
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


class DatasetLength(_Section):
    """``{ dataset = "sharegpt" }``: a benchmark dataset's lengths, replaced on validation
    by the lognormal its catalog entry states (:func:`_from_dataset`)."""

    distribution: Literal["named_dataset"] = "named_dataset"
    dataset: str = Field(description="A dataset id (`simplan catalog datasets`).")

    @field_validator("dataset")
    @classmethod
    def _known(cls, v: str) -> str:
        return _check_catalog_id("dataset", v)


def _tag_dataset(value: Any) -> Any:
    # the user writes only `dataset`: the tag picks DatasetLength from the union
    if isinstance(value, dict) and "dataset" in value and "distribution" not in value:
        return {"distribution": "named_dataset", **value}
    return value


def _from_dataset(value: Any, info: ValidationInfo) -> Any:
    if not isinstance(value, DatasetLength):
        return value
    side = _DATASET_SIDE.get(info.field_name or "")
    if side is None:
        raise ValueError(
            f"`{info.field_name}` cannot come from a dataset: a dataset gives prompt "
            "(input_tokens) and answer (output_tokens) lengths"
        )
    stats = getattr(catalog.dataset(value.dataset), f"{side}_tokens")
    return NormalLength.model_validate(stats.model_dump(exclude_none=True))


LengthSpec = Annotated[
    FixedLength | UniformLength | NormalLength | EmpiricalLength | DatasetLength,
    Field(discriminator="distribution"),
    BeforeValidator(_tag_dataset),
    AfterValidator(_from_dataset),
]
