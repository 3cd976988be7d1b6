"""Cases a review of the one-answer work found: each failed before its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from simplan import api
from simplan.cli import main
from simplan.errors import SimplanError

BASE = """
name = "review"
[model]
name = "llama-3.1-8b"
weights = "fp8"
[hardware]
gpu = "h100-sxm"
[workload]
arrival = "poisson"
rate_per_s = {rate}
duration_s = {duration}
input_tokens = 500
output_tokens = 200
{extra}
[pricing]
apis = ["gpt-4o"]
[simulation]
seed = 1
warmup_s = 10
"""

DIURNAL = json.dumps([1.0, 2.0] + [0.5] * 22)


def scenario(tmp_path: Path, name: str = "s.toml", **kw: object) -> Path:
    values = {"rate": 2.0, "duration": 120, "extra": ""} | kw
    p = tmp_path / name
    p.write_text(BASE.format(**values), encoding="utf-8")
    return p


def test_a_daily_cycle_without_objectives_is_written_and_read_back(tmp_path: Path) -> None:
    p = scenario(tmp_path, rate=0.2, duration=7300, extra=f"diurnal = {DIURNAL}")
    s = api.run(p, output_dir=tmp_path / "out")
    assert s["slo_met"] is None and all(h["met"] is None for h in s["slo_hourly"])
    assert api.report(tmp_path / "out").exists()


def test_a_run_prices_a_daily_cycle_at_the_days_mean_rate(tmp_path: Path) -> None:
    # two hours of the cycle (x1 then x2); the month is priced at the day's mean (x0.5625)
    p = scenario(tmp_path, rate=0.2, duration=7300, extra=f"diurnal = {DIURNAL}")
    s = api.run(p, write=False)
    mean = (1.0 + 2.0 + 0.5 * 22) / 24
    assert s["monthly_tokens"] == pytest.approx(0.2 * mean * 700 * 730 * 3600)


def test_plan_without_objectives_recommends_a_verified_fleet(tmp_path: Path) -> None:
    p = scenario(tmp_path)
    r = api.plan(p, gpus=["h100-sxm"], weights=["fp8"], tp=[1], pricing=["on_demand"])
    assert r["recommended"] is not None and r["recommended"]["verified"]
    assert r["recommended"]["replicas"] == 1


def test_verification_keeps_the_scenarios_arrival_process(tmp_path: Path) -> None:
    # bursty (gamma) arrivals need more than a Poisson check would show
    p = scenario(
        tmp_path,
        rate=30.0,
        duration=300,
        extra="burstiness = 16\n[slo]\nttft_p95_s = 0.5",
    )
    text = p.read_text("utf-8").replace('arrival = "poisson"', 'arrival = "gamma"')
    p.write_text(text.replace("input_tokens = 500", "input_tokens = 1000"), "utf-8")
    r = api.plan(p, gpus=["h100-sxm"], weights=["fp8"], tp=[1], pricing=["on_demand"])
    best = r["recommended"]
    text = p.read_text("utf-8").replace(
        "[hardware]\n", f"[hardware]\nreplicas = {best['replicas']}\n"
    )
    check = best["verification"][-1]
    for seed in check["seeds"]:
        q = tmp_path / f"check_{seed}.toml"
        q.write_text(
            text.replace("seed = 1", f"seed = {seed}")
            .replace("duration_s = 300", f"duration_s = {check['duration_s']!r}")
            .replace("warmup_s = 10", f"warmup_s = {check['warmup_s']!r}"),
            "utf-8",
        )
        assert api.run(q, write=False)["slo_met"] is True


def test_a_light_load_keeps_the_replicas_capacity_for_the_crossover(tmp_path: Path) -> None:
    p = scenario(tmp_path, rate=0.2, extra="[slo]\nttft_p95_s = 1.0")
    kw = {"gpus": ["h100-sxm"], "weights": ["fp8"], "tp": [1], "pricing": ["on_demand"]}
    fast = api.plan(p, verify_candidates=0, **kw)
    checked = api.plan(p, **kw)
    cross = [a["crossover_tokens_per_month"] for a in checked["apis"]]
    assert cross == [a["crossover_tokens_per_month"] for a in fast["apis"]]
    assert cross[0] is not None
    assert checked["recommended"]["replica_rate_under_slo_per_s"] > 10 * 0.2


def test_a_sweep_over_slo_limits_names_its_axes_apart_from_results(tmp_path: Path) -> None:
    p = scenario(
        tmp_path, extra='[sweep]\n"slo.ttft_p95_s" = [0.01, 5.0]\n"hardware.replicas" = [1, 2]'
    )
    ds = api.sweep(p, method="fast")
    assert "slo_ttft_p95_s" in ds.dims and "ttft_p95_s" in ds.data_vars


def test_fast_sweeps_refuse_what_they_do_not_model(tmp_path: Path) -> None:
    pools = scenario(
        tmp_path,
        "pools.toml",
        extra='[[hardware.pools]]\ngpu = "a100-sxm4-80gb"\npricing = "spot"\n'
        '[sweep]\n"workload.rate_per_s" = [2.0, 4.0]',
    )
    with pytest.raises(SimplanError, match=r"hardware\.pools"):
        api.sweep(pools, method="fast")
    job = tmp_path / "job.toml"
    job.write_text(
        BASE.format(rate=1.0, duration=60, extra='[sweep]\n"hardware.replicas" = [1, 2]').replace(
            'arrival = "poisson"\nrate_per_s = 1.0\nduration_s = 60',
            'arrival = "offline"\nnum_requests = 50\ndeadline_s = 30',
        ),
        "utf-8",
    )
    r = CliRunner().invoke(main, ["sweep", str(job)])
    assert r.exit_code == 2 and "finite job" in r.output


def test_a_swept_price_prices_only_the_written_pool_in_both_methods(tmp_path: Path) -> None:
    from simplan.scenario import read_scenario_dict
    from simplan.sweep import simulate_point

    p = scenario(
        tmp_path,
        extra='[sweep]\n"hardware.gpu" = ["h100-sxm", "a100-sxm4-80gb"]\n'
        '"hardware.price_usd_per_gpu_hour" = [1.0, 2.0]',
    )
    fast = api.sweep(p, method="fast")
    raw = read_scenario_dict(p)
    keys = ["hardware.gpu", "hardware.price_usd_per_gpu_hour"]
    for gpu in ("h100-sxm", "a100-sxm4-80gb"):
        for price in (1.0, 2.0):
            sim = simulate_point(raw, keys, [gpu, price], str(p))
            assert sim["replica_usd_per_hour"] == pytest.approx(
                float(fast["replica_usd_per_hour"].sel(gpu=gpu, price_usd_per_gpu_hour=price))
            )
