"""`simplan plan`: ranking, sizing, API comparison, hybrid and uncertainty band."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from simplan import api, catalog
from simplan.cli import main

BASE = """
name = "plan test"
[model]
name = "llama-3.1-8b"
weights = "fp16"
[hardware]
gpu = "a100-sxm4-80gb"
[workload]
rate_per_s = 20.0
duration_s = 600
input_tokens = 500
output_tokens = 200
[slo]
ttft_p95_s = 1.0
tpot_p95_s = 0.05
[pricing]
apis = ["gpt-4o", "deepseek-v3"]
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    p = tmp_path / "plan.toml"
    p.write_text(BASE, encoding="utf-8")
    return p


def test_plan_ranks_candidates_by_monthly_cost(scenario: Path) -> None:
    result = api.plan(
        scenario,
        gpus=["a100-sxm4-80gb", "h100-sxm", "l40s"],
        weights=["fp16", "int4-awq"],
        tp=[1, 2],
    )
    rows = [result["recommended"], *result["runners_up"]]
    costs = [r["monthly_cost_usd"] for r in rows]
    assert costs == sorted(costs)
    assert result["candidates_considered"] == 12


def test_the_fleet_is_sized_to_meet_the_slo_at_the_target_load(scenario: Path) -> None:
    result = api.plan(scenario)
    best = result["recommended"]
    assert best["replicas"] == math.ceil(20.0 / best["replica_rate_under_slo_per_s"] - 1e-9)
    assert best["ttft_s"] <= 1.0 and best["tpot_s"] <= 0.05
    assert 0 < best["utilization"] <= 1
    # fewer replicas could not carry the load within the SLO
    assert (best["replicas"] - 1) * best["replica_rate_under_slo_per_s"] < 20.0


def test_cost_band_brackets_the_estimate(scenario: Path) -> None:
    best = api.plan(scenario)["recommended"]
    lo, hi = best["band"]["monthly_cost_usd"]
    assert lo <= best["monthly_cost_usd"] <= hi
    assert best["band"]["replicas"][0] <= best["replicas"] <= best["band"]["replicas"][1]


def test_the_plan_says_how_sure_it_is_and_what_would_change_it(scenario: Path) -> None:
    result = api.plan(scenario)
    best = result["recommended"]
    sure = [n for n in result["notes"] if n.startswith("how sure:")]
    assert len(sure) == 1
    held = "held its SLO in simulation" in sure[0]
    assert held == bool(best["verified"])
    hi_err = best["band"]["error_quantiles"][1]
    assert f"{hi_err:.0%} slower than modelled" in sure[0]
    more = best["band"]["replicas"][1] - best["fast_replicas"]
    if more > 0:  # the pessimistic screen needs more replicas: the sentence names how many
        assert f"{best['replicas'] + more} replicas are needed" in sure[0]
    else:
        assert "sizes the same fleet" in sure[0]


def test_api_comparison_and_crossover(scenario: Path) -> None:
    result = api.plan(scenario)
    best = result["recommended"]
    by_id = {a["id"]: a for a in result["apis"]}
    gpt = by_id["gpt-4o"]
    # GPT-4o at 20 req/s x 700 tokens is far dearer than a couple of A100s
    assert gpt["self_hosting_cheaper"] is True
    cross = gpt["crossover_tokens_per_month"]
    blended = (500 * 2.5 + 200 * 10.0) / 700
    assert cross == pytest.approx(best["replica_usd_per_hour"] * 730 / blended * 1e6)


def test_hybrid_is_never_dearer_than_either_pure_option(tmp_path: Path) -> None:
    p = tmp_path / "diurnal.toml"
    p.write_text(
        BASE.replace(
            "rate_per_s = 20.0",
            "rate_per_s = 20.0\ndiurnal = " + json.dumps([0.2] * 12 + [1.0] * 12),
        ),
        encoding="utf-8",
    )
    result = api.plan(p)
    for a in result["apis"]:
        h = a["hybrid"]
        pure_fleet = result["recommended"]["monthly_cost_usd"]
        assert h["total_monthly_usd"] <= min(pure_fleet, a["monthly_cost_usd"]) + 1e-6
        assert h["total_monthly_usd"] == pytest.approx(
            h["fleet_monthly_usd"] + h["api_monthly_usd"]
        )


