"""Golden answers of the shipped scenarios: runs, plans and fast sweeps.

* Runs: each ``scenarios/*.toml`` is read, its ``[sweep]`` table dropped and its workload
  cut short (about 150 requests; the warmup at most a fifth of the run), then simulated;
  each ``tests/scenarios/*.toml`` (test scenarios, such as an elastic fleet busy enough
  that scaling, spot interruptions, failures and overflow all happen) runs as written. A
  rounded subset of the summary (counts exactly, floats to 4 significant digits; money,
  break-even, elastic and saturation figures included) must equal
  ``tests/golden/<stem>.json``. A scenario that cannot run has its error text as golden.
* Plans: ``simplan plan`` of every shipped scenario (verified by simulation), as
  ``tests/golden/plan/<stem>.json``.
* Fast sweeps: the grid of every shipped scenario with a ``[sweep]``, summarised per
  variable, as ``tests/golden/sweep/<stem>.json``.

The tests only compare. After an intended change of the model, regenerate with::

    python tools/update_goldens.py

which lists every golden that moved and which keys; review the diff of ``tests/golden/``
and name the change in the commit.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from simplan.errors import SimplanError
from simplan.metrics import summarize
from simplan.scenario import scenario_from_dict
from simplan.sim import simulate

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "scenarios").glob("*.toml"))
TEST_SCENARIOS = sorted((Path(__file__).resolve().parent / "scenarios").glob("*.toml"))
SCENARIOS = SHIPPED + TEST_SCENARIOS
GOLDEN = Path(__file__).resolve().parent / "golden"

#: Requests a shortened open-loop scenario aims at, and the cap for offline batches.
TARGET_REQUESTS = 150
MAX_OFFLINE = 200

COUNTS = (
    "requests_total",
    "requests_completed",
    "requests_rejected",
    "requests_in_flight",
    "preemptions",
    "num_gpus",
    "replicas",
)
FLOATS = (
    "duration_s",
    "window_start_s",
    "window_end_s",
    "output_tokens_per_s",
    "input_tokens_per_s",
    "requests_per_s",
    "gpu_utilization",
    "capacity_utilization",
    "kv_cache_utilization",
    "mean_requests_in_system",
    "mfu",
    "mbu",
    "slo_attainment",
    "goodput_requests_per_s",
    "fleet_usd_per_hour",
    "usd_per_mtok_output",
    "usd_per_mtok_total",
    "fleet_capacity_mtok_per_month",
    "monthly_tokens",
    "monthly_cost_usd",
    "fleet_monthly_cost_usd",
    "api_overflow_monthly_cost_usd",
    "mean_replicas_up",
)
ELASTIC_COUNTS = (
    "replicas_provisioned",
    "replica_failures",
    "spot_interruptions",
    "requests_to_api",
    "requests_retried",
    "requests_requeued",
)
ELASTIC_FLOATS = ("fleet_cost_usd", "total_monthly_cost_usd", "api_share_of_requests")
LATENCIES = ("ttft_s", "tpot_s", "e2e_s", "queue_delay_s")
STATS = ("mean", "p50", "p99")


def shortened(raw: dict[str, Any]) -> dict[str, Any]:
    """The scenario without its sweep and with a short workload."""
    raw = {k: v for k, v in raw.items() if k != "sweep"}
    w = dict(raw["workload"])
    if w.get("arrival") == "offline":
        w["num_requests"] = min(int(w["num_requests"]), MAX_OFFLINE)
    elif w.get("arrival") == "closed":
        w["duration_s"] = min(float(w.get("duration_s") or 60.0), 60.0)
        w.pop("num_requests", None)
    elif w.get("rate_per_s"):
        # about TARGET_REQUESTS arrivals; the duration, not a count, bounds the stream
        w["duration_s"] = min(float(w.get("duration_s") or 1e12), TARGET_REQUESTS / w["rate_per_s"])
        w.pop("num_requests", None)
    else:  # a trace
        w["num_requests"] = min(int(w.get("num_requests") or MAX_OFFLINE), MAX_OFFLINE)
    raw["workload"] = w
    sim = dict(raw.get("simulation", {}))
    if w.get("duration_s") and sim.get("warmup_s"):
        # keep most of the short run in the measurement window
        sim["warmup_s"] = min(float(sim["warmup_s"]), 0.2 * float(w["duration_s"]))
        raw["simulation"] = sim
    return raw


def round4(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.4g}")


def golden_summary(s: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: s[k] for k in COUNTS}
    out["reject_reasons"] = s["reject_reasons"]
    out["slo_met"] = s["slo_met"]
    out.update({k: round4(s[k]) for k in FLOATS})
    if "spec_decode_tokens_per_step" in s:  # speculative decoding only
        out["spec_decode_tokens_per_step"] = round4(s["spec_decode_tokens_per_step"])
    for key in LATENCIES:
        out[key] = {stat: round4(s[key][stat]) for stat in STATS}
    out["slo"] = {
        name: {"achieved": round4(o["achieved"]), "met": o["met"]} for name, o in s["slo"].items()
    }
    out["api_monthly_cost_usd"] = {
        name: round4(a["monthly_cost_usd"]) for name, a in sorted(s["api"].items())
    }
    out["breakeven_mtok_per_month"] = {
        name: [round4(a["breakeven_mtok_per_month"]), a["breakeven_within_capacity"]]
        for name, a in sorted(s["api"].items())
    }
    out["api_rate_limit_use"] = {
        name: round4(a["rate_limit_use"]) for name, a in sorted(s["api"].items())
    }
    out["slo_judged_on"] = s["slo_judged_on"]
    if "elastic" in s:
        e = s["elastic"]
        out["elastic"] = {k: e[k] for k in ELASTIC_COUNTS} | {
            k: round4(e[k]) for k in ELASTIC_FLOATS
        }
    if "job" in s:
        j = s["job"]
        out["job"] = {k: round4(j[k]) for k in ("makespan_s", "gpu_hours", "fleet_cost_usd")} | {
            "deadline_met": j["deadline_met"],
            "api_list_usd": {a: round4(v["list_usd"]) for a, v in sorted(j["api"].items())},
        }
    if "saturation" in s:
        out["saturation"] = {k: round4(v) for k, v in sorted(s["saturation"].items())}
    return out


def compute(path: Path) -> dict[str, Any]:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    if path in SHIPPED:
        raw = shortened(raw)
    try:
        scenario = scenario_from_dict(raw, source=str(path.relative_to(ROOT)))
        return {"summary": golden_summary(summarize(simulate(scenario)))}
    except SimplanError as exc:
        return {"error": str(exc)}


def test_there_are_scenarios() -> None:
    assert SCENARIOS


def check_golden(got: dict[str, Any], golden_path: Path) -> None:
    assert golden_path.exists(), f"no golden file {golden_path}; run python tools/update_goldens.py"
    expected = json.loads(golden_path.read_text(encoding="utf-8"))
    assert got == expected


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_golden_summary(path: Path) -> None:
    check_golden(compute(path), GOLDEN / f"{path.stem}.json")


def test_the_elastic_golden_exercises_every_elastic_mechanism() -> None:
    e = json.loads((GOLDEN / "elastic_busy.json").read_text(encoding="utf-8"))["summary"]
    assert e["elastic"]["replicas_provisioned"] > 3  # the autoscaler added replicas
    assert e["elastic"]["spot_interruptions"] > 0
    assert e["elastic"]["replica_failures"] > 0
    assert e["elastic"]["requests_to_api"] > 0
    assert e["api_overflow_monthly_cost_usd"] > 0


def golden_plan(path: Path) -> dict[str, Any]:
    from simplan import api

    try:
        r = api.plan(path)
    except SimplanError as exc:
        return {"error": str(exc).replace(str(ROOT) + "/", "")}  # the same on any checkout

    def fleet(c: dict[str, Any]) -> dict[str, Any]:
        keep = ("gpu", "weights", "tp", "pricing", "replicas", "fast_replicas", "verified")
        options = {"options": c["options"]} if c.get("options") else {}
        return (
            {k: c[k] for k in keep}
            | options
            | {k: round4(c[k]) for k in ("monthly_cost_usd", "usd_per_mtok_total")}
        )

    return {
        "target_rate_per_s": round4(r["target_rate_per_s"]),
        "monthly_tokens": round4(r["monthly_tokens"]),
        "recommended": fleet(r["recommended"]) if r["recommended"] else None,
        "runners_up": [fleet(c) for c in r["runners_up"]],
        "apis": {
            a["id"]: {
                "monthly_cost_usd": round4(a["monthly_cost_usd"]),
                "crossover_tokens_per_month": round4(a.get("crossover_tokens_per_month")),
                "rate_limit_use": round4((a.get("rate_limit") or {}).get("use")),
            }
            for a in r["apis"]
        },
        "infeasible": len(r["infeasible"]),
        **({"disaggregated": _split(r["disaggregated"])} if r.get("disaggregated") else {}),
    }


def _split(d: dict[str, Any]) -> dict[str, Any]:
    """A prefill/decode split's sizes and cost, as plan sized them by simulation."""
    return {
        "holds": d["holds"],
        "prefill_replicas": d["prefill"]["replicas"],
        "decode_replicas": d["decode"]["replicas"],
        "monthly_cost_usd": round4(d["monthly_cost_usd"]),
    }


