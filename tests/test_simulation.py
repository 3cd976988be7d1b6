"""Behaviour of the serving simulation on small scenarios.

Each test builds a scenario with :func:`scenario_from_dict` (or writes a TOML file for the
CLI and file-output checks), runs :func:`simulate` and asserts on properties that must
hold whatever the calibration: conservation of requests, KV blocks within capacity,
bounded utilizations, Little's law, scaling with replicas, determinism, rejections, the
arrival kinds, user-facing errors, the roofline bound and the output files.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from simplan import api
from simplan.cli import main
from simplan.dataset import decode_summary
from simplan.engine import ReplicaEngine
from simplan.errors import DoesNotFitError
from simplan.kernels import step_time_s
from simplan.metrics import request_table, summarize
from simplan.pools import build_pools
from simplan.recorder import COMPLETED, PENDING, REJECTED
from simplan.scenario import Scenario, scenario_from_dict
from simplan.sim import SimResult, simulate
from simplan.traces import read_trace
from simplan.workload import generate_requests

MODEL = "llama-3.1-8b"
GPU = "a100-sxm4-80gb"
CONTEXT = 131072  # llama-3.1-8b max_context_tokens


def scenario(
    workload: dict[str, Any],
    *,
    engine: dict[str, Any] | None = None,
    hardware: dict[str, Any] | None = None,
    simulation: dict[str, Any] | None = None,
    model: str = MODEL,
    gpu: str = GPU,
) -> Scenario:
    raw: dict[str, Any] = {
        "model": {"name": model},
        "hardware": {"gpu": gpu, **(hardware or {})},
        "workload": workload,
    }
    if engine:
        raw["engine"] = engine
    if simulation:
        raw["simulation"] = simulation
    return scenario_from_dict(raw)


def run(sc: Scenario) -> tuple[SimResult, dict[str, Any]]:
    res = simulate(sc)
    return res, summarize(res)


def status_counts(res: SimResult) -> tuple[int, int, int]:
    st = res.requests.column("status")
    return int((st == COMPLETED).sum()), int((st == REJECTED).sum()), int((st == PENDING).sum())


CHAT = {"input_tokens": 512, "output_tokens": 128}
VARIED = {
    "input_tokens": {"distribution": "uniform", "low": 1, "high": 2000},
    "output_tokens": {"distribution": "uniform", "low": 1, "high": 1500},
}
#: gpu_memory_utilization that leaves llama-3.1-8b on one A100 about 5k tokens of KV.
TIGHT = 0.22


# --- conservation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "workload",
    [
        {"arrival": "poisson", "rate_per_s": 8, "duration_s": 30, **CHAT},
        {"arrival": "offline", "num_requests": 300, **VARIED},
        {"arrival": "gamma", "rate_per_s": 8, "burstiness": 4, "duration_s": 30, **VARIED},
    ],
    ids=["poisson", "offline", "gamma"],
)
def test_every_request_is_accounted_for(workload: dict[str, Any]) -> None:
    sc = scenario(workload, hardware={"replicas": 2})
    res, s = run(sc)
    expected = len(generate_requests(sc, np.random.default_rng(sc.simulation.seed), CONTEXT))
    assert s["requests_total"] == res.requests.n == expected  # none lost, none invented
    done, rejected, in_flight = status_counts(res)
    assert (done, rejected, in_flight) == (
        s["requests_completed"],
        s["requests_rejected"],
        s["requests_in_flight"],
    )
    assert done + rejected + in_flight == s["requests_total"]
    # a generous drain: nothing left in flight, every request finished or refused
    assert in_flight == 0
    assert done + rejected == s["requests_total"]
    rec = res.requests
    finished = rec.column("status") != PENDING
    assert np.all(rec.column("finish_s")[finished] >= rec.column("arrival_s")[finished])
    gen, out = rec.column("generated"), rec.column("output_tokens")
    completed = rec.column("status") == COMPLETED
    assert np.array_equal(gen[completed], out[completed])
    # every generated token is counted once by the engines, recomputation included
    assert sum(e.output_tokens for e in res.engines) == int(out[completed].sum())
    for e in res.engines:
        assert e.kv.free_blocks == e.total_blocks and e.n_running == 0 and not e.waiting


def test_saturated_fleet_leaves_requests_in_flight_but_loses_none() -> None:
    # two sequences at a time cannot work off 20 s of arrivals in the one-hour drain
    sc = scenario(
        {"arrival": "poisson", "rate_per_s": 50, "duration_s": 20, **VARIED},
        engine={"max_num_seqs": 2},
    )
    res, s = run(sc)
    done, rejected, in_flight = status_counts(res)
    assert in_flight > 0
    assert done + rejected + in_flight == s["requests_total"] == res.requests.n
    assert any("still in flight" in n for n in s["notes"])
    assert any("exceeds what this fleet sustains" in n for n in s["notes"])


def test_a_benchmark_run_to_completion_measures_every_request_of_a_saturated_fleet() -> None:
    # 600 requests at 20/s on a fleet that sustains far fewer: by default the queue's
    # growth stops the arrivals; a benchmark of 600 requests measured them all
    load = {"arrival": "poisson", "rate_per_s": 20, "num_requests": 600}
    load |= {"input_tokens": 1024, "output_tokens": 256}
    engine = {"max_num_seqs": 4}
    cut, s_cut = run(scenario(load, engine=engine))
    full, s_full = run(scenario(load, engine=engine, simulation={"run_to_completion": True}))
    assert status_counts(full) == (600, 0, 0)
    assert status_counts(cut)[0] < 600
    # the requests a cut run never served queue behind the ones it did: the tail it hides
    assert s_full["ttft_s"]["p99"] > s_cut["ttft_s"]["p99"]
    assert not any("still in flight" in n for n in s_full["notes"])


# --- KV cache ----------------------------------------------------------------------------


@pytest.fixture
def kv_audit(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int]]]:
    """Check every engine's block accounting after each scheduling step; yields the log."""
    log: list[tuple[int, int]] = []

    def audit(engine: ReplicaEngine) -> None:
        active = engine.slot_req >= 0
        assert 0 <= engine.kv.free_blocks <= engine.total_blocks
        assert engine.kv.free_blocks + int(engine.kv.blocks.sum()) == engine.total_blocks
        assert np.all(engine.kv.blocks[~active] == 0)
        assert np.all(engine.kv.blocks[active] * engine.block >= engine.kv_tokens[active])
        assert int(active.sum()) == engine.n_running <= engine.max_num_seqs
        log.append((engine.kv.free_blocks, engine.total_blocks))

    def wrap(name: str) -> None:
        original = getattr(ReplicaEngine, name)

        def wrapped(self: ReplicaEngine, *args: Any, **kwargs: Any) -> Any:
            out = original(self, *args, **kwargs)
            audit(self)
            return out

        monkeypatch.setattr(ReplicaEngine, name, wrapped)

    for name in ("admit", "preempt", "release", "finish_done", "grow"):
        wrap(name)
    original_grow = ReplicaEngine.grow_planned

    def grow(self: ReplicaEngine, slots: np.ndarray, steps: int) -> None:
        original_grow(self, slots, steps)
        # called before kv_tokens advance: the blocks must already hold the new tokens
        assert np.all(self.kv.blocks[slots] * self.block >= self.kv_tokens[slots] + steps)
        audit(self)

    monkeypatch.setattr(ReplicaEngine, "grow_planned", grow)
    yield log


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "unchunked"])
@pytest.mark.parametrize("block_size", [1, 16, 256])
def test_kv_blocks_never_over_capacity_under_preemption(
    kv_audit: list[tuple[int, int]], chunked: bool, block_size: int
) -> None:
    sc = scenario(
        {"arrival": "offline", "num_requests": 150, **VARIED},
        engine={
            "gpu_memory_utilization": TIGHT,
            "chunked_prefill": chunked,
            "block_size": block_size,
            "max_num_batched_tokens": 1024,
        },
    )
    res, s = run(sc)
    assert len(kv_audit) > 100
    assert min(free for free, _ in kv_audit) >= 0
    assert s["preemptions"] > 0  # the cache really was tight
    assert s["requests_completed"] == s["requests_total"] == 150
    total = res.engines[0].total_blocks
    assert total * block_size < 12_000  # a few thousand tokens of KV
    used = res.series.array("kv_blocks_used")
    assert used.max() <= total
    assert 0.0 <= s["kv_cache_utilization"] <= 1.0


