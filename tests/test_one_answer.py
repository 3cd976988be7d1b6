"""One answer per question: money and SLO verdicts agree across run, sweep and plan.

Each test writes its own small scenario and checks one finding of the review that led to
:mod:`simplan.economics` and :mod:`simplan.slo`:

1. percentile objectives are never "met" from a mean; e2e objectives count;
2. $/Mtok is the monthly cost over the monthly volume, everywhere;
3. a price override prices only the pool it is stated for;
4. the overflow rate cap below 1 req/s: see tests/test_overflow_util.py;
5. an overflow run's totals include the API part;
6. an autoscaled run's utilization is against what was up;
8. a daily cycle's SLO is judged at its busiest hour;
9. sweep outputs never lose data: see tests/test_sweep_output.py;
10. plan's JSON is complete and finite; sweep flags follow the CF conventions;

and, last, one fleet gets the same volume, cost and $/Mtok from run, sweep and plan.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from simplan import api, catalog, latency_model
from simplan import slo as slo_eval
from simplan.economics import HOURS_PER_MONTH, SECONDS_PER_MONTH
from simplan.engine import ACTIVE, DRAINING
from simplan.metrics import request_table, summarize
from simplan.scenario import load_scenario, read_scenario_dict
from simplan.sim import simulate
from simplan.sweep import REASONS, simulate_point

MET, MISSED, NOT_VERIFIED = slo_eval.MET, slo_eval.MISSED, slo_eval.NOT_VERIFIED


def _write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A plan's feasible candidates: the recommendation, then the runners-up."""
    assert result["recommended"] is not None
    return [result["recommended"], *result["runners_up"]]


# A llama-3.1-8b replica on one H100 in FP8: ~50 req/s of 500 + 200 tokens.
H100_8B = """
[model]
name = "llama-3.1-8b"
weights = "fp8"
[hardware]
gpu = "h100-sxm"
[workload]
rate_per_s = 5.0
duration_s = 60
input_tokens = 500
output_tokens = 200
"""


# --- 1. percentile objectives vs means ---------------------------------------------------


def test_fast_status_judges_each_objective_with_its_own_statistic() -> None:
    def status(stats: dict[str, float], limits: dict[str, float], margin: float = 0.2) -> int:
        margins = {"ttft": margin, "tpot": margin, "e2e": margin}
        return int(slo_eval.fast_status(stats, limits, margins))

    # a p95 limit is judged against the predicted p95, not the mean
    assert status({"ttft_p95_s": 0.5}, {"ttft_p95_s": 1.0}) == MET
    assert status({"ttft_p95_s": 1.5}, {"ttft_p95_s": 1.0}) == MISSED
    # within the model's measured error of the limit the verdict is not verified, both sides
    assert status({"ttft_p95_s": 0.9}, {"ttft_p95_s": 1.0}) == NOT_VERIFIED
    assert status({"ttft_p95_s": 1.1}, {"ttft_p95_s": 1.0}) == NOT_VERIFIED
    assert status({"ttft_p95_s": 0.9}, {"ttft_p95_s": 1.0}, margin=0.0) == MET
    # mean objectives are judged directly (no margin), for every metric
    means = {"ttft_mean_s": 0.5, "tpot_mean_s": 0.02, "e2e_mean_s": 2.0}
    lim = {"ttft_mean_s": 1.0, "tpot_mean_s": 0.05, "e2e_mean_s": 3.0}
    assert status(means, lim) == MET
    assert status({**means, "ttft_mean_s": 0.99}, lim) == MET
    assert status({**means, "e2e_mean_s": 3.01}, lim) == MISSED
    # a missed objective outranks an unverified one; unset (inf) limits do not count
    both = {"ttft_mean_s": 0.5, "tpot_p95_s": 0.05}
    assert status(both, {"ttft_mean_s": 1.0, "tpot_p95_s": 0.05}) == NOT_VERIFIED
    assert status(both, {"ttft_mean_s": 0.4, "tpot_p95_s": 0.05}) == MISSED
    assert (
        status(
            {"ttft_p95_s": 5.0, "ttft_mean_s": 0.5}, {"ttft_p95_s": math.inf, "ttft_mean_s": 1.0}
        )
        == MET
    )
    # a NaN prediction is missed
    assert status({"ttft_mean_s": math.nan}, {"ttft_mean_s": 1.0}) == MISSED
    assert status({"ttft_p95_s": math.nan}, {"ttft_p95_s": 1.0}) == MISSED
    # arrays broadcast, each point with its own verdict
    got = slo_eval.fast_status(
        {"ttft_p95_s": np.array([0.5, 1.5, 0.95])},
        {"ttft_p95_s": 1.0},
        {"ttft": 0.1},
    )
    assert got.tolist() == [MET, MISSED, NOT_VERIFIED]


