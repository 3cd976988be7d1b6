"""Golden summaries of the shipped scenarios, run on a short horizon.

Each ``scenarios/*.toml`` is read, its ``[sweep]`` table dropped and its workload cut
short (about 150 requests; the warmup at most a fifth of the run), then simulated; a
rounded subset of the summary (counts exactly, floats to 4 significant digits) must equal
``tests/golden/<stem>.json``. A scenario that cannot run (a model that does not fit) has
its error text as the golden.

Regenerate after an intended change of the model with::

    SIMPLAN_UPDATE_GOLDEN=1 pytest tests/test_golden.py

and review the diff of ``tests/golden/`` like any other change.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
from simplan.errors import SimplanError
from simplan.metrics import summarize
from simplan.scenario import scenario_from_dict
from simplan.sim import simulate

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("SIMPLAN_UPDATE_GOLDEN", "") not in ("", "0")

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
)
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
    for key in LATENCIES:
        out[key] = {stat: round4(s[key][stat]) for stat in STATS}
    out["slo"] = {
        name: {"achieved": round4(o["achieved"]), "met": o["met"]} for name, o in s["slo"].items()
    }
    out["api_monthly_cost_usd"] = {
        name: round4(a["monthly_cost_usd"]) for name, a in sorted(s["api"].items())
    }
    return out


def compute(path: Path) -> dict[str, Any]:
    raw = shortened(tomllib.loads(path.read_text(encoding="utf-8")))
    try:
        scenario = scenario_from_dict(raw, source=str(path.relative_to(ROOT)))
        return {"summary": golden_summary(summarize(simulate(scenario)))}
    except SimplanError as exc:
        return {"error": str(exc)}


def test_there_are_scenarios() -> None:
    assert SCENARIOS


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_golden_summary(path: Path) -> None:
    got = compute(path)
    golden_path = GOLDEN / f"{path.stem}.json"
    if UPDATE:
        golden_path.parent.mkdir(parents=True, exist_ok=True)
        golden_path.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return
    assert golden_path.exists(), (
        f"no golden file {golden_path}; run SIMPLAN_UPDATE_GOLDEN=1 pytest tests/test_golden.py"
    )
    expected = json.loads(golden_path.read_text(encoding="utf-8"))
    assert got == expected


def test_no_stale_golden_files() -> None:
    stems = {p.stem for p in SCENARIOS}
    stale = sorted(p.name for p in GOLDEN.glob("*.json") if p.stem not in stems)
    assert not stale, f"golden files without a scenario: {stale}"
