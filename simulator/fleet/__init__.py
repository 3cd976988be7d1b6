"""An elastic fleet: replicas that start, drain, fail and get taken back, and an API overflow.

One module per concept:

* :mod:`~simplan.fleet.lifecycle`: :class:`Fleet`, the replicas' states and billing;
* :mod:`~simplan.fleet.routing`: admission, the router policies, the backlog and the
  hand-off of a disaggregated fleet;
* :mod:`~simplan.fleet.overflow`: the API that serves what the fleet is too busy for;
* :mod:`~simplan.fleet.autoscaling`: the autoscaler and its policies;
* :mod:`~simplan.fleet.disruptions`: spot interruptions and failures;
* :mod:`~simplan.fleet.accounting`: what a finished run cost and had up.
"""

from simplan.fleet.accounting import (
    describe,
    provisioned_capacity,
    replica_up_s,
    up_counts,
    up_intervals,
)
from simplan.fleet.autoscaling import SCALING_POLICIES, ScaleContext, autoscaler
from simplan.fleet.disruptions import failures, spot_interruptions
from simplan.fleet.lifecycle import UP_STATES, Billing, Fleet, FleetCounters, cold_start_s
from simplan.fleet.overflow import SERVED_BY_API, cap_burst, selected_apis_with
from simplan.fleet.routing import POLICIES, Router

__all__ = [
    "POLICIES",
    "SCALING_POLICIES",
    "SERVED_BY_API",
    "UP_STATES",
    "Billing",
    "Fleet",
    "FleetCounters",
    "Router",
    "ScaleContext",
    "autoscaler",
    "cap_burst",
    "cold_start_s",
    "describe",
    "failures",
    "provisioned_capacity",
    "replica_up_s",
    "selected_apis_with",
    "spot_interruptions",
    "up_counts",
    "up_intervals",
]