def test_fast_sweep_judges_percentiles_with_predicted_percentiles(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        H100_8B
        + "[slo]\nttft_p95_s = 0.2\ntpot_p95_s = 0.05\n"
        + '[sweep]\n"workload.rate_per_s" = [0.5, 5.0, 20.0, 45.0, 80.0]\n',
    )
    ds = api.sweep(p, method="fast")
    status = ds["slo_status"].values
    # light load meets both, saturation misses
    assert status[0] == MET and status[-1] == MISSED
    margins = latency_model.margins()
    p95 = {"ttft": ds["ttft_p95_s"].values, "tpot": ds["tpot_p95_s"].values}
    limit = {"ttft": 0.2, "tpot": 0.05}
    for k in range(status.size):
        if not ds["feasible"].values[k]:
            continue
        over = [p95[m][k] > limit[m] * (1 + margins[m]) for m in p95]
        sure = [p95[m][k] * (1 + margins[m]) <= limit[m] for m in p95]
        want = MISSED if any(over) else (MET if all(sure) else NOT_VERIFIED)
        assert status[k] == want, (k, p95["ttft"][k], p95["tpot"][k])
    # the published rate under the SLO is where the predicted p95s reach their limits
    r = float(ds["max_rate_under_slo_per_s"].values[0])
    assert 0.5 < r < 80.0


def test_fast_sweep_judges_mean_objectives_directly(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        H100_8B
        + "[slo]\nttft_mean_s = 0.1\ntpot_mean_s = 0.05\n"
        + '[sweep]\n"workload.rate_per_s" = [0.5, 5.0, 20.0, 45.0, 80.0]\n',
    )
    ds = api.sweep(p, method="fast")
    status = ds["slo_status"].values
    assert MET in status.tolist()
    assert NOT_VERIFIED not in status.tolist()
    np.testing.assert_array_equal(ds["slo_met"].values, status == MET)
    for k in range(status.size):
        ok = (
            ds["feasible"].values[k]
            and ds["ttft_s"].values[k] <= 0.1
            and ds["tpot_s"].values[k] <= 0.05
        )
        assert status[k] == (MET if ok else MISSED), k


@pytest.mark.parametrize("objective", ["e2e_p95_s", "e2e_mean_s"])
def test_an_e2e_limit_lowers_the_rate_under_the_slo(tmp_path: Path, objective: str) -> None:
    """With only TPOT set the replica sustains ~50 req/s within it; a 2 s end-to-end limit
    (the mean e2e is ~1 s light, more under load) must bind below that."""
    axis = '[sweep]\n"workload.rate_per_s" = [1.0, 10.0]\n'
    loose = _write(tmp_path, H100_8B + "[slo]\ntpot_mean_s = 0.05\n" + axis, "loose.toml")
    tight = _write(
        tmp_path,
        H100_8B + f"[slo]\ntpot_mean_s = 0.05\n{objective} = 2.0\n" + axis,
        "tight.toml",
    )
    r_loose = api.sweep(loose, method="fast")["max_rate_under_slo_per_s"].values
    r_tight = api.sweep(tight, method="fast")["max_rate_under_slo_per_s"].values
    assert np.isfinite(r_loose).all() and np.isfinite(r_tight).all()
    assert (r_tight < 0.95 * r_loose).all()

    only = {"gpus": ["h100-sxm"], "weights": ["fp8"], "tp": [1], "pricing": ["on_demand"]}
    p_loose = api.plan(loose, verify_candidates=0, **only)["recommended"]
    p_tight = api.plan(tight, verify_candidates=0, **only)["recommended"]
    assert p_tight["replica_rate_under_slo_per_s"] < 0.95 * p_loose["replica_rate_under_slo_per_s"]
    np.testing.assert_allclose(
        p_tight["replica_rate_under_slo_per_s"], r_tight[0], rtol=1e-9
    )  # plan and sweep: the same capacity under the same SLO


