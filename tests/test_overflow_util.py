"""The overflow rate cap below 1 req/s, and what an elastic fleet had up (MFU denominators)."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import simpy
from simplan.engine import ACTIVE, DRAINING, FAILED, OFF, PROVISIONING
from simplan.fleet import (
    SERVED_BY_API,
    Fleet,
    cap_burst,
    cold_start_s,
    provisioned_capacity,
    replica_up_s,
    up_counts,
    up_intervals,
)
from simplan.kernels import layout as c
from simplan.pools import build_pools
from simplan.recorder import COMPLETED, Recorder
from simplan.scenario import Scenario, load_scenario
from simplan.sim import build_engines, simulate

BASE = (
    '[model]\nname = "llama-3.1-8b"\n'
    '[hardware]\ngpu = "a100-sxm4-80gb"\nreplicas = 1\n'
    "[simulation]\nseed = 5\ntimeseries_interval_s = 5\n"
)


def _load(tmp_path: Path, toml: str) -> Scenario:
    path = tmp_path / "s.toml"
    path.write_text(BASE + toml, encoding="utf-8")
    return load_scenario(path)


def _capped(tmp_path: Path, rate: float, duration: float) -> Any:
    sc = _load(
        tmp_path,
        '[overflow]\napi = "gpt-4o-mini"\nrate_cap_per_s = 0.5\n'
        f'[workload]\narrival = "poisson"\nrate_per_s = {rate}\nduration_s = {duration}\n'
        "input_tokens = 400\noutput_tokens = 120\n",
    )
    return simulate(sc)


# --- [overflow] rate_cap_per_s below 1 ---------------------------------------------------


def test_rate_cap_below_one_self_hosts_a_light_load(tmp_path: Path) -> None:
    """0.02 req/s against a cap of 0.5 req/s: (almost) everything stays on the fleet."""
    res = _capped(tmp_path, 0.02, 3000)
    rec = res.requests
    n = rec.n
    to_api = int((rec.column("replica") == SERVED_BY_API).sum())
    assert n >= 30
    assert res.fleet.overflow is not None
    assert res.fleet.overflow.served.requests == to_api
    # the bucket starts empty: only an arrival in the first 2 s may overflow
    assert to_api <= 1
    assert (rec.column("status") == COMPLETED).all()


def test_rate_cap_below_one_admits_the_cap_on_average(tmp_path: Path) -> None:
    """2 req/s against a cap of 0.5 req/s: about 0.5 req/s self-hosted, 1.5 req/s to the API."""
    duration = 1200.0
    res = _capped(tmp_path, 2.0, duration)
    rec = res.requests
    to_api = int((rec.column("replica") == SERVED_BY_API).sum())
    self_hosted = rec.n - to_api
    span = res.arrival_end_s
    assert span == pytest.approx(duration, rel=0.01)
    assert self_hosted / span == pytest.approx(0.5, rel=0.05)
    assert to_api / span == pytest.approx(rec.n / span - 0.5, rel=0.05)
    assert res.fleet.self_hosted_arrivals == self_hosted


def test_cap_burst_is_a_second_of_requests_and_at_least_two() -> None:
    assert cap_burst(0.02) == cap_burst(0.5) == cap_burst(1.0) == 2.0
    assert cap_burst(2.5) == 2.5 and cap_burst(8.0) == 8.0


# --- provisioned capacity at known times -------------------------------------------------

ELASTIC = (
    '[[hardware.pools]]\ngpu = "h100-sxm"\ntp = 2\nreplicas = 1\n'
    "[autoscaling]\nmin_replicas = 1\nmax_replicas = 3\ninstance_start_s = 5\n"
    "storage_gb_per_s = 10\n"
    "[workload]\nrate_per_s = 1\nduration_s = 60\ninput_tokens = 400\noutput_tokens = 120\n"
)
EVERY_BILLED = (PROVISIONING, ACTIVE, DRAINING, FAILED)


def _scripted_fleet(tmp_path: Path) -> tuple[Fleet, float]:
    """A fleet driven by hand: engines 0-2 autoscaled (1 GPU), engine 3 a 2-GPU pool.

    t=0: engines 0 and 3 active; t=10 and t=20: engines 1 and 2 provisioned (active one
    cold start later); t=200: engine 1 drained (idle, so off at once); t=250: engine 3
    fails, repaired at t=300; the run ends at t=400.
    """
    sc = _load(tmp_path, ELASTIC)
    pools = build_pools(sc)
    env = simpy.Environment()
    rec = Recorder()
    engines, billing = build_engines(env, sc, pools, rec)
    fleet = Fleet(env, sc, engines, billing, rec, sc.model.arch().max_context_tokens, 5)
    assert [e.state for e in engines] == [ACTIVE, OFF, OFF, ACTIVE]
    assert [e.replica.num_gpus for e in engines] == [1, 1, 1, 2]
    for e in engines:
        if e.state == ACTIVE:
            fleet.activate(e)
        else:
            fleet.set_state(e, OFF)
    cs = cold_start_s(engines[1], fleet.autoscaling)
    assert 5 < cs < 30

    def script() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(10)
        fleet.provision(engines[1])
        yield env.timeout(10)
        fleet.provision(engines[2])
        yield env.timeout(180)
        fleet.drain(engines[1])
        yield env.timeout(50)
        fleet.set_state(engines[3], FAILED)
        yield env.timeout(50)
        fleet.activate(engines[3])

    env.process(script())
    env.run(until=400)
    fleet.finish_run()
    return fleet, cs


def test_up_seconds_at_known_times(tmp_path: Path) -> None:
    fleet, cs = _scripted_fleet(tmp_path)
    assert [e.state for e in fleet.engines] == [ACTIVE, OFF, ACTIVE, ACTIVE]
    assert up_intervals(fleet) == [
        [(0.0, 400.0)],
        [(10 + cs, 200.0)],
        [(20 + cs, 400.0)],
        [(0.0, 250.0), (300.0, 400.0)],
    ]
    whole = replica_up_s(fleet, 0, 400)
    np.testing.assert_allclose(whole, [400, 190 - cs, 380 - cs, 350])
    # the same time the fleet's own availability accounting saw as active or draining
    np.testing.assert_allclose(whole, [b.active_s for b in fleet.billing])
    # every billed state: the billed seconds (provisioning and failed included)
    billed = replica_up_s(fleet, 0, 400, states=EVERY_BILLED)
    np.testing.assert_allclose(billed, [400, 190, 380, 400])
    np.testing.assert_allclose(billed, [b.billed_s for b in fleet.billing])
    np.testing.assert_allclose(replica_up_s(fleet, 50, 350), [300, 150, 300, 250])
    np.testing.assert_allclose(replica_up_s(fleet, 0, 5), [5, 0, 0, 5])

    times, replicas, gpus = up_counts(fleet)
    np.testing.assert_allclose(times, [0, 10 + cs, 20 + cs, 200, 250, 300, 400])
    assert replicas.tolist() == [2, 3, 4, 3, 2, 3, 0]
    assert gpus.tolist() == [3, 4, 5, 4, 2, 4, 0]


def test_provisioned_capacity_at_known_times(tmp_path: Path) -> None:
    fleet, _ = _scripted_fleet(tmp_path)
    cap = provisioned_capacity(fleet, 50, 350)
    up = np.array([300, 150, 300, 250])
    gpus = np.array([1, 1, 1, 2])
    np.testing.assert_allclose(cap["replica_up_s"], up)
    assert cap["gpus"].tolist() == gpus.tolist()
    np.testing.assert_allclose(cap["gpu_up_s"], up * gpus)
    flops = np.array([e.cfg[c.PEAK_GEMM_FLOP_PER_S] for e in fleet.engines])
    bw = np.array([e.cfg[c.BW_BYTES_PER_S] for e in fleet.engines])
    assert cap["peak_flop"] == pytest.approx(float((up * gpus * flops).sum()))
    assert cap["peak_bytes"] == pytest.approx(float((up * gpus * bw).sum()))
    assert cap["mean_replicas"] == pytest.approx(1000 / 300)
    assert cap["mean_gpus"] == pytest.approx(1250 / 300)
    assert (cap["peak_replicas"], cap["peak_gpus"]) == (4, 5)
    assert (cap["window_peak_replicas"], cap["window_peak_gpus"]) == (4, 5)
    late = provisioned_capacity(fleet, 260, 290)  # engines 0 and 2 only
    assert (late["window_peak_replicas"], late["window_peak_gpus"]) == (2, 2)
    assert late["mean_replicas"] == pytest.approx(2.0)
    assert (late["peak_replicas"], late["peak_gpus"]) == (4, 5)  # over the whole run
    early = provisioned_capacity(fleet, 0, 5)
    assert (early["window_peak_replicas"], early["mean_gpus"]) == (2, pytest.approx(3.0))


# --- provisioned capacity of an autoscaled run -------------------------------------------


def test_autoscaled_run_utilization_denominators(tmp_path: Path) -> None:
    sc = _load(
        tmp_path,
        "[autoscaling]\nmin_replicas = 1\nmax_replicas = 6\ninterval_s = 10\n"
        "scale_down_delay_s = 60\ninstance_start_s = 20\n"
        '[workload]\narrival = "poisson"\nrate_per_s = 30\nduration_s = 300\n'
        "input_tokens = 400\noutput_tokens = 120\n",
    )
    res = simulate(sc)
    fleet = res.fleet
    n = len(res.engines)
    assert n == 6
    start, end = 0.0, res.arrival_end_s
    cap = provisioned_capacity(fleet, start, end)
    # it scaled up beyond the initial replica
    assert cap["peak_replicas"] > 1
    assert cap["mean_replicas"] <= cap["window_peak_replicas"] <= cap["peak_replicas"] <= n
    assert cap["mean_gpus"] <= cap["window_peak_gpus"] <= cap["peak_gpus"]
    assert cap["peak_gpus"] <= sum(e.replica.num_gpus for e in res.engines)
    assert ((cap["replica_up_s"] >= 0) & (cap["replica_up_s"] <= end - start + 1e-9)).all()
    np.testing.assert_allclose(
        replica_up_s(fleet, 0, res.end_s), [b.active_s for b in fleet.billing], atol=1e-6
    )
    # every sample of the replica states stays within the peak
    states = res.series.array("state")
    up_now = np.isin(states, (ACTIVE, DRAINING)).sum(axis=1)
    assert up_now.max() <= cap["peak_replicas"]
    # the work done fits the capacity that was up: MFU and MBU at most 1
    ts = np.asarray(res.series.time_s)
    done = {
        k: float(np.interp(end, ts, res.series.array(k).sum(axis=1)))
        - float(np.interp(start, ts, res.series.array(k).sum(axis=1)))
        for k in ("flops", "bytes")
    }
    assert 0 < done["flops"] <= cap["peak_flop"]
    assert 0 < done["bytes"] <= cap["peak_bytes"]