def test_static_batching_reserves_kv_and_never_preempts(kv_audit: list[tuple[int, int]]) -> None:
    sc = scenario(
        {"arrival": "offline", "num_requests": 100, **VARIED},
        engine={"gpu_memory_utilization": TIGHT, "scheduler": "static"},
    )
    _, s = run(sc)
    assert kv_audit
    assert s["preemptions"] == 0
    assert s["requests_completed"] == 100


def test_kv_occupancy_tracks_growing_sequences_during_decode() -> None:
    # 256 sequences of 10 prompt tokens each decode 1000 tokens in one planned run: by the
    # end of it each holds ~63 blocks, but the samples still show 1 block each.
    sc = scenario(
        {"arrival": "offline", "num_requests": 256, "input_tokens": 10, "output_tokens": 1000}
    )
    res, s = run(sc)
    used = res.series.array("kv_blocks_used")[:, 0]
    assert used.max() > 256 * 30
    assert s["kv_cache_utilization"] > 0.1


# --- bounded utilizations ------------------------------------------------------------------

BOUNDED_CASES = {
    "light": ({"arrival": "poisson", "rate_per_s": 1, "duration_s": 30, **CHAT}, {}),
    "heavy": ({"arrival": "poisson", "rate_per_s": 40, "duration_s": 20, **VARIED}, {}),
    "offline": ({"arrival": "offline", "num_requests": 300, **VARIED}, {}),
    "tight_kv": (
        {"arrival": "poisson", "rate_per_s": 10, "duration_s": 20, **VARIED},
        {"gpu_memory_utilization": TIGHT},
    ),
    "static": (
        {"arrival": "poisson", "rate_per_s": 5, "duration_s": 30, **CHAT},
        {"scheduler": "static"},
    ),
}