# --- 2. $/Mtok is the monthly cost over the monthly volume --------------------------------


def test_run_prices_tokens_at_the_stated_monthly_volume(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        '[model]\nname = "llama-3.1-8b"\n'
        '[hardware]\ngpu = "a100-sxm4-80gb"\nreplicas = 2\n'
        "[workload]\nrate_per_s = 2.0\nduration_s = 90\ninput_tokens = 400\n"
        "output_tokens = 120\nmonthly_tokens = 2e9\n"
        '[pricing]\napis = ["gpt-4o-mini", "gpt-4o"]\n'
        "[simulation]\nseed = 5\nwarmup_s = 10\n",
    )
    s = api.run(p, write=False)
    assert s["monthly_tokens"] == 2e9
    assert s["usd_per_mtok_total"] == pytest.approx(
        s["monthly_cost_usd"] / s["monthly_tokens"] * 1e6, rel=1e-9
    )
    # a fixed fleet without overflow: the month is the hourly price around the clock
    assert s["api_overflow_monthly_cost_usd"] == 0
    assert s["monthly_cost_usd"] == pytest.approx(s["fleet_usd_per_hour"] * 730, rel=1e-9)
    assert HOURS_PER_MONTH == 730
    a100 = catalog.gpu("a100-sxm4-80gb").price_usd_per_hour("on_demand")
    assert s["fleet_usd_per_hour"] == pytest.approx(2 * a100, rel=1e-9)
    # each API is priced at the same volume
    share = 400 / 520
    for api_id, entry in s["api"].items():
        a = catalog.api(api_id)
        want = 2e9 * (share * a.usd_per_mtok_input + (1 - share) * a.usd_per_mtok_output) / 1e6
        assert entry["monthly_cost_usd"] == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("monthly", ["", "monthly_tokens = 2e9\n"])
def test_every_fast_sweep_point_prices_tokens_at_its_monthly_volume(
    tmp_path: Path, monthly: str
) -> None:
    p = _write(
        tmp_path,
        H100_8B.replace("output_tokens = 200\n", "output_tokens = 200\n" + monthly)
        + '[pricing]\napis = ["gpt-4o"]\n'
        + "[sweep]\n"
        + '"hardware.gpu" = ["h100-sxm", "a100-sxm4-80gb"]\n'
        + '"hardware.replicas" = [1, 3]\n'
        + '"workload.rate_per_s" = [0.5, 5.0, 30.0, 200.0]\n',
    )
    ds = api.sweep(p, method="fast")
    cost = ds["monthly_cost_usd"].values
    vol = ds["monthly_tokens"].values
    per_mtok = ds["usd_per_mtok_total"].values
    finite = np.isfinite(per_mtok)
    assert finite.sum() >= 8
    np.testing.assert_allclose(per_mtok[finite], (cost / vol * 1e6)[finite], rtol=1e-9)
    np.testing.assert_allclose(cost, ds["fleet_usd_per_hour"].values * 730, rtol=1e-12)
    if monthly:
        np.testing.assert_array_equal(vol, 2e9)
    else:  # the offered rate around the clock
        rate = ds["rate_per_s"].broadcast_like(ds["monthly_cost_usd"])
        rate = rate.transpose(*ds["monthly_cost_usd"].dims).values
        np.testing.assert_allclose(vol, rate * 700 * SECONDS_PER_MONTH, rtol=1e-12)


def test_plan_prices_tokens_at_its_monthly_volume(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        H100_8B.replace("rate_per_s = 5.0", "rate_per_s = 40.0\nmonthly_tokens = 3e10")
        + "[slo]\nttft_p95_s = 1.0\ntpot_p95_s = 0.05\n",
    )
    result = api.plan(
        p, gpus=["h100-sxm", "a100-sxm4-80gb"], weights=["fp8", "fp16"], verify_candidates=0
    )
    assert result["monthly_tokens"] == 3e10
    rows = _rows(result)
    assert len(rows) >= 3
    for c in rows:
        assert c["usd_per_mtok_total"] == pytest.approx(
            c["monthly_cost_usd"] / result["monthly_tokens"] * 1e6, rel=1e-9
        )
        assert c["monthly_cost_usd"] == pytest.approx(
            c["replicas"] * c["replica_usd_per_hour"] * 730, rel=1e-9
        )


