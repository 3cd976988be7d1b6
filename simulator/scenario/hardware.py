"""``[hardware]`` and its pools: GPU, parallelism, replicas, pricing mode, roles of a
disaggregated fleet."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)
from simplan.scenario.base import (
    MAX_REPLICAS,
    PositiveInt,
    _check_catalog_id,
    _Section,
)

Pricing = Literal["on_demand", "spot", "reserved"]


class PoolSection(_Section):
    """One pool of identical replicas in a mixed fleet."""

    gpu: str
    tp: PositiveInt = Field(default=1, le=64)
    pp: PositiveInt = Field(default=1, le=256)
    replicas: PositiveInt = Field(default=1, le=MAX_REPLICAS)
    pricing: Pricing = "on_demand"
    price_usd_per_gpu_hour: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    interruptions_per_hour: float = Field(
        default=0.0,
        ge=0,
        le=3600,
        allow_inf_nan=False,
        description="Spot pools: mean interruptions per replica-hour (the provider takes the "
        "instance back); interrupted replicas are replaced after a cold start.",
    )
    interruption_notice_s: float = Field(default=120.0, ge=0, allow_inf_nan=False)
    role: Literal["both", "prefill", "decode"] = Field(
        default="both",
        description="Prefill/decode disaggregation: 'prefill' replicas only compute "
        "prompts and send their KV cache to a 'decode' replica, which generates the rest. "
        "Default: both, on the same replica.",
    )

    @model_validator(mode="after")
    def _spot_only(self) -> PoolSection:
        if self.interruptions_per_hour > 0 and self.pricing != "spot":
            raise ValueError("interruptions_per_hour applies to pricing = 'spot' pools only")
        return self

    @field_validator("gpu")
    @classmethod
    def _gpu_known(cls, v: str) -> str:
        return _check_catalog_id("gpu", v)


class HardwareSection(PoolSection):
    """The replica configuration; `pools` adds further pools of other GPU types."""

    pools: list[PoolSection] = Field(default_factory=list)
    kv_transfer_gb_per_s: float | None = Field(
        default=None,
        gt=0,
        le=100_000,
        allow_inf_nan=False,
        description="Disaggregated fleets: the link each GPU sends its KV shard over, GB/s "
        "(default: the inter-node network, 25 GB/s per GPU; NVLink within a node is "
        "faster).",
    )

    @model_validator(mode="after")
    def _roles_pair_up(self) -> HardwareSection:
        roles = {self.role, *(p.role for p in self.pools)}
        if roles != {"both"} and roles != {"prefill", "decode"}:
            raise ValueError(
                "role: a disaggregated fleet needs prefill pools and decode pools and no "
                f"'both' pool (roles given: {', '.join(sorted(roles))})"
            )
        if self.kv_transfer_gb_per_s is not None and roles == {"both"}:
            raise ValueError("kv_transfer_gb_per_s applies to prefill/decode pools only")
        return self

    @property
    def disaggregated(self) -> bool:
        """Whether prefill and decode run on separate pools."""
        return self.role != "both"