@pytest.mark.parametrize("case", list(BOUNDED_CASES))
def test_utilizations_are_fractions(case: str) -> None:
    workload, engine = BOUNDED_CASES[case]
    res, s = run(scenario(workload, engine=engine, hardware={"replicas": 2}))
    for key in ("gpu_utilization", "kv_cache_utilization", "mfu", "mbu", "slo_attainment"):
        assert 0.0 <= s[key] <= 1.0, (key, s[key])
    from simplan.results import to_dataset

    ds = to_dataset(res, s, "")
    for var in ("utilization", "kv_cache_occupancy"):
        values = ds[var].values
        assert np.all((values >= 0.0) & (values <= 1.0)), var


# --- queueing laws and scaling -------------------------------------------------------------


def test_littles_law_in_steady_state() -> None:
    sc = scenario(
        {"arrival": "poisson", "rate_per_s": 9, "duration_s": 600, **CHAT},
        simulation={"warmup_s": 60},
    )
    _, s = run(sc)
    assert 0.3 < s["capacity_utilization"] < 0.7  # moderately loaded
    assert s["requests_in_flight"] == 0
    littles = s["requests_per_s"] * s["e2e_s"]["mean"]
    assert s["mean_requests_in_system"] == pytest.approx(littles, rel=0.15)


def test_more_replicas_never_lower_saturated_throughput() -> None:
    rates = []
    for n in (1, 2, 4):
        sc = scenario(
            {"arrival": "offline", "num_requests": 1000, "input_tokens": 512, "output_tokens": 256},
            hardware={"replicas": n},
        )
        _, s = run(sc)
        assert s["requests_completed"] == 1000
        rates.append(s["output_tokens_per_s"])
    assert rates == sorted(rates)
    assert rates[1] >= 1.6 * rates[0]
    assert rates[2] >= 1.6 * rates[1]


# --- determinism -------------------------------------------------------------------------


def test_same_seed_same_summary() -> None:
    w = {"arrival": "gamma", "rate_per_s": 10, "burstiness": 2, "duration_s": 30, **VARIED}
    a = summarize(simulate(scenario(w, simulation={"seed": 3}, hardware={"replicas": 2})))
    b = summarize(simulate(scenario(w, simulation={"seed": 3}, hardware={"replicas": 2})))
    assert a == b
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_different_seed_different_arrivals() -> None:
    w = {"arrival": "poisson", "rate_per_s": 10, "duration_s": 10, **CHAT}
    a = simulate(scenario(w, simulation={"seed": 1})).requests.column("arrival_s")
    b = simulate(scenario(w, simulation={"seed": 2})).requests.column("arrival_s")
    assert a.shape != b.shape or not np.array_equal(a, b)