# --- 3. a price override prices only its own pool -----------------------------------------

OVERRIDE = """
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "a100-sxm4-80gb"
pricing = "on_demand"
price_usd_per_gpu_hour = {price}
[workload]
rate_per_s = 5.0
duration_s = 20
input_tokens = 500
output_tokens = 200
[slo]
ttft_mean_s = 1.0
{extra}
[sweep]
"hardware.gpu" = ["a100-sxm4-80gb", "h100-sxm"]
"hardware.pricing" = ["on_demand", "reserved"]
"""


def _expected_gpu_price(gpu: str, mode: str, override: float, table: dict[str, Any]) -> float:
    # the pool's own statement is the most specific, then the [pricing] table, then catalog
    if (gpu, mode) == ("a100-sxm4-80gb", "on_demand"):
        return override
    if mode in table.get(gpu, {}):
        return float(table[gpu][mode])
    return catalog.gpu(gpu).price_usd_per_hour(mode)


def _check_prices(path: Path, override: float, table: dict[str, Any]) -> None:
    ds = api.sweep(path, method="fast")
    seen = 0
    for gpu in ("a100-sxm4-80gb", "h100-sxm"):
        for mode in ("on_demand", "reserved"):
            point = ds.sel(gpu=gpu, pricing=mode)
            per_gpu = float(point["replica_usd_per_hour"]) / 1  # tp = pp = 1
            assert per_gpu == pytest.approx(_expected_gpu_price(gpu, mode, override, table)), (
                gpu,
                mode,
            )
            seen += 1
    assert seen == 4
    result = api.plan(path, verify_candidates=0, top=20)
    rows = _rows(result)
    assert {(c["gpu"], c["pricing"]) for c in rows} == {
        (g, m) for g in ("a100-sxm4-80gb", "h100-sxm") for m in ("on_demand", "reserved")
    }
    for c in rows:
        per_gpu = c["replica_usd_per_hour"] / (c["tp"] * c["pp"])
        want = _expected_gpu_price(c["gpu"], c["pricing"], override, table)
        assert per_gpu == pytest.approx(want), (c["gpu"], c["pricing"])


@pytest.mark.parametrize("price", [2.5, 2.2])
def test_a_hardware_price_override_prices_only_its_own_gpu_and_mode(
    tmp_path: Path, price: float
) -> None:
    """2.5 is the brief's value (also the catalog's A100 on-demand price); 2.2 shows that
    the override does apply where it was stated."""
    p = _write(tmp_path, OVERRIDE.format(price=price, extra=""))
    _check_prices(p, price, {})


def test_a_pricing_table_entry_changes_only_the_gpu_and_mode_it_names(tmp_path: Path) -> None:
    extra = '[pricing]\ngpu_usd_per_hour = { "h100-sxm" = { reserved = 1.0 } }'
    p = _write(tmp_path, OVERRIDE.format(price=2.2, extra=extra))
    table = {"h100-sxm": {"reserved": 1.0}}
    _check_prices(p, 2.2, table)
    # and a run of an H100 reserved pool pays it
    run = _write(
        tmp_path,
        H100_8B.replace('gpu = "h100-sxm"', 'gpu = "h100-sxm"\npricing = "reserved"\nreplicas = 2')
        + "[pricing]\n"
        + 'gpu_usd_per_hour = { "h100-sxm" = { reserved = 1.0 } }\n',
        "run.toml",
    )
    s = api.run(run, write=False)
    assert s["fleet_usd_per_hour"] == pytest.approx(2.0)


def test_simulate_sweep_points_price_only_the_written_pool(tmp_path: Path) -> None:
    p = _write(tmp_path, OVERRIDE.format(price=2.2, extra=""))
    raw = read_scenario_dict(p)
    keys = ["hardware.gpu", "hardware.pricing"]
    got = {}
    for gpu in ("a100-sxm4-80gb", "h100-sxm"):
        for mode in ("on_demand", "reserved"):
            r = simulate_point(raw, keys, [gpu, mode], str(p))
            assert r["reason"] == 0
            got[gpu, mode] = r["replica_usd_per_hour"]
    for (gpu, mode), usd in got.items():
        assert usd == pytest.approx(_expected_gpu_price(gpu, mode, 2.2, {})), (gpu, mode)


