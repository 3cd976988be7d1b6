"""Prefill/decode disaggregation: the KV cache travels from a prefill replica to a decode
replica, TTFT includes the trip, and decode replicas never compute prompts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from simplan import api
from simplan.disaggregation import kv_bytes_per_token, transfer_s
from simplan.errors import ScenarioError
from simplan.kernels import step_time_s
from simplan.metrics import summarize
from simplan.perf import replica_from_ids
from simplan.pools import build_pools, fleet_max_rate_per_s
from simplan.scenario import scenario_from_dict
from simplan.sim import simulate

MODEL, GPU = "llama-3.1-8b", "h100-sxm"


def scenario(disaggregated: bool = True, **workload: Any) -> Any:
    hardware: dict[str, Any] = {"gpu": GPU, "replicas": 3}
    if disaggregated:
        hardware = {
            "gpu": GPU,
            "replicas": 1,
            "role": "prefill",
            "pools": [{"gpu": GPU, "replicas": 2, "role": "decode"}],
        }
    return scenario_from_dict(
        {
            "model": {"name": MODEL},
            "hardware": hardware,
            "engine": {"router": "round_robin"},
            "workload": {
                "rate_per_s": 8.0,
                "num_requests": 1500,
                "input_tokens": {"distribution": "lognormal", "mean": 3000, "std": 2000},
                "output_tokens": {"distribution": "lognormal", "mean": 300, "std": 200},
            }
            | workload,
            "simulation": {"seed": 2},
        }
    )


def test_the_first_token_arrives_after_the_prefill_and_the_kv_transfer(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("timestamp_s,input_tokens,output_tokens\n0.0,2000,50\n", encoding="utf-8")
    res = simulate(scenario(arrival="trace", trace=str(trace), rate_per_s=None, num_requests=None))
    cfg = replica_from_ids(MODEL, GPU).cfg
    prefill = step_time_s(cfg, 2000.0, 2000 * 2001 / 2.0, 1.0, 0.0, 0.0)
    # Llama-3.1-8B: 32 layers x 8 KV heads x 128 x 2 (K and V) x 2 bytes = 128 KiB a token,
    # over one 25 GB/s link, plus 10 us
    assert kv_bytes_per_token(res.pools[0].replica) == 32 * 2 * 8 * 128 * 2
    moved = 1e-5 + 2000 * 131072 / 25e9
    r = res.requests
    assert r.column("kv_transfer_s")[0] == pytest.approx(moved, rel=1e-12)
    assert r.column("first_token_s")[0] == pytest.approx(prefill + moved, rel=1e-12)
    assert r.column("replica")[0] >= 1  # finished on a decode replica
    assert r.column("generated")[0] == 50


def test_decode_replicas_compute_no_prompts_and_keep_tpot_steady() -> None:
    res = simulate(scenario())
    prefill = [e for e in res.engines if e.role == "prefill"]
    decode = [e for e in res.engines if e.role == "decode"]
    assert sum(e.input_tokens for e in decode) == 0  # no prefill interference
    assert sum(e.output_tokens for e in prefill) == res.requests.n  # one token each
    done = summarize(res)
    assert done["requests_completed"] == 1500
    colocated = summarize(simulate(scenario(disaggregated=False)))
    # the same three GPUs: decode iterations without prompt chunks are short and even
    assert done["tpot_s"]["p95"] < 0.8 * colocated["tpot_s"]["p95"]
    assert done["kv_transfer_mean_s"] > 0
    assert (np.asarray(res.requests.column("kv_transfer_s")) > 0).all()


def test_capacity_is_the_slower_side() -> None:
    sc = scenario()
    pools = build_pools(sc)
    from simplan.pools import max_rate_per_replica

    prefill = max_rate_per_replica(pools[0], 3000.0, 300.0)
    decode = 2 * max_rate_per_replica(pools[1], 3000.0, 300.0)
    assert fleet_max_rate_per_s(pools, 3000.0, 300.0) == pytest.approx(min(prefill, decode))


def test_roles_must_pair(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(
            {
                "model": {"name": MODEL},
                "hardware": {"gpu": GPU, "role": "prefill"},
                "workload": {"rate_per_s": 1.0, "num_requests": 10},
            }
        )
    assert "decode" in str(info.value)
    assert transfer_s(build_pools(scenario())[0].replica, build_pools(scenario())[1].replica, 0) > 0


SPLIT = f"""
[model]
name = "{MODEL}"
[hardware]
gpu = "{GPU}"
role = "prefill"
replicas = 5
kv_transfer_gb_per_s = 50.0
[[hardware.pools]]
gpu = "{GPU}"
role = "decode"
replicas = 5
[workload]
rate_per_s = 14.0
duration_s = 600
input_tokens = {{ distribution = "lognormal", mean = 3000, std = 1500, max = 16000 }}
output_tokens = {{ distribution = "lognormal", mean = 200, std = 100, max = 1000 }}
[slo]
ttft_p95_s = 1.5
tpot_p95_s = 0.03
[simulation]
seed = 4
warmup_s = 60
"""


def test_plan_sizes_each_side_of_a_split_by_simulation_and_compares_it(tmp_path: Path) -> None:
    """plan sizes the prefill and decode pools to the fewest replicas that hold with every
    seed (one fewer on a side that has more than one does not), prices them, and searches
    colocated fleets of the same GPU for the comparison."""
    path = tmp_path / "split.toml"
    path.write_text(SPLIT, encoding="utf-8")
    result = api.plan(path, gpus=[GPU], verify_candidates=1)
    split = result["disaggregated"]
    assert split["holds"]
    n_p, n_d = split["prefill"]["replicas"], split["decode"]["replicas"]
    assert n_p < 5 and n_d < 5  # sized, not the replicas written
    tried = {(t["prefill_replicas"], t["decode_replicas"]): t["holds"] for t in tried_of(split)}
    assert tried[(n_p, n_d)]
    for fewer in ((n_p - 1, n_d), (n_p, n_d - 1)):
        if min(fewer) >= 1:
            assert tried.get(fewer) is False, (fewer, tried)
    for key, values in split["achieved"].items():
        limit = {"ttft_p95_s": 1.5, "tpot_p95_s": 0.03}[key]
        assert len(values) == 3 and all(v is not None and v <= limit for v in values)
    price = result["recommended"]["replica_usd_per_hour"] / result["recommended"]["tp"]
    assert split["monthly_cost_usd"] == pytest.approx((n_p + n_d) * price * 730.0, rel=1e-6)
    assert result["recommended"]["gpu"] == GPU  # the colocated search ran on the same GPU
    assert any(n.startswith("prefill/decode split:") for n in result["notes"])
    # the simulated search starts at the fast split model's pick and reports it
    fast = split["fast"]
    first = tried_of(split)[0]
    assert (first["prefill_replicas"], first["decode_replicas"]) == (
        fast["prefill_replicas"],
        fast["decode_replicas"],
    )
    assert set(fast["predicted"]) == {"ttft_p95_s", "tpot_p95_s"}


def tried_of(split: dict[str, Any]) -> list[dict[str, Any]]:
    return list(split["tried"])