# --- rejections --------------------------------------------------------------------------


def test_requests_longer_than_the_context_are_rejected_with_a_reason() -> None:
    sc = scenario(
        {
            "arrival": "poisson",
            "rate_per_s": 1,
            "num_requests": 40,
            "input_tokens": {"distribution": "uniform", "low": 100, "high": 200_000},
            "output_tokens": 16,
        },
        hardware={"replicas": 2},
    )
    res, s = run(sc)
    rec = res.requests
    too_long = rec.column("input_tokens") + rec.column("output_tokens") > CONTEXT
    assert 0 < too_long.sum() < rec.n
    status = rec.column("status")
    assert np.all(status[too_long] == REJECTED)
    assert np.all(status[~too_long] == COMPLETED)
    assert s["requests_rejected"] == int(too_long.sum())
    assert s["requests_completed"] == int((~too_long).sum())
    assert s["reject_reasons"] == [
        f"prompt + output exceed the model's context of {CONTEXT} tokens"
    ]
    assert np.all(rec.column("reject_reason")[too_long] == 1)
    assert np.all(rec.column("replica")[too_long] == -1)  # never routed


def test_request_larger_than_the_kv_cache_is_rejected() -> None:
    # some requests fit and some do not: the ones that do not are rejected, with why
    lengths = {"distribution": "uniform", "low": 100, "high": 8000}
    sc = scenario(
        {"arrival": "offline", "num_requests": 40, "input_tokens": lengths, "output_tokens": 10},
        engine={"gpu_memory_utilization": TIGHT},
    )
    _, s = run(sc)
    assert 0 < s["requests_rejected"] < 40
    assert s["reject_reasons"] == ["longer than one replica's KV cache holds"]
    # none fits: the fleet would reject them all, so the run is refused before it starts
    sc = scenario(
        {"arrival": "offline", "num_requests": 3, "input_tokens": 8000, "output_tokens": 10},
        engine={"gpu_memory_utilization": TIGHT},
    )
    with pytest.raises(DoesNotFitError, match="longer than one replica's KV cache holds"):
        run(sc)


# --- scheduler variants -------------------------------------------------------------------


def test_static_batching_is_worse_than_continuous_at_moderate_load() -> None:
    w = {"arrival": "poisson", "rate_per_s": 10, "duration_s": 60, **CHAT}
    _, cont = run(scenario(w))
    _, stat = run(scenario(w, engine={"scheduler": "static"}))
    assert stat["requests_completed"] == cont["requests_completed"] == cont["requests_total"]
    assert stat["ttft_s"]["mean"] > 2 * cont["ttft_s"]["mean"]
    assert stat["e2e_s"]["mean"] > cont["e2e_s"]["mean"]


@pytest.mark.parametrize(
    "workload",
    [
        {"arrival": "poisson", "rate_per_s": 10, "duration_s": 30, **VARIED},
        {"arrival": "offline", "num_requests": 200, "input_tokens": 3000, "output_tokens": 50},
    ],
    ids=["poisson", "long-prompts"],
)
def test_chunked_prefill_off_still_completes_everything(workload: dict[str, Any]) -> None:
    # 3000-token prompts exceed max_num_batched_tokens = 2048: each runs alone
    _, s = run(
        scenario(workload, engine={"chunked_prefill": False, "max_num_batched_tokens": 2048})
    )
    assert s["requests_completed"] == s["requests_total"] > 0
    assert s["requests_in_flight"] == s["requests_rejected"] == 0


# --- routing -----------------------------------------------------------------------------


def test_round_robin_spreads_requests_evenly() -> None:
    sc = scenario(
        {"arrival": "offline", "num_requests": 101, **CHAT},
        hardware={"replicas": 4},
        engine={"router": "round_robin"},
    )
    res, s = run(sc)
    counts = np.bincount(res.requests.column("replica"), minlength=4)
    assert counts.sum() == 101
    assert counts.max() - counts.min() <= 1
    assert s["requests_completed"] == 101