def test_both_price_overrides_give_one_price_in_run_sweep_and_plan(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        '[model]\nname = "llama-3.1-8b"\n'
        '[hardware]\ngpu = "a100-sxm4-80gb"\npricing = "on_demand"\n'
        "price_usd_per_gpu_hour = 2.2\n"
        '[pricing]\ngpu_usd_per_hour = { "a100-sxm4-80gb" = { on_demand = 3.0 } }\n'
        "[workload]\nrate_per_s = 1.0\nduration_s = 20\ninput_tokens = 500\n"
        "output_tokens = 200\n"
        '[sweep]\n"hardware.replicas" = [1]\n',
    )
    run = api.run(p, write=False)["fleet_usd_per_hour"]
    sweep = float(api.sweep(p, method="fast")["replica_usd_per_hour"].values[0])
    plan = api.plan(
        p,
        gpus=["a100-sxm4-80gb"],
        weights=["fp16"],
        tp=[1],
        pricing=["on_demand"],
        verify_candidates=0,
    )["recommended"]["replica_usd_per_hour"]
    assert run == pytest.approx(plan)
    assert sweep == pytest.approx(plan)
    assert plan == pytest.approx(2.2)  # the pool's own price comes before the table


# --- 4. overflow rate cap below 1 req/s: tests/test_overflow_util.py ----------------------

# --- 5. an overflow run's totals include the API part --------------------------------------

OVERFLOW = """
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "a100-sxm4-80gb"
[workload]
rate_per_s = 20.0
duration_s = 240
input_tokens = 400
output_tokens = 120
{monthly}
[overflow]
api = "gpt-4o"
rate_cap_per_s = 8.0
[pricing]
apis = ["gpt-4o", "deepseek-v3"]
[simulation]
seed = 5
warmup_s = 10
timeseries_interval_s = 5
"""


def test_overflow_totals_include_the_api_part(tmp_path: Path) -> None:
    s = api.run(_write(tmp_path, OVERFLOW.format(monthly="")), write=False)
    assert s["api_overflow_monthly_cost_usd"] > 0
    assert s["monthly_cost_usd"] == pytest.approx(
        s["fleet_monthly_cost_usd"] + s["api_overflow_monthly_cost_usd"], rel=1e-12
    )
    assert s["fleet_monthly_cost_usd"] == pytest.approx(s["fleet_usd_per_hour"] * 730)
    assert s["usd_per_mtok_total"] == pytest.approx(
        s["monthly_cost_usd"] / s["monthly_tokens"] * 1e6, rel=1e-9
    )
    assert s["elastic"]["total_monthly_cost_usd"] == pytest.approx(s["monthly_cost_usd"])
    assert s["elastic"]["requests_to_api"] > 0
    assert set(s["api"]) == {"gpt-4o", "deepseek-v3"}
    for entry in s["api"].values():
        # savings against the whole bill (fleet + overflow), not the fleet alone
        assert entry["self_hosted_savings_usd"] == pytest.approx(
            entry["monthly_cost_usd"] - s["monthly_cost_usd"], rel=1e-9
        )
    # sending part of the volume to gpt-4o costs less than sending all of it there
    assert s["api_overflow_monthly_cost_usd"] < s["api"]["gpt-4o"]["monthly_cost_usd"]


def test_overflow_at_a_stated_volume_costs_less_than_the_api_alone(tmp_path: Path) -> None:
    s = api.run(_write(tmp_path, OVERFLOW.format(monthly="monthly_tokens = 2e9")), write=False)
    assert s["monthly_tokens"] == 2e9
    assert 0 < s["api_overflow_monthly_cost_usd"] < s["api"]["gpt-4o"]["monthly_cost_usd"]


