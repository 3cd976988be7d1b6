"""The fast model of a prefill/decode split (simplan.split_model): its parts against the
roofline, its behaviour as the fleet changes, and its statistics against the simulation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from simplan import latency_model as lm
from simplan.disaggregation import transfer_s
from simplan.errors import SimplanError
from simplan.kernels import step_time_s
from simplan.metrics import measurement_window, request_table
from simplan.pools import build_pools
from simplan.scenario import scenario_from_dict
from simplan.sim import simulate
from simplan.split_model import SplitModel

MODEL, GPU = "llama-3.1-8b", "h100-sxm"


def raw(n_prefill: int = 1, n_decode: int = 2, **workload: Any) -> dict[str, Any]:
    return {
        "model": {"name": MODEL},
        "hardware": {
            "gpu": GPU,
            "replicas": n_prefill,
            "role": "prefill",
            "pools": [{"gpu": GPU, "replicas": n_decode, "role": "decode"}],
        },
        "workload": {
            "rate_per_s": 8.0,
            "num_requests": 3000,
            "input_tokens": {"distribution": "lognormal", "mean": 3000, "std": 2000},
            "output_tokens": {"distribution": "lognormal", "mean": 300, "std": 200},
        }
        | workload,
        "slo": {"ttft_p95_s": 0.5, "tpot_p95_s": 0.02},
        "simulation": {"seed": 3, "warmup_s": 30},
    }


def stat(point: np.ndarray, name: str) -> float:
    return float(point[lm.column(name)])


def test_alone_a_prompt_waits_for_its_own_prefill_and_the_transfer() -> None:
    """At (almost) no load the TTFT of a fixed prompt is the roofline's prefill iteration
    plus the KV transfer, and the TPOT is the decode replica's iteration of one sequence."""
    sc = scenario_from_dict(raw(input_tokens=1000, output_tokens=100))
    model = SplitModel.of(sc)
    point = model.at_rate(1e-6, 1, 2)
    pools = [p.replica for p in build_pools(sc)]
    cfg = pools[0].cfg
    prefill = step_time_s(cfg, 1000.0, 1000.0 * 1001.0 / 2.0, 1.0, 0.0, 0.0)
    moved = transfer_s(pools[0], pools[1], 1000)
    assert stat(point, "ttft_mean_s") == pytest.approx(prefill + moved, rel=1e-3)
    assert stat(point, "ttft_p99_s") == pytest.approx(prefill + moved, rel=1e-3)
    one = step_time_s(pools[1].cfg, 0.0, 0.0, 0.0, 1.0, 1050.0)
    assert stat(point, "tpot_mean_s") == pytest.approx(one, rel=0.05)


def test_the_transfer_adds_to_ttft_and_e2e_only() -> None:
    slow = raw() | {"hardware": raw()["hardware"] | {"kv_transfer_gb_per_s": 1.0}}
    fast_link = raw() | {"hardware": raw()["hardware"] | {"kv_transfer_gb_per_s": 400.0}}
    a = SplitModel.of(scenario_from_dict(slow))
    b = SplitModel.of(scenario_from_dict(fast_link))
    pa, pb = a.at_rate(4.0, 1, 2), b.at_rate(4.0, 1, 2)
    extra = a.transfer_mean_s - b.transfer_mean_s
    assert extra > 0.05  # 3,000 tokens of KV over 1 GB/s
    assert stat(pa, "ttft_mean_s") - stat(pb, "ttft_mean_s") == pytest.approx(extra, rel=1e-6)
    assert stat(pa, "e2e_mean_s") - stat(pb, "e2e_mean_s") == pytest.approx(extra, rel=1e-6)
    assert stat(pa, "tpot_p95_s") == stat(pb, "tpot_p95_s")


def test_each_side_answers_for_its_own_metric() -> None:
    """Another prefill replica shortens the TTFT and leaves the TPOT alone; another decode
    replica shortens the TPOT and leaves the TTFT alone; past either side's capacity the
    split is saturated."""
    model = SplitModel.of(scenario_from_dict(raw()))
    rate = 0.8 * model.r_max_per_s(1, 2)
    base, more_p, more_d = (model.at_rate(rate, p, d) for p, d in ((1, 2), (2, 2), (1, 3)))
    assert stat(more_p, "ttft_p95_s") < 0.8 * stat(base, "ttft_p95_s")
    assert stat(more_p, "tpot_p95_s") == stat(base, "tpot_p95_s")
    assert stat(more_d, "tpot_p95_s") < stat(base, "tpot_p95_s")
    assert stat(more_d, "ttft_p95_s") == stat(base, "ttft_p95_s")
    over = model.at_rate(1.01 * model.r_max_per_s(1, 2), 1, 2)
    assert stat(over, "saturated") == 1.0 and np.isinf(stat(over, "ttft_p95_s"))


def test_fewest_is_the_smallest_split_that_holds() -> None:
    sc = scenario_from_dict(raw())
    model = SplitModel.of(sc)
    n_p, n_d = model.fewest(20.0, sc)
    assert model.holds(20.0, n_p, n_d, sc)
    assert not model.holds(20.0, n_p - 1, n_d, sc)
    assert not model.holds(20.0, n_p, n_d - 1, sc)
    tight = scenario_from_dict(raw() | {"slo": {"ttft_p95_s": 1e-4}})
    assert SplitModel.of(tight).fewest(20.0, tight, most=8) is None


def test_a_split_needs_one_pool_of_each_role() -> None:
    both = raw()
    both["hardware"]["pools"].append({"gpu": GPU, "replicas": 1, "role": "decode"})
    with pytest.raises(SimplanError, match="one prefill pool and one decode pool"):
        SplitModel.of(scenario_from_dict(both), "split.toml")


def test_the_fast_split_matches_its_simulation() -> None:
    """A looser bound than benchmarks/bench_split.py reports over its design: on one split
    at about two thirds of its capacity, the predicted mean TTFT, p95 TPOT and p95 e2e are
    within 25%, 10% and 15% of the simulated ones."""
    sc = scenario_from_dict(raw())
    model = SplitModel.of(sc)
    res = simulate(sc)
    table = request_table(res)
    start, end = measurement_window(res)
    arr = res.requests.column("arrival_s")
    keep = (arr >= start) & (arr < end)
    point = model.at_rate(8.0, 1, 2)
    assert 0.5 < 8.0 / model.r_max_per_s(1, 2) < 0.85
    sim_ttft = float(np.nanmean(table["ttft_s"][keep]))
    sim_tpot = float(np.nanpercentile(table["tpot_s"][keep], 95))
    sim_e2e = float(np.nanpercentile(table["e2e_s"][keep], 95))
    assert stat(point, "ttft_mean_s") == pytest.approx(sim_ttft, rel=0.25)
    assert stat(point, "tpot_p95_s") == pytest.approx(sim_tpot, rel=0.10)
    assert stat(point, "e2e_p95_s") == pytest.approx(sim_e2e, rel=0.15)


def test_the_fast_sweep_points_a_split_to_plan(tmp_path: Path) -> None:
    from simplan import api

    path = tmp_path / "split.toml"
    path.write_text(
        (Path(__file__).resolve().parent.parent / "scenarios" / "disaggregated_pd.toml")
        .read_text(encoding="utf-8")
        .replace("[workload]", '[sweep]\n"workload.rate_per_s" = [1.0, 2.0]\n\n[workload]'),
        encoding="utf-8",
    )
    with pytest.raises(SimplanError, match="simplan plan"):
        api.sweep(path, method="fast", output=tmp_path / "out.nc")
    assert not (tmp_path / "out.nc").exists()