@pytest.mark.parametrize("router", ["least_outstanding", "least_kv_load"])
def test_load_aware_routers_complete_and_use_every_replica(router: str) -> None:
    sc = scenario(
        {"arrival": "poisson", "rate_per_s": 15, "duration_s": 30, **VARIED},
        hardware={"replicas": 3},
        engine={"router": router},
    )
    res, s = run(sc)
    assert s["requests_completed"] == s["requests_total"] > 0
    counts = np.bincount(res.requests.column("replica"), minlength=3)
    assert np.all(counts > 0.2 * counts.sum())


def test_mixed_pools_serve_requests_on_both_gpu_types() -> None:
    sc = scenario(
        {"arrival": "poisson", "rate_per_s": 10, "duration_s": 20, **CHAT},
        hardware={"replicas": 1, "pools": [{"gpu": "h100-sxm", "replicas": 1}]},
    )
    res, s = run(sc)
    assert s["replicas"] == 2 and s["num_gpus"] == 2
    assert [e.pool for e in res.engines] == [0, 1]
    assert set(res.requests.column("replica")) == {0, 1}
    assert s["requests_completed"] == s["requests_total"]


# --- arrival kinds -----------------------------------------------------------------------


def test_poisson_rate_and_exponential_gaps() -> None:
    sc = scenario({"arrival": "poisson", "rate_per_s": 20, "duration_s": 100, **CHAT})
    reqs = generate_requests(sc, np.random.default_rng(0), CONTEXT)
    assert len(reqs) == pytest.approx(2000, rel=0.1)
    gaps = np.diff(reqs.arrival_s)
    assert np.all(gaps >= 0)
    assert np.std(gaps) / np.mean(gaps) == pytest.approx(1.0, abs=0.1)  # CV of exponential
    assert reqs.arrival_s[-1] < 100


def test_gamma_burstiness_raises_tail_latency() -> None:
    w = {"rate_per_s": 12, "duration_s": 60, **CHAT}
    _, poisson = run(scenario({"arrival": "poisson", **w}))
    _, gamma = run(scenario({"arrival": "gamma", "burstiness": 4, **w}))
    assert gamma["requests_completed"] == gamma["requests_total"] > 0
    assert gamma["ttft_s"]["p99"] > poisson["ttft_s"]["p99"]
    sc = scenario({"arrival": "gamma", "burstiness": 4, "rate_per_s": 20, "duration_s": 200})
    gaps = np.diff(generate_requests(sc, np.random.default_rng(1), CONTEXT).arrival_s)
    assert np.var(gaps) / np.mean(gaps) ** 2 == pytest.approx(4.0, rel=0.3)


def test_constant_arrivals_are_evenly_spaced() -> None:
    res, s = run(scenario({"arrival": "constant", "rate_per_s": 4, "duration_s": 10, **CHAT}))
    arrival = res.requests.column("arrival_s")
    assert np.allclose(np.diff(arrival), 0.25)
    assert arrival[0] == pytest.approx(0.25) and arrival[-1] < 10
    assert s["requests_completed"] == s["requests_total"] == 39


def test_offline_arrivals_all_at_zero() -> None:
    res, s = run(scenario({"arrival": "offline", "num_requests": 64, **CHAT}))
    assert np.all(res.requests.column("arrival_s") == 0.0)
    assert s["window_start_s"] == 0.0
    assert s["window_end_s"] == pytest.approx(s["duration_s"])  # the makespan
    assert s["requests_completed"] == 64


def test_closed_loop_keeps_concurrency_requests_in_system() -> None:
    res, s = run(
        scenario({"arrival": "closed", "concurrency": 8, "duration_s": 60, **CHAT}),
    )
    assert s["mean_requests_in_system"] == pytest.approx(8.0, abs=0.2)
    assert s["requests_completed"] == s["requests_total"] > 8
    assert s["window_end_s"] == 60.0
    # a user never has two requests outstanding: 8 requests start at t = 0
    assert int((res.requests.column("arrival_s") == 0.0).sum()) == 8