def test_plan_hybrid_sends_a_peak_hour_to_the_api_and_beats_both_pure_options(
    tmp_path: Path,
) -> None:
    """One busy hour at six times the rest: the pure fleet is sized for that hour and idles
    the other 23, the API alone pays list price all day; the hybrid keeps the base on the
    fleet and sends only the peak's excess to the API, so it is strictly cheaper than both,
    with fewer replicas and an API share near the peak's excess (5/29 of the day's
    requests if the fleet exactly covered the base)."""
    diurnal = ", ".join(["0.2"] * 23 + ["1.2"])
    p = _write(
        tmp_path,
        H100_8B.replace("rate_per_s = 5.0", f"rate_per_s = 200.0\ndiurnal = [{diurnal}]")
        + "[slo]\nttft_p95_s = 1.0\n"
        + '[pricing]\napis = ["gpt-4o-mini"]\n',
    )
    result = api.plan(
        p, gpus=["h100-sxm"], weights=["fp8"], tp=[1], pricing=["on_demand"], verify_candidates=0
    )
    pick = result["recommended"]
    (a,) = result["apis"]
    hybrid = a["hybrid"]
    assert hybrid["replicas"] < pick["replicas"]
    assert 0.0 < hybrid["api_share_of_requests"] < 0.5
    assert hybrid["total_monthly_usd"] < pick["monthly_cost_usd"]
    assert hybrid["total_monthly_usd"] < a["monthly_cost_usd"]
    assert hybrid["total_monthly_usd"] == pytest.approx(
        hybrid["fleet_monthly_usd"] + hybrid["api_monthly_usd"]
    )


# --- 6. an autoscaled run's utilization is against what was up ----------------------------


def test_autoscaled_run_utilization_is_against_what_was_up(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        '[model]\nname = "llama-3.1-8b"\n'
        '[hardware]\ngpu = "a100-sxm4-80gb"\ntp = 2\nreplicas = 1\n'
        '[autoscaling]\npolicy = "target_utilization"\ntarget = 0.7\n'
        "min_replicas = 1\nmax_replicas = 8\ninterval_s = 15\n"
        "scale_down_delay_s = 60\ninstance_start_s = 20\n"
        '[workload]\narrival = "poisson"\nrate_per_s = 60\nduration_s = 240\n'
        "input_tokens = 400\noutput_tokens = 120\n"
        "[simulation]\nseed = 5\ntimeseries_interval_s = 5\n",
    )
    res = simulate(load_scenario(p))
    s = summarize(res)
    assert len(res.engines) == 8
    assert 0 < s["mfu"] <= 1 and 0 < s["mbu"] <= 1
    # Throughput over the time-mean capacity of the replicas that were up. The capacity
    # is the compiled model's sustainable rate while the throughput is simulated; a
    # saturated simulation runs up to a few percent above the model's rate, and the
    # backlog built during cold starts is served once replicas are up: hence 5 % slack.
    assert 0 < s["capacity_utilization"] <= 1.05
    # replicas (and GPUs) at the peak actually up, not every engine that could have been
    states = res.series.array("state")
    up_now = np.isin(states, (ACTIVE, DRAINING)).sum(axis=1)
    assert 1 < s["replicas"] < len(res.engines)
    assert s["replicas"] == int(up_now.max())
    assert s["num_gpus"] == s["replicas"] * 2
    assert 1 < s["mean_replicas_up"] <= s["replicas"]


# --- 8. a daily cycle's SLO is judged at its busiest hour ----------------------------------


def test_a_daily_cycle_is_judged_at_its_busiest_hour(tmp_path: Path) -> None:
    """A whole day at 0.5 req/s of long prompts, 2 req/s from 13:00 to 14:00: one A100
    keeps the p95 TTFT (~0.6 s) under 1 s all day but that hour (~1.7 s)."""
    diurnal = [1.0] * 24
    diurnal[13] = 4.0
    p = _write(
        tmp_path,
        '[model]\nname = "llama-3.1-8b"\n[hardware]\ngpu = "a100-sxm4-80gb"\n'
        "[workload]\nrate_per_s = 0.5\nduration_s = 86400\ninput_tokens = 4000\n"
        f"output_tokens = 16\ndiurnal = {json.dumps(diurnal)}\n"
        "[slo]\nttft_p95_s = 1.0\n[simulation]\nseed = 3\ntimeseries_interval_s = 60\n",
    )
    res = simulate(load_scenario(p))
    s = summarize(res)
    assert s["slo_met"] is False
    assert "busiest hour" in s["slo_judged_on"] and "13:00" in s["slo_judged_on"]
    assert s["slo"]["ttft_p95_s"]["achieved"] > 1.0
    hours = {h["hour"]: h for h in s["slo_hourly"]}
    assert set(hours) == set(range(24))
    assert hours[13]["met"] is False
    assert sum(h["met"] is True for k, h in hours.items() if k != 13) >= 20
    # over the whole day the objective would hold: that verdict would hide the peak
    assert s["slo_attainment"] > 0.9
    ttft = request_table(res)["ttft_s"]
    assert np.nanpercentile(ttft, 95) < 1.0


