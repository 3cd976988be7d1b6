"""`simplan plan`: the cheapest fleet that meets the SLO at the target load.

Candidates are every combination of GPU type, weight scheme, TP degree and pricing mode
(from the command line, or the scenario's ``[sweep]`` axes of those keys, or the
scenario's own choice). The target load is the busiest hour's request rate
(:func:`simplan.workload.peak_rate_per_s`).

1. *Screen* with the compiled steady-state model: the largest rate one replica sustains
   with every objective's predicted statistic (a p95 against the predicted p95,
   :mod:`simplan.latency_model`) within its limit gives a first fleet size
   ``ceil(target / rate)``.
2. *Verify* by simulation (:mod:`simplan.verify`): the cheapest candidates, in the screen's
   order, are simulated at the target rate with three seeds, and their replica count is
   moved to the smallest that meets every objective (percentiles as percentiles) with
   every seed. The recommendation is the cheapest verified fleet; ``verify=0`` skips this
   and says the ranking is unverified.

Money comes from :mod:`simplan.economics`: GPU prices (an override prices only the pool it
is stated for), monthly cost, the monthly volume, each API's cost of the same volume, the
crossover volume above which a fleet of the recommended configuration is cheaper than an
API, and a hybrid: a fleet sized for part of the load with the overflow sent to the API,
at the replica count that minimises the total.

Uncertainty (:mod:`~simplan.plan.bands`): the model's signed serving-throughput error
against the published measurements has a 10th and 90th percentile (``calibration.toml``
``[error_bands]``); the plan recomputes the screen with capacities shifted by that
spread, giving an 80% band on replicas and cost. Each latency objective of the pick gets
a band from its spread over the verification seeds and its metric's own error quantiles,
and one sentence says what would change the answer.

:mod:`~simplan.plan.candidates` lists and screens the candidates,
:mod:`~simplan.plan.alternatives` builds the hybrid, the daily-cycle options and the
reasons, :mod:`~simplan.plan.pick` ties them into :func:`plan`.
"""

from simplan.plan.candidates import PLAN_KEYS, Candidate, candidate_scenario
from simplan.plan.pick import plan

__all__ = ["PLAN_KEYS", "Candidate", "candidate_scenario", "plan"]