def test_closed_loop_with_think_time_has_fewer_in_system() -> None:
    _, s = run(
        scenario(
            {"arrival": "closed", "concurrency": 8, "think_time_s": 2.0, "duration_s": 60, **CHAT}
        )
    )
    assert 1.0 < s["mean_requests_in_system"] < 8.0


def test_closed_loop_with_num_requests_only_issues_all_requests() -> None:
    # one user, ~1.7 s per request: 3000 requests need ~5000 s of simulated time
    _, s = run(scenario({"arrival": "closed", "concurrency": 1, "num_requests": 3000, **CHAT}))
    assert s["requests_total"] == 3000
    assert s["requests_completed"] == 3000


def test_diurnal_arrivals_follow_the_hourly_multipliers() -> None:
    mult = [0.5] * 24
    mult[0], mult[1] = 1.0, 3.0
    sc = scenario(
        {
            "arrival": "poisson",
            "rate_per_s": 0.1,
            "duration_s": 7200,
            "diurnal": mult,
            "input_tokens": 64,
            "output_tokens": 16,
        }
    )
    res, s = run(sc)
    arrival = res.requests.column("arrival_s")
    per_hour = np.bincount((arrival // 3600).astype(int), minlength=2)
    assert per_hour.shape == (2,)
    assert per_hour[0] == pytest.approx(360, rel=0.2)
    assert per_hour[1] == pytest.approx(1080, rel=0.2)
    assert per_hour[1] / per_hour[0] == pytest.approx(3.0, rel=0.25)
    assert s["requests_completed"] == s["requests_total"]


def test_diurnal_with_num_requests_gives_that_many_requests() -> None:
    mult = [1.0] * 24
    mult[0] = 0.25
    sc = scenario(
        {"arrival": "poisson", "rate_per_s": 1, "num_requests": 1000, "diurnal": mult, **CHAT}
    )
    assert len(generate_requests(sc, np.random.default_rng(0), CONTEXT)) == 1000


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_azure_trace_with_iso_timestamps(tmp_path: Path) -> None:
    trace = write_csv(
        tmp_path / "azure.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens",
        [
            "2023-11-16 18:15:46.6805900,374,44",
            "2023-11-16 18:15:50.9951690,396,109",
            "2023-11-16 18:15:51.0000000,879,62",
            "2023-11-16 18:16:01.5000000,20,1",
        ],
    )
    res, s = run(scenario({"arrival": "trace", "trace": str(trace)}))
    rec = res.requests
    assert np.allclose(rec.column("arrival_s"), [0.0, 4.314579, 4.319410, 14.819410], atol=1e-5)
    assert rec.column("input_tokens").tolist() == [374, 396, 879, 20]
    assert rec.column("output_tokens").tolist() == [44, 109, 62, 1]
    assert s["requests_completed"] == 4


def test_trace_in_seconds_is_sorted_and_bounded(tmp_path: Path) -> None:
    trace = write_csv(
        tmp_path / "t.csv",
        "timestamp_s,input_tokens,output_tokens",
        ["10.0,100,10", "12.5,200,20", "11.0,300,30", "40.0,400,40", "13,500,50"],
    )
    reqs = read_trace(trace)
    assert reqs.arrival_s.tolist() == [0.0, 1.0, 2.5, 3.0, 30.0]
    assert reqs.input_tokens.tolist() == [100, 300, 200, 500, 400]
    res, s = run(scenario({"arrival": "trace", "trace": str(trace), "duration_s": 10}))
    assert s["requests_total"] == 4  # the arrival at 30 s is past duration_s
    assert s["requests_completed"] == 4
    assert res.requests.column("output_tokens").tolist() == [10, 30, 20, 50]


def test_trace_timestamps_do_not_depend_on_the_local_time_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX only")
    trace = write_csv(
        tmp_path / "dst.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens",
        ["2023-03-12 01:59:59.0000000,100,10", "2023-03-12 03:00:00.0000000,100,10"],
    )
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        if time.timezone == 0:
            pytest.skip("no time zone database here")
        arrival = read_trace(trace).arrival_s
    finally:
        monkeypatch.undo()
        time.tzset()
    assert arrival.tolist() == [0.0, 3601.0]


def test_trace_timestamps_keep_their_utc_offset(tmp_path: Path) -> None:
    trace = write_csv(
        tmp_path / "offsets.csv",
        "timestamp,input,output",
        ["2023-01-01T00:00:00+00:00,10,10", "2023-01-01T05:00:01.000000+05:00,10,10"],
    )
    assert read_trace(trace).arrival_s.tolist() == [0.0, 1.0]  # one second apart


def test_empirical_lengths_come_from_the_csv_column(tmp_path: Path) -> None:
    lengths = write_csv(tmp_path / "lengths.csv", "id,prompt_len", ["a,100", "b,200", "c,300"])
    sc = scenario(
        {
            "arrival": "offline",
            "num_requests": 100,
            "input_tokens": {
                "distribution": "empirical",
                "path": str(lengths),
                "column": "prompt_len",
            },
            "output_tokens": 20,
        }
    )
    res, s = run(sc)
    assert set(res.requests.column("input_tokens").tolist()) == {100, 200, 300}
    assert s["requests_completed"] == 100


# --- user-facing errors through the CLI --------------------------------------------------


def toml_text(workload: dict[str, Any], model: dict[str, Any] | None = None) -> str:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        return repr(v)

    model = model or {"name": MODEL}
    lines = ["[model]", *(f"{k} = {value(v)}" for k, v in model.items())]
    lines += ["", "[hardware]", f"gpu = {value(GPU)}", "", "[workload]"]
    lines += [f"{k} = {value(v)}" for k, v in workload.items()]
    return "\n".join(lines) + "\n"


def cli_run(*args: str) -> Any:
    return CliRunner().invoke(main, ["run", "--no-progress", *args])


def test_bad_trace_row_names_the_file_and_line(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "trace.csv",
        "timestamp_s,input_tokens,output_tokens",
        ["0.0,100,10", "0.5,100,10", "1.0,lots,10"],
    )
    path = tmp_path / "s.toml"
    path.write_text(toml_text({"arrival": "trace", "trace": "trace.csv"}), encoding="utf-8")
    result = cli_run(str(path), "--no-write")
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert str(tmp_path / "trace.csv") in result.output
    assert "line 4" in result.output
    assert "lots" in result.output


def test_model_that_does_not_fit_exits_2_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    workload = {"arrival": "poisson", "rate_per_s": 1.0, "duration_s": 10}
    path.write_text(toml_text(workload, {"name": "deepseek-v3", "weights": "fp16"}), "utf-8")
    result = cli_run(str(path), "--no-write")
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "does not fit" in result.output
    assert "nearest that fits" in result.output


# --- per-request sanity and the roofline bound ------------------------------------------

ROOFLINE_CASES = [
    (
        MODEL,
        GPU,
        1,
        256,
        {"arrival": "offline", "num_requests": 1024, "input_tokens": 1, "output_tokens": 1},
    ),
    (
        MODEL,
        GPU,
        2,
        256,
        {"arrival": "offline", "num_requests": 1024, "input_tokens": 8, "output_tokens": 64},
    ),
    (MODEL, GPU, 1, 32, {"arrival": "offline", "num_requests": 256, **CHAT}),
    (
        "llama-2-7b",
        "h100-sxm",
        2,
        256,
        {"arrival": "poisson", "rate_per_s": 30, "duration_s": 20, **VARIED},
    ),
    (
        "llama-2-7b",
        "h100-sxm",
        1,
        64,
        {
            "arrival": "closed",
            "concurrency": 64,
            "duration_s": 20,
            "input_tokens": 4,
            "output_tokens": 200,
        },
    ),
]


@pytest.mark.parametrize(
    ("model", "gpu", "replicas", "max_num_seqs", "workload"),
    ROOFLINE_CASES,
    ids=["1-1", "8-64x2", "chat-32seqs", "h100-poisson", "h100-closed"],
)
def test_no_simulation_beats_the_hardware(
    model: str, gpu: str, replicas: int, max_num_seqs: int, workload: dict[str, Any]
) -> None:
    sc = scenario(
        workload,
        model=model,
        gpu=gpu,
        hardware={"replicas": replicas},
        engine={"max_num_seqs": max_num_seqs},
    )
    res, s = run(sc)
    cfg = build_pools(sc)[0].replica.cfg
    step = step_time_s(cfg, 0.0, 0.0, 0.0, float(max_num_seqs), 0.0)
    bound = replicas * max_num_seqs / step
    assert 0 < s["output_tokens_per_s"] <= bound

    table = request_table(res)
    done = res.requests.column("status") == COMPLETED
    assert done.any()
    ttft, e2e, tpot = table["ttft_s"][done], table["e2e_s"][done], table["tpot_s"][done]
    assert np.all(ttft > 0)
    assert np.all(ttft <= e2e)
    multi = res.requests.column("output_tokens")[done] > 1
    assert np.all(tpot[multi] > 0)
    assert np.all(np.isnan(tpot[~multi]))
    rec = res.requests
    assert np.all(rec.column("scheduled_s")[done] >= rec.column("arrival_s")[done])
    assert np.all(rec.column("first_token_s")[done] >= rec.column("scheduled_s")[done])
    for key in ("ttft_s", "tpot_s", "e2e_s"):
        stats = s[key]
        if stats["mean"] is not None:
            assert stats["p50"] <= stats["p90"] <= stats["p95"] <= stats["p99"]


def test_capacity_estimate_is_consistent_with_a_max_load_run() -> None:
    # the summary's fleet capacity (the compiled steady state) is what a max-load run of
    # the same fleet sustains; the run's drain tail costs it well under 5%
    from simplan.metrics import fleet_capacity_tokens_per_s

    sc = scenario({"arrival": "offline", "num_requests": 1024, **CHAT})
    _, s = run(sc)
    cap = fleet_capacity_tokens_per_s(SimpleNamespace(pools=build_pools(sc)), 512, 128)
    achieved = s["input_tokens_per_s"] + s["output_tokens_per_s"]
    assert achieved == pytest.approx(cap, rel=0.05)


# --- output files ------------------------------------------------------------------------


def test_run_writes_netcdf_and_summary(tmp_path: Path) -> None:
    import xarray as xr

    scenario_path = tmp_path / "s.toml"
    workload = {"arrival": "poisson", "rate_per_s": 5.0, "duration_s": 20, "output_tokens": 64}
    scenario_path.write_text(toml_text(workload), encoding="utf-8")
    out = tmp_path / "out"
    summary = api.run(scenario_path, output_dir=out)
    assert summary["output_dir"] == str(out)
    assert sorted(os.listdir(out)) == ["results.nc", "summary.json"]  # no leftover .tmp
    on_disk = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert on_disk == {k: v for k, v in summary.items() if k != "output_dir"}
    with xr.open_dataset(out / "results.nc", engine="h5netcdf") as ds:
        assert {"request", "time", "replica"} <= set(ds.sizes)
        assert ds.sizes["request"] == summary["requests_total"]
        assert ds.sizes["replica"] == 1
        for name, var in ds.data_vars.items():
            if var.dtype.kind in "fiub":  # numbers carry units; text (notes, sources) not
                assert "units" in var.attrs, name
        assert ds["ttft_s"].attrs["units"] == "s"
        assert ds["time"].attrs["units"] == "s"
        assert ds["utilization"].dims == ("time", "replica")
        # the Dataset's variables hold the whole summary: it reads back unchanged
        assert decode_summary(ds) == on_disk
        assert "summary_json" not in ds.attrs
        assert ds.attrs["scenario_toml"] == scenario_path.read_text(encoding="utf-8")
        assert int((ds["status"] == COMPLETED).sum()) == summary["requests_completed"]
    # a second run replaces the files atomically and still leaves nothing behind
    api.run(scenario_path, output_dir=out)
    assert sorted(os.listdir(out)) == ["results.nc", "summary.json"]


def test_summary_is_plain_json() -> None:
    _, s = run(scenario({"arrival": "poisson", "rate_per_s": 5, "duration_s": 10, **CHAT}))
    text = json.dumps(s, allow_nan=False)
    assert json.loads(text) == s

    def finite(obj: Any) -> bool:
        if isinstance(obj, dict):
            return all(finite(v) for v in obj.values())
        if isinstance(obj, list):
            return all(finite(v) for v in obj)
        return not isinstance(obj, float) or math.isfinite(obj)

    assert finite(s)
