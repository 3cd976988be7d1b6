"""simplan's compiled core: numpy + numba only, pure functions over arrays.

A replica is passed as a float64 configuration vector (:mod:`simplan.kernels.layout`);
many replicas stack into an (n, NCFG) array. Nothing here knows simpy, TOML or xarray.
"""

from simplan.kernels import layout
from simplan.kernels.batch import static_batch, static_batch_many
from simplan.kernels.memory import (
    activation_reserve_bytes,
    kv_bytes_per_token,
    kv_capacity_tokens,
    max_batch,
    memory_many,
    weight_bytes_per_gpu,
)
from simplan.kernels.ops import moe_distinct_experts
from simplan.kernels.roofline import (
    step_flops_and_bytes,
    step_time_many,
    step_time_s,
)

__all__ = [
    "activation_reserve_bytes",
    "kv_bytes_per_token",
    "kv_capacity_tokens",
    "layout",
    "max_batch",
    "memory_many",
    "moe_distinct_experts",
    "static_batch",
    "static_batch_many",
    "step_flops_and_bytes",
    "step_time_many",
    "step_time_s",
    "weight_bytes_per_gpu",
]