@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_golden_plan(path: Path) -> None:
    check_golden(golden_plan(path), GOLDEN / "plan" / f"{path.stem}.json")


SWEPT = [p for p in SHIPPED if "[sweep]" in p.read_text(encoding="utf-8")]


def golden_sweep(path: Path) -> dict[str, Any]:
    import numpy as np
    from simplan import api

    ds = api.sweep(path, method="fast")
    out: dict[str, Any] = {
        "shape": {str(d): int(n) for d, n in ds.sizes.items()},
        "reason": {str(k): int((ds["reason"].values == k).sum()) for k in range(5)},
        "slo_status": {str(k): int((ds["slo_status"].values == k).sum()) for k in range(3)},
    }
    for name in sorted(ds.data_vars):
        if ds[name].dtype.kind not in "fiub":
            continue  # text: sources of the provenance
        v = ds[name].values.astype(float)
        v = v[np.isfinite(v)]
        if v.size and name not in ("reason", "slo_status", "feasible", "slo_met"):
            out[name] = [round4(float(v.min())), round4(float(v.mean())), round4(float(v.max()))]
    return out


@pytest.mark.parametrize("path", SWEPT, ids=[p.stem for p in SWEPT])
def test_golden_fast_sweep(path: Path) -> None:
    check_golden(golden_sweep(path), GOLDEN / "sweep" / f"{path.stem}.json")


def test_no_stale_golden_files() -> None:
    expected = {
        GOLDEN: {p.stem for p in SCENARIOS},
        GOLDEN / "plan": {p.stem for p in SHIPPED},
        GOLDEN / "sweep": {p.stem for p in SWEPT},
    }
    for folder, stems in expected.items():
        stale = sorted(p.name for p in folder.glob("*.json") if p.stem not in stems)
        assert not stale, f"golden files without a scenario in {folder}: {stale}"
