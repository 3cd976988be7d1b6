"""What every scenario section shares: the pydantic base (unknown keys refused), the
bounded number types and the catalog-id check."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from simplan import catalog
from simplan.errors import nearest

PositiveInt = Annotated[int, Field(ge=1)]

#: The most replicas one pool (or autoscaled fleet) may have.
MAX_REPLICAS = 4096
#: Token lengths beyond ten million are no real request (and overflow int64 arithmetic).
TokenCount = Annotated[int, Field(ge=1, le=10_000_000)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


def _check_catalog_id(kind: str, value: str) -> str:
    entries = catalog.load(kind)
    if value not in entries:
        hint = nearest(value, entries)
        did = f"; did you mean {hint!r}?" if hint else ""
        shown = ", ".join(sorted(entries))
        raise ValueError(f"unknown id{did} (allowed: {shown})")
    return value
