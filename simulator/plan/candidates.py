"""The candidate fleets of `simplan plan`: which configurations are tried, the scenario of
each, and the fast model's screen of one (capacity, replicas, cost, latency).
"""

from __future__ import annotations

import itertools
import math
import typing
from dataclasses import dataclass, field, replace
from typing import Any

from simplan import catalog, latency_model
from simplan import economics as econ
from simplan.errors import CatalogError, InfeasibleError, Problem, ScenarioError, SimplanError
from simplan.fit import moe_chunk_hint, replica_cfg
from simplan.perf import check_parallelism
from simplan.scenario import (
    MAX_REPLICAS,
    Pricing,
    Scenario,
    trial_scenario,
)

PLAN_KEYS = {
    "hardware.gpu": "gpu",
    "model.weights": "weights",
    "hardware.tp": "tp",
    "hardware.pricing": "pricing",
}
#: Further [sweep] list axes that become plan options: engine settings and the KV dtype
#: change what a replica can do, so each value is a candidate of its own (the workload and
#: the fleet size are plan's to fix, not to choose).
OPTION_PREFIXES = ("engine.", "model.kv_cache")


def option_keys(scenario: Scenario) -> list[str]:
    """The scenario's [sweep] list axes that plan tries as options (engine settings...)."""
    return [
        k
        for k, axis in scenario.sweep.items()
        if k.startswith(OPTION_PREFIXES) and k not in PLAN_KEYS and isinstance(axis, list)
    ]


@dataclass
class Candidate:
    gpu: str
    weights: str
    tp: int
    pricing: str
    feasible: bool
    reason: str = ""
    fits_memory: bool = True  # False: the weights (and a minimal KV cache) do not fit
    replicas: int = 0
    gpus: int = 0
    replica_usd_per_hour: float = math.nan
    price_source: str = ""
    replica_max_rate_per_s: float = math.nan
    replica_rate_under_slo_per_s: float = math.nan
    monthly_cost_usd: float = math.nan
    usd_per_mtok_total: float = math.nan
    ttft_s: float = math.nan
    tpot_s: float = math.nan
    e2e_s: float = math.nan
    ttft_p95_s: float = math.nan
    tpot_p95_s: float = math.nan
    e2e_p95_s: float = math.nan
    utilization: float = math.nan
    pp: int = 1
    fast_replicas: int = 0
    verified: bool = False
    verification: list[dict[str, Any]] = field(default_factory=list)
    band: dict[str, Any] = field(default_factory=dict)
    # further choices (dotted key: value) from the scenario's option axes (option_keys)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> tuple[Any, ...]:
        """What a replica is (pricing aside): candidates sharing it share a simulation."""
        return (self.gpu, self.weights, self.tp, *sorted(self.options.items()))

    def overrides(self) -> dict[str, Any]:
        return {
            "hardware.gpu": self.gpu,
            "model.weights": self.weights,
            "hardware.tp": self.tp,
            "hardware.pricing": self.pricing,
            **self.options,
        }


#: Candidates considered when neither the command line nor the scenario's [sweep] names
#: any: the data-centre GPUs of the catalog, the common weight formats, the TP degrees of
#: one node. The scenario's own choice is always included.
DEFAULT_CANDIDATES: dict[str, list[Any]] = {
    "hardware.gpu": ["a100-sxm4-80gb", "h100-sxm", "h200", "l40s"],
    "model.weights": ["fp16", "fp8", "int8", "int4-awq"],
    "hardware.tp": [1, 2, 4, 8],
}


def _candidates(
    raw: dict[str, Any], scenario: Scenario, overrides: dict[str, list[Any]]
) -> list[dict[str, Any]]:
    choices: dict[str, list[Any]] = {}
    any_given = any(overrides.values()) or any(k in scenario.sweep for k in PLAN_KEYS)
    for key, short in PLAN_KEYS.items():
        section, leaf = key.split(".")
        own = getattr(getattr(scenario, section), leaf)
        if overrides.get(short):
            choices[key] = list(overrides[short])
        elif key in scenario.sweep and isinstance(scenario.sweep[key], list):
            choices[key] = list(scenario.sweep[key])  # a list axis
        elif not any_given and key in DEFAULT_CANDIDATES:
            choices[key] = list(dict.fromkeys([own, *DEFAULT_CANDIDATES[key]]))
        else:
            choices[key] = [own]
    for key in option_keys(scenario):
        values = list(scenario.sweep[key])
        tables = [v for v in values if isinstance(v, dict | list)]
        if tables:
            raise ScenarioError(
                "plan tries [sweep] engine axes as options, one value at a time",
                [
                    Problem(
                        f'sweep."{key}"',
                        "plan options must be single values (numbers, strings, booleans); "
                        "sweep the keys inside the table instead (e.g. "
                        f'"{key}.<key>")',
                        tables[0],
                        True,
                    )
                ],
            )
        choices[key] = list(dict.fromkeys(values))  # a value listed twice is one candidate
    keys = list(choices)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*choices.values())]