def test_fast_sweep_judges_a_daily_cycle_at_its_peak_and_prices_its_mean(
    tmp_path: Path,
) -> None:
    diurnal = [0.2] * 8 + [1.0] * 8 + [3.0] + [0.5] * 7
    peak, mean = max(diurnal), float(np.mean(diurnal))
    rates = [1.0, 4.0, 8.0]
    slo = "[slo]\nttft_mean_s = 0.06\ntpot_mean_s = 0.05\n"
    cyc = _write(
        tmp_path,
        H100_8B.replace("rate_per_s = 5.0", f"rate_per_s = 5.0\ndiurnal = {diurnal}")
        + slo
        + f'[sweep]\n"workload.rate_per_s" = {rates}\n',
        "cycle.toml",
    )
    flat = _write(
        tmp_path,
        H100_8B + slo + f'[sweep]\n"workload.rate_per_s" = {[r * peak for r in rates]}\n',
        "flat.toml",
    )
    a, b = api.sweep(cyc, method="fast"), api.sweep(flat, method="fast")
    assert a["feasible"].values.all() and b["feasible"].values.all()
    np.testing.assert_allclose(a["utilization"].values, b["utilization"].values, rtol=1e-6)
    np.testing.assert_allclose(a["ttft_s"].values, b["ttft_s"].values, rtol=1e-6)
    np.testing.assert_array_equal(a["slo_status"].values, b["slo_status"].values)
    np.testing.assert_allclose(
        a["monthly_tokens"].values, np.array(rates) * mean * 700 * SECONDS_PER_MONTH, rtol=1e-9
    )


# --- 9. sweep data loss: tests/test_sweep_output.py ----------------------------------------

# --- 10. plan JSON and sweep flags ------------------------------------------------------------


def test_unverified_plan_json_is_complete_and_finite(tmp_path: Path) -> None:
    """Tight TTFT limits: the pessimistic band of some candidates cannot meet the SLO at any
    load (NaN cost internally); the JSON must still be valid, finite and complete."""
    some_band_failed = False
    for limit in (0.02, 0.015, 0.012, 0.01):
        p = _write(
            tmp_path,
            H100_8B.replace("rate_per_s = 5.0", "rate_per_s = 20.0")
            + f"[slo]\nttft_p95_s = {limit}\n"
            + '[pricing]\napis = ["gpt-4o-mini"]\n',
            f"tight-{limit}.toml",
        )
        result = api.plan(p, gpus=["h100-sxm"], weights=["fp8"], tp=[1, 2, 4], verify_candidates=0)
        text = api.to_json(result)  # allow_nan=False: raises on NaN or inf
        back = json.loads(text)
        assert "NaN" not in text and "Infinity" not in text
        assert back["target_rate_per_s"] == pytest.approx(20.0)
        assert isinstance(back["runners_up"], list)
        rec = back["recommended"]
        if rec is None:
            continue
        for key in ("gpu", "weights", "tp", "replicas", "pricing"):
            assert rec[key] is not None, key
        assert rec["monthly_cost_usd"] > 0 and rec["replica_usd_per_hour"] > 0
        for c in [rec, *back["runners_up"]]:
            if None in c["band"]["monthly_cost_usd"]:
                some_band_failed = True
    assert some_band_failed, "no limit made a pessimistic band infeasible: tighten the limits"


def test_sweep_flag_variables_follow_cf(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        H100_8B
        + "[slo]\nttft_p95_s = 1.0\n"
        + '[sweep]\n"hardware.gpu" = ["h100-sxm", "l4"]\n'
        + '"model.weights" = ["fp8", "fp16"]\n',
    )
    ds = api.sweep(p, method="fast")
    for name, table in (("reason", REASONS), ("slo_status", slo_eval.STATUS)):
        attrs = ds[name].attrs
        values = np.asarray(attrs["flag_values"])
        meanings = attrs["flag_meanings"].split(" ")
        assert len(values) == len(meanings) == len(table)
        assert values.tolist() == list(table)
        assert all(m and m.strip() == m and " " not in m for m in meanings)
        assert len(set(meanings)) == len(meanings)
        assert values.dtype == ds[name].dtype
        assert set(np.unique(ds[name].values).tolist()) <= set(values.tolist())


