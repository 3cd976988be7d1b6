"""``[autoscaling]``, ``[failures]`` and ``[overflow]``: how the fleet grows, breaks and
sends work to an API."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    model_validator,
)
from simplan.scenario.base import (
    MAX_REPLICAS,
    PositiveInt,
    _Section,
)


class AutoscalingSection(_Section):
    """Autoscaling of the [hardware] pool (extra pools keep a fixed size)."""

    policy: Literal["target_utilization", "queue_length", "kv_load", "scheduled"] = (
        "target_utilization"
    )
    target: float = Field(
        default=0.7,
        gt=0,
        le=1e6,
        allow_inf_nan=False,
        description="target_utilization / scheduled: share of each replica's capacity under "
        "the SLO; queue_length: outstanding requests per replica; kv_load: KV-cache share.",
    )
    min_replicas: int = Field(default=1, ge=0, le=MAX_REPLICAS)
    max_replicas: PositiveInt = Field(default=8, le=MAX_REPLICAS)
    interval_s: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    scale_down_delay_s: float = Field(default=300.0, ge=0, allow_inf_nan=False)
    instance_start_s: float = Field(
        default=120.0,
        ge=0,
        allow_inf_nan=False,
        description="Instance start before weights load (VM, container, engine start-up).",
    )
    storage_gb_per_s: float = Field(
        default=2.0,
        gt=0,
        allow_inf_nan=False,
        description="Bandwidth at which a new replica loads its weights (cold start).",
    )

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingSection:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas})"
            )
        if self.policy in ("target_utilization", "kv_load", "scheduled") and self.target > 1:
            raise ValueError(f"policy {self.policy!r} takes target as a share in (0, 1]")
        return self


class FailuresSection(_Section):
    """Replica failures: exponential times between failures, a fixed repair time."""

    mtbf_hours: float = Field(gt=0, allow_inf_nan=False)
    repair_s: float = Field(default=3600.0, ge=0, allow_inf_nan=False)


class OverflowSection(_Section):
    """Send requests to an API when the self-hosted fleet is too busy (hybrid serving)."""

    api: str = Field(min_length=1, description="API catalog id (or an inline [[api]] id).")
    max_queue_per_replica: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="Overflow when every replica has at least this many waiting requests.",
    )
    rate_cap_per_s: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Self-host at most this many requests per second; the rest go to the API.",
    )
    ttft_s: float = Field(
        default=0.6, gt=0, allow_inf_nan=False, description="Mean API time to first token."
    )
    ttft_std_s: float = Field(default=0.3, ge=0, allow_inf_nan=False)
    output_tokens_per_s: float = Field(
        default=60.0, gt=0, allow_inf_nan=False, description="API streaming speed per request."
    )

    @model_validator(mode="after")
    def _some_trigger(self) -> OverflowSection:
        if self.max_queue_per_replica is None and self.rate_cap_per_s is None:
            raise ValueError("give max_queue_per_replica or rate_cap_per_s (when to overflow)")
        return self