def candidate_scenario(raw: dict[str, Any], cand: dict[str, Any], source: str) -> Scenario:
    """One replica of a candidate (its dotted-key choices) on the scenario as written."""
    return trial_scenario(raw, {**cand, "hardware.replicas": 1, "hardware.pools": None}, source)


def _evaluate(
    sc: Scenario,
    base: Scenario,
    target_rate: float,
    monthly_tokens: float,
    scales: tuple[float, ...] = (1.0,),
    sh: latency_model.Shapes | None = None,
) -> list[Candidate]:
    """Screen a candidate with the fast model, once per ``scales`` entry (which multiplies
    capacities: a band's slower or faster hardware); the replica's model is built once.

    ``base`` is the scenario as written: its price overrides apply only to its own pools.
    ``sh`` is the workload's shapes when the caller has them (every candidate shares one).
    """
    hw = sc.hardware
    cand = Candidate(hw.gpu, sc.model.weights, hw.tp, hw.pricing, feasible=False, pp=hw.pp)
    cand.options = {k: _get(sc, k) for k in option_keys(base)}
    cfg, why = replica_cfg(sc)
    if why == 1:
        cand.reason = "does not fit in GPU memory" + moe_chunk_hint(cfg, 1, 1)
        cand.fits_memory = False
        return [cand for _ in scales]
    if why == 2:
        try:
            check_parallelism(
                sc.model.arch(), catalog.gpu(hw.gpu), hw.tp, hw.pp, sc.engine.attention_dp
            )
        except InfeasibleError as exc:
            cand.reason = (
                "; ".join(f"{p.key_path} = {p.value}: {p.message}" for p in exc.problems)
                or exc.summary
            )
        return [cand for _ in scales]
    price = econ.gpu_price(base, hw.gpu, hw.pricing)
    cand.replica_usd_per_hour = price.usd_per_gpu_hour * hw.tp * hw.pp
    cand.price_source = price.source
    model = latency_model.ReplicaModel.of(cfg, sc, sh)
    return [_screen(replace(cand), model, target_rate, monthly_tokens, s) for s in scales]


def _screen(
    cand: Candidate,
    model: latency_model.ReplicaModel,
    target_rate: float,
    monthly_tokens: float,
    scale: float,
) -> Candidate:
    """Size and price a candidate from its replica's model, capacities times ``scale``."""
    r_max, r_slo = model.r_max_per_s * scale, model.rate_under_slo(scale) * scale
    cand.replica_max_rate_per_s = r_max
    cand.replica_rate_under_slo_per_s = r_slo
    if r_slo <= 0:
        cand.reason = "cannot meet the SLO at any load"
        return cand
    needed = max(1, math.ceil(target_rate / r_slo * (1 - 1e-12)))
    if needed > MAX_REPLICAS:
        cand.reason = (
            f"needs about {needed:,} replicas for {target_rate:,.4g} requests/s, more than the "
            f"{MAX_REPLICAS:,} a fleet may have"
        )
        return cand
    cand.feasible = True
    _size(cand, needed, target_rate, monthly_tokens)
    cand.fast_replicas = cand.replicas
    op = model.at_rate(target_rate / cand.replicas / scale)
    for name in ("ttft", "tpot", "e2e"):
        for stat in ("mean", "p95"):
            value = float(op[latency_model.column(f"{name}_{stat}_s")]) / scale
            setattr(cand, f"{name}_s" if stat == "mean" else f"{name}_p95_s", value)
    return cand


def _get(sc: Scenario, dotted: str) -> Any:
    """A scenario's value at a dotted key (None where a section along it is absent)."""
    value: Any = sc
    for part in dotted.split("."):
        value = getattr(value, part, None)
    return value


def _size(cand: Candidate, replicas: int, target_rate: float, monthly_tokens: float) -> None:
    """Set a candidate's fleet size and everything priced from it."""
    cand.replicas = replicas
    cand.gpus = replicas * cand.tp * cand.pp
    cand.monthly_cost_usd = float(econ.monthly_cost_usd(replicas * cand.replica_usd_per_hour))
    cand.usd_per_mtok_total = float(econ.usd_per_mtok(cand.monthly_cost_usd, monthly_tokens))
    cand.utilization = target_rate / replicas / cand.replica_max_rate_per_s


def _check_overrides(overrides: dict[str, list[Any]]) -> None:
    """Refuse candidate values no fleet could have (unknown ids), before any work.

    A value valid in general but impossible for this model (tp = 3 on 64 heads) stays a
    candidate and is listed as not possible, with its reason.
    """
    problems = []
    for short in ("gpu", "weights"):
        for value in overrides[short]:
            try:
                catalog.get(short, str(value))
            except CatalogError as exc:
                problems.append(Problem(f"--{short}", exc.summary, value, has_value=True))
    modes = typing.get_args(Pricing)
    for value in overrides["pricing"]:
        if value not in modes:
            allowed = ", ".join(modes)
            problems.append(
                Problem("--pricing", f"unknown pricing mode (allowed: {allowed})", value, True)
            )
    for value in overrides["tp"]:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(Problem("--tp", "must be a whole number >= 1", value, True))
    if problems:
        raise SimplanError("invalid plan candidates", problems)