# --- one fleet, one answer -----------------------------------------------------------------


def test_run_sweep_and_plan_give_one_answer_for_one_fleet(tmp_path: Path) -> None:
    """2 x H100 (tp=1, FP8) serving llama-3.1-8b at 5 req/s of 500 + 200 tokens, no stated
    volume: the same monthly volume, cost, $/Mtok and API costs from all three commands.
    Constant arrivals keep the run's simulated volume within a fraction of a percent."""
    p = _write(
        tmp_path,
        '[model]\nname = "llama-3.1-8b"\nweights = "fp8"\n'
        '[hardware]\ngpu = "h100-sxm"\ntp = 1\nreplicas = 2\npricing = "on_demand"\n'
        '[workload]\narrival = "constant"\nrate_per_s = 5.0\nduration_s = 300\n'
        "input_tokens = 500\noutput_tokens = 200\n"
        "[slo]\nttft_p95_s = 1.0\ntpot_p95_s = 0.05\n"
        '[pricing]\napis = ["gpt-4o", "gpt-4o-mini"]\n'
        "[simulation]\nseed = 1\nwarmup_s = 20\n"
        '[sweep]\n"hardware.replicas" = [2]\n',
    )
    run = api.run(p, write=False)
    sweep = api.sweep(p, method="fast").isel(replicas=0)
    result = api.plan(
        p, gpus=["h100-sxm"], weights=["fp8"], tp=[1], pricing=["on_demand"], verify_candidates=0
    )
    plan = result["recommended"]
    assert (plan["gpu"], plan["weights"], plan["tp"], plan["pricing"]) == (
        "h100-sxm",
        "fp8",
        1,
        "on_demand",
    )

    # the monthly volume: the offered rate around the clock
    volume = 5.0 * 700 * SECONDS_PER_MONTH
    assert float(sweep["monthly_tokens"]) == pytest.approx(volume, rel=1e-12)
    assert result["monthly_tokens"] == pytest.approx(volume, rel=1e-12)
    assert run["monthly_tokens"] == pytest.approx(volume, rel=0.02)

    # the same fleet costs the same: 2 replicas at the catalog's on-demand price
    h100 = catalog.gpu("h100-sxm").price_usd_per_hour("on_demand")
    monthly = 2 * h100 * 730
    assert float(sweep["replica_usd_per_hour"]) == pytest.approx(h100, rel=1e-12)
    assert plan["replica_usd_per_hour"] == pytest.approx(h100, rel=1e-12)
    assert float(sweep["monthly_cost_usd"]) == pytest.approx(monthly, rel=1e-12)
    assert run["monthly_cost_usd"] == pytest.approx(monthly, rel=1e-9)
    plan_monthly_2 = plan["monthly_cost_usd"] * 2 / plan["replicas"]
    assert plan_monthly_2 == pytest.approx(monthly, rel=1e-12)

    # $/Mtok of that fleet at that volume
    per_mtok = monthly / volume * 1e6
    assert float(sweep["usd_per_mtok_total"]) == pytest.approx(per_mtok, rel=1e-9)
    assert plan["usd_per_mtok_total"] * 2 / plan["replicas"] == pytest.approx(per_mtok, rel=1e-9)
    assert run["usd_per_mtok_total"] == pytest.approx(per_mtok, rel=0.02)

    # the APIs, priced at the same volume
    sweep_api = dict(
        zip(
            [str(a) for a in sweep["api"].values],
            sweep["api_monthly_cost_usd"].values.tolist(),
            strict=True,
        )
    )
    plan_api = {a["id"]: a["monthly_cost_usd"] for a in result["apis"]}
    assert set(sweep_api) == set(plan_api) == set(run["api"]) == {"gpt-4o", "gpt-4o-mini"}
    for api_id, usd in plan_api.items():
        assert sweep_api[api_id] == pytest.approx(usd, rel=1e-12)
        assert run["api"][api_id]["monthly_cost_usd"] == pytest.approx(usd, rel=0.02)
