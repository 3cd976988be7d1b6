#!/usr/bin/env python3
"""How well the fast model of a prefill/decode split (``simplan.split_model``) matches the
simulation of the same split fleet.

Draws N configurations from ``tools/fit_tail.py``'s design generator (its own seed, so
none was used to fit anything), turns each into a split fleet (one to three prefill and
one to three decode replicas of the same GPU and parallelism, the KV cache moving over
InfiniBand, 50 GB/s per GPU, or NVLink), sets the rate to a load of 10-85% of the split's
sustainable rate (its slower side's), and simulates it with ``--seeds`` seeds (statistics
averaged; cached under ``results/``, an interrupted run resumes). Reports
|fast/simulated - 1| of the mean and p95 of TTFT, TPOT and e2e (median and 90th
percentile over configurations), overall and by the busier side, and the seed-to-seed
noise of the reference.

Usage: ``python benchmarks/bench_split.py [--configs 40] [--seeds 2] [--window 3000]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import fit_tail as ft  # noqa: E402

SEED = ft.SEED + 15
NVLINK_GB_PER_S = 450.0  # H100 NVLink 4: 900 GB/s both directions per GPU


def split_design(n: int) -> list[dict[str, Any]]:
    """``n`` split configurations (scenario dict with its rate), deterministic."""
    from simplan.pools import max_rate_per_replica
    from simplan.scenario import scenario_from_dict
    from simplan.split_model import split_pools
    from simplan.workload import mean_lengths

    rng = np.random.default_rng(SEED)
    out: list[dict[str, Any]] = []
    for base in ft.design(3 * n, seed=SEED):
        if len(out) == n:
            break
        raw = base["raw"]
        hw = raw["hardware"]
        n_p, n_d = (int(x) for x in rng.integers(1, 4, 2))
        link = 50.0 if rng.uniform() < 0.7 else NVLINK_GB_PER_S
        raw["hardware"] = {**hw, "replicas": n_p, "role": "prefill", "kv_transfer_gb_per_s": link}
        raw["hardware"]["pools"] = [{**hw, "replicas": n_d, "role": "decode"}]
        try:
            sc = scenario_from_dict(raw, source="split design")
            split_pools(sc, "split design")
        except Exception:  # a fleet the catalog or the split's rules refuse
            continue
        # the fleet's capacity as the simulation's overload guard sees it, independent
        # of the fast model being measured
        i_len, o_len = mean_lengths(sc)
        prefill, decode = split_pools(sc, "split design")
        r_max = min(
            n_p * max_rate_per_replica(prefill, i_len, o_len),
            n_d * max_rate_per_replica(decode, i_len, o_len),
        )
        if not r_max > 0.0:
            continue
        load = float(min(base["load"], 0.85))
        out.append({"raw": raw, "rate_per_s": load * r_max, "load": load})
    return out


def simulate(run: dict[str, Any]) -> dict[str, Any]:
    """One seed of one configuration: its rate and (mean, p50, p90, p95, p99) of each
    metric (``sim``)."""
    from simplan.scenario import scenario_from_dict
    from simplan.sim import simulate as sim

    raw = json.loads(json.dumps(run["raw"]))
    rate = run["rate_per_s"]
    raw["workload"].update(rate_per_s=rate, duration_s=ft.WARMUP_S + run["window"] / rate)
    raw["simulation"] = {"seed": run["seed"], "warmup_s": ft.WARMUP_S}
    stats = ft.request_stats(sim(scenario_from_dict(raw, source="split design")))
    return {"rate_per_s": rate, "sim": stats}


def colocated_reading(
    sc: Any, rate_per_s: float, n_prefill: int, moved_s: float
) -> tuple[float, float]:
    """The baseline: (mean, p95) TTFT of a prefill replica read with the colocated fast
    model as a replica whose requests produce one token, plus the mean transfer."""
    from simplan import latency_model as lm
    from simplan.split_model import split_pools

    p, _ = split_pools(sc, "split design")
    sh = lm.shapes([sc])
    one = lm.Shapes(sh.i_len, np.ones(1), sh.i_pts, np.ones_like(sh.o_pts), sh.ca2)
    point = lm.ReplicaModel.of(p.replica.cfg, sc, one).at_rate(rate_per_s / n_prefill)
    return (
        float(point[lm.column("ttft_mean_s")]) + moved_s,
        float(point[lm.column("ttft_p95_s")]) + moved_s,
    )


def line(name: str, e: np.ndarray) -> str:
    a = np.abs(e)
    if a.size == 0:
        return f"  {name:30s} n=  0"
    return (
        f"  {name:30s} n={a.size:3d}  median {np.median(a):6.1%}  p90 {np.percentile(a, 90):6.1%}"
        f"  signed median {np.median(e):+6.1%}"
    )


def main() -> int:
    from simplan import latency_model as lm
    from simplan.scenario import scenario_from_dict
    from simplan.split_model import SplitModel

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=40)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--window", type=int, default=3000, help="measured requests per run")
    ap.add_argument("--cache", type=Path, default=ROOT / "results" / "split_design.json")
    args = ap.parse_args()
    points = split_design(args.configs)
    sims = ft.measure(points, args.cache, 2, args.window, args.seeds, run=simulate)
    rows = []
    for p, measured in zip(points, sims, strict=True):
        each = [e["sim"] for e in measured["by_seed"]]
        sc = scenario_from_dict(p["raw"], source="split design")
        n_p, n_d = sc.hardware.replicas, sc.hardware.pools[0].replicas
        model = SplitModel.of(sc)
        fast = model.at_rate(p["rate_per_s"], n_p, n_d)
        sim = {m: np.mean([e[m] for e in each], axis=0) for m in ft.METRICS}
        load_p = p["rate_per_s"] / (n_p * model.prefill.r_max_per_s)
        load_d = p["rate_per_s"] / (n_d * model.decode.r_max_per_s)
        row = {"busier": "prefill" if load_p >= load_d else "decode", "noise": {}}
        base = colocated_reading(sc, p["rate_per_s"], n_p, model.transfer_mean_s)
        for j, stat in ((0, "mean"), (3, "p95")):
            row[f"baseline_{stat}"] = base[j // 3] / sim["ttft_s"][j] - 1
        for m in ft.METRICS:
            for stat in ("mean", "p95"):
                j = ft.STATS.index(stat)
                f = fast[lm.column(f"{m[:-2]}_{stat}_s")]
                row[f"{m}_{stat}"] = f / sim[m][j] - 1 if np.isfinite(f) else np.inf
            if len(each) > 1:
                row["noise"][m] = each[1][m][3] / each[0][m][3] - 1
        rows.append(row)
    print(f"{len(rows)} split configurations, {args.seeds} seeds, {args.window} requests each")
    for m in ft.METRICS:
        for stat in ("mean", "p95"):
            key = f"{m}_{stat}"
            print(line(key, np.array([r[key] for r in rows])))
            for side in ("prefill", "decode"):
                e = np.array([r[key] for r in rows if r["busier"] == side])
                print(line(f"  busier side {side}", e))
    print("baseline: the prefill side read as a colocated replica producing one token")
    for stat in ("mean", "p95"):
        print(line(f"ttft_s_{stat}", np.array([r[f"baseline_{stat}"] for r in rows])))
    if args.seeds > 1:
        print("reference noise (p95, seed 2 / seed 1 - 1):")
        for m in ft.METRICS:
            print(line(m, np.array([r["noise"][m] for r in rows])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