def test_infeasible_candidates_are_listed_with_reasons(scenario: Path) -> None:
    result = api.plan(scenario, gpus=["l4"], weights=["fp16"], tp=[1, 3])
    reasons = " ".join(c["reason"] for c in result["infeasible"])
    assert "tp" in reasons  # 3 does not divide the heads


def test_cli_plan_prints_the_table(scenario: Path) -> None:
    r = CliRunner().invoke(
        main, ["plan", str(scenario), "--gpu", "h100-sxm", "--gpu", "a100-sxm4-80gb"]
    )
    assert r.exit_code == 0, r.output
    assert "cheapest first" in r.output and "gpt-4o" in r.output and "band" in r.output


def test_unknown_candidate_ids_are_refused_with_the_nearest_id(scenario: Path) -> None:
    """A typo in --gpu or --weights is a user error (exit 2), not an infeasible row."""
    r = CliRunner().invoke(
        main, ["plan", str(scenario), "--gpu", "h100", "--gpu", "l4", "--weights", "fp9"]
    )
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: ") and "Traceback" not in r.output
    assert "--gpu = 'h100'" in r.output and "did you mean 'h100-sxm'?" in r.output
    assert "--weights = 'fp9'" in r.output and "did you mean 'fp8'?" in r.output
    assert "'l4'" not in r.output.split("allowed")[0]  # the valid candidate is not blamed


def test_plan_without_a_rate_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "closed.toml"
    p.write_text(
        BASE.replace("rate_per_s = 20.0", 'arrival = "closed"\nconcurrency = 4'), encoding="utf-8"
    )
    r = CliRunner().invoke(main, ["plan", str(p)])
    assert r.exit_code == 2 and "rate_per_s" in r.output


def test_plan_prices_fleets_that_follow_the_daily_cycle(tmp_path: Path) -> None:
    diurnal = [0.2] * 12 + [1.0] * 12
    p = tmp_path / "diurnal.toml"
    p.write_text(
        BASE.replace("rate_per_s = 20.0", "rate_per_s = 40.0\ndiurnal = " + json.dumps(diurnal)),
        encoding="utf-8",
    )
    result = api.plan(p, gpus=["a100-sxm4-80gb"], weights=["fp16"], tp=[1], pricing=["on_demand"])
    best = result["recommended"]
    options = {o["option"].split(":")[0].split(",")[0]: o for o in result["elastic_options"]}
    fixed = options["fixed"]
    auto = options["autoscaled on-demand"]
    # the fixed fleet is sized for the peak all day; autoscaling pays for the hours used
    assert fixed["replica_hours_per_day"] == best["replicas"] * 24
    per_replica = best["replica_rate_under_slo_per_s"]
    need = [max(1, math.ceil(40.0 * m / per_replica - 1e-9)) for m in diurnal]
    assert auto["replica_hours_per_day"] == sum(need)
    assert auto["monthly_cost_usd"] < fixed["monthly_cost_usd"]
    gpu = catalog.gpu("a100-sxm4-80gb")
    assert auto["monthly_cost_usd"] == pytest.approx(
        sum(need) * gpu.price_on_demand_usd_per_hour * 730 / 24
    )


def test_the_reasons_count_candidates_that_do_not_fit_apart_from_invalid_ones(
    tmp_path: Path,
) -> None:
    p = tmp_path / "big.toml"
    p.write_text(BASE.replace('name = "llama-3.1-8b"', 'name = "llama-3.1-70b"'), encoding="utf-8")
    result = api.plan(p, gpus=["h100-sxm"], weights=["fp16"], tp=[1, 3, 8], verify_candidates=0)
    by_tp = {c["tp"]: c["reason"] for c in result["infeasible"]}
    assert by_tp[1] == "does not fit in GPU memory" and "heads" in by_tp[3]
    assert any(
        "1 candidates do not fit in GPU memory and 1 cannot meet" in r for r in result["reasons"]
    ), result["reasons"]
