"""Elastic fleets: autoscaling, spot interruptions, failures, API overflow, and their accounting."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from simplan import catalog
from simplan.engine import ACTIVE, PROVISIONING
from simplan.fleet import SERVED_BY_API, cold_start_s
from simplan.metrics import summarize
from simplan.recorder import COMPLETED, Recorder
from simplan.scenario import AutoscalingSection, scenario_from_dict
from simplan.sim import simulate

CHAT = {"input_tokens": 400, "output_tokens": 120}


def scenario(**sections: Any):  # type: ignore[no-untyped-def]
    raw: dict[str, Any] = {
        "model": {"name": "llama-3.1-8b"},
        "hardware": {"gpu": "a100-sxm4-80gb", "replicas": 1},
        "workload": {"arrival": "poisson", "rate_per_s": 5.0, "duration_s": 600, **CHAT},
        "simulation": {"seed": 5, "timeseries_interval_s": 5},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return scenario_from_dict(raw)


@pytest.fixture
def finishes(monkeypatch: pytest.MonkeyPatch) -> Counter[int]:
    """Count every completion and rejection of each request."""
    seen: Counter[int] = Counter()
    finish, reject = Recorder.finish, Recorder.reject

    def counting_finish(self: Recorder, req: int, now: float) -> None:
        seen[req] += 1
        finish(self, req, now)

    def counting_reject(self: Recorder, req: int, now: float, reason: str) -> None:
        seen[req] += 1
        reject(self, req, now, reason)

    monkeypatch.setattr(Recorder, "finish", counting_finish)
    monkeypatch.setattr(Recorder, "reject", counting_reject)
    return seen


def _prices(res) -> list[float]:  # type: ignore[no-untyped-def]
    return [b.usd_per_s for b in res.fleet.billing]


def test_fleet_cost_is_replica_hours_times_price() -> None:
    sc = scenario(
        hardware={
            "pools": [
                {"gpu": "h100-sxm", "replicas": 1, "pricing": "reserved"},
                {
                    "gpu": "a100-sxm4-80gb",
                    "pricing": "spot",
                    "interruptions_per_hour": 6.0,
                    "interruption_notice_s": 30,
                },
            ]
        },
        autoscaling={
            "min_replicas": 0,
            "max_replicas": 3,
            "interval_s": 20,
            "scale_down_delay_s": 60,
            "instance_start_s": 30,
        },
    )
    res = simulate(sc)
    s = summarize(res)
    e = s["elastic"]
    for part in ("on_demand", "reserved", "spot"):
        hours = sum(b.billed_s for b in res.fleet.billing if b.pricing == part) / 3600
        assert e["replica_hours"][part] == pytest.approx(hours)
        pool_price = {p.section.pricing: p for p in res.pools}[part]
        gpu = catalog.gpu(pool_price.section.gpu)
        usd = hours * gpu.price_usd_per_hour(part) * pool_price.replica.num_gpus
        assert e["cost_by_part_usd"][part] == pytest.approx(usd)
    assert e["fleet_cost_usd"] == pytest.approx(
        sum(e["cost_by_part_usd"][p] for p in ("on_demand", "reserved", "spot"))
    )
    assert s["fleet_usd_per_hour"] == pytest.approx(e["fleet_cost_usd"] / (res.end_s / 3600))
    # the reserved replica is paid for the whole run, busy or not
    assert e["replica_hours"]["reserved"] == pytest.approx(res.end_s / 3600)


def test_every_request_is_served_exactly_once(finishes: Counter[int]) -> None:
    sc = scenario(
        workload={"rate_per_s": 12.0},
        hardware={
            "pools": [
                {
                    "gpu": "a100-sxm4-80gb",
                    "pricing": "spot",
                    "interruptions_per_hour": 20.0,
                    "interruption_notice_s": 0,
                }
            ]
        },
        failures={"mtbf_hours": 0.05, "repair_s": 60},
        overflow={"api": "gpt-4o-mini", "max_queue_per_replica": 2},
    )
    res = simulate(sc)
    s = summarize(res)
    assert s["requests_in_flight"] == 0
    assert set(finishes) == set(range(res.requests.n))
    assert max(finishes.values()) == 1
    e = s["elastic"]
    assert e["requests_requeued"] > 0 and e["requests_retried"] > 0 and e["requests_to_api"] > 0
    assert res.requests.column("retries").sum() == e["requests_requeued"] + e["requests_retried"]


def test_api_cost_is_its_tokens_times_its_prices() -> None:
    sc = scenario(workload={"rate_per_s": 20.0}, overflow={"api": "gpt-4o", "rate_cap_per_s": 8.0})
    res = simulate(sc)
    e = summarize(res)["elastic"]
    api = catalog.api("gpt-4o")
    expected = (
        e["api_input_tokens"] * api.usd_per_mtok_input
        + e["api_output_tokens"] * api.usd_per_mtok_output
    ) / 1e6
    assert e["cost_by_part_usd"]["api"] == pytest.approx(expected)
    rec = res.requests
    by_api = rec.column("replica") == SERVED_BY_API
    assert by_api.sum() == e["requests_to_api"] > 0
    # requests sent straight to the API carry their whole prompt and output
    assert e["api_input_tokens"] == rec.column("input_tokens")[by_api].sum()
    assert e["api_output_tokens"] == rec.column("output_tokens")[by_api].sum()
    # the rate cap holds: about 8 of the 20 requests per second stay self-hosted
    assert 0.5 < e["api_share_of_requests"] < 0.7
    assert np.all(rec.column("status")[by_api] == COMPLETED)


def test_autoscaler_scales_up_under_load() -> None:
    sc = scenario(
        workload={"rate_per_s": 60.0, "duration_s": 600},
        autoscaling={
            "policy": "queue_length",
            "target": 8,
            "min_replicas": 1,
            "max_replicas": 6,
            "interval_s": 15,
            "scale_down_delay_s": 60,
            "instance_start_s": 20,
        },
    )
    res = simulate(sc)
    states = res.series.array("state")
    active = (states == ACTIVE).sum(axis=1)
    assert active[0] == 1 and active.max() >= 3
    assert (states == PROVISIONING).any()
    assert summarize(res)["elastic"]["replicas_provisioned"] >= 2


def test_autoscaler_scales_down_and_draining_replicas_finish_their_requests() -> None:
    sc = scenario(
        hardware={"replicas": 4},
        workload={"rate_per_s": 6.0, "duration_s": 900},
        autoscaling={
            "policy": "target_utilization",
            "target": 0.7,
            "min_replicas": 1,
            "max_replicas": 4,
            "interval_s": 15,
            "scale_down_delay_s": 60,
            "instance_start_s": 10,
        },
    )
    res = simulate(sc)
    s = summarize(res)
    active = (res.series.array("state") == ACTIVE).sum(axis=1)
    assert active[0] == 4 and active[-1] < 4
    # replicas scaled down while serving: none of their requests was moved or lost
    assert s["elastic"]["requests_requeued"] == 0 and s["elastic"]["requests_retried"] == 0
    assert s["requests_completed"] == res.requests.n
    # billing stopped for the drained replicas
    hours = [b.billed_s / 3600 for b in res.fleet.billing]
    assert min(hours) < max(hours)


def test_cold_start_is_instance_start_plus_loading_the_weights() -> None:
    sc = scenario(
        model={"name": "llama-3.1-70b", "weights": "fp16"},
        hardware={"gpu": "h100-sxm", "tp": 4, "replicas": 1},
    )
    res = simulate(scenario(workload={"duration_s": 5}))  # any engine will do for the API
    from simplan.pools import build_pools

    pool = build_pools(sc)[0]
    engine = res.engines[0]
    engine.cfg = pool.replica.cfg
    auto = AutoscalingSection(instance_start_s=100.0, storage_gb_per_s=2.0)
    from simplan.kernels.memory import weight_bytes_per_gpu

    weights = weight_bytes_per_gpu(pool.replica.cfg) * 4
    assert weights > 130e9  # 70B in FP16
    assert cold_start_s(engine, auto) == pytest.approx(100.0 + weights / 2e9)


def test_failures_lower_availability_and_retry_requests() -> None:
    sc = scenario(
        hardware={"replicas": 3},
        workload={"rate_per_s": 10.0, "duration_s": 1800},
        failures={"mtbf_hours": 0.2, "repair_s": 120},
    )
    res = simulate(sc)
    s = summarize(res)
    e = s["elastic"]
    assert e["replica_failures"] > 0 and e["requests_retried"] > 0
    active = sum(b.active_s for b in res.fleet.billing)
    failed = sum(b.failed_s for b in res.fleet.billing)
    assert failed > 0
    assert e["availability"] == pytest.approx(active / (active + failed))
    assert 0.5 < e["availability"] < 1.0
    assert s["requests_completed"] == res.requests.n


def test_scheduled_policy_provisions_ahead_of_the_peak() -> None:
    diurnal = [0.2] * 24
    diurnal[1] = 2.0  # the second hour is busy
    sc = scenario(
        workload={"rate_per_s": 10.0, "duration_s": 7200, "diurnal": diurnal},
        autoscaling={
            "policy": "scheduled",
            "target": 0.7,
            "min_replicas": 1,
            "max_replicas": 6,
            "interval_s": 60,
            "instance_start_s": 120,
            "scale_down_delay_s": 300,
        },
        simulation={"seed": 5, "timeseries_interval_s": 30},
    )
    res = simulate(sc)
    t = np.asarray(res.series.time_s)
    active = (res.series.array("state") == ACTIVE).sum(axis=1)
    before_peak = active[(t > 100) & (t < 3000)].max()
    at_peak = active[(t > 3700) & (t < 7000)].max()
    assert at_peak > before_peak
    # the replicas for the peak started provisioning before the busy hour began
    provisioning = (res.series.array("state") == PROVISIONING).any(axis=1)
    assert t[provisioning].min() < 3600


def test_spot_interruptions_requeue_and_replace() -> None:
    sc = scenario(
        hardware={
            "pricing": "spot",
            "interruptions_per_hour": 30.0,
            "interruption_notice_s": 0,
            "replicas": 2,
        },
        workload={"rate_per_s": 8.0, "duration_s": 900},
    )
    res = simulate(sc)
    e = summarize(res)["elastic"]
    assert e["spot_interruptions"] > 0 and e["requests_requeued"] > 0
    assert e["replicas_provisioned"] >= e["spot_interruptions"] - 2
    assert summarize(res)["requests_completed"] == res.requests.n


def test_fleet_plot_shows_replicas_and_cost_by_part(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from simplan import api
    from simplan.plots import fleet_timeline, open_results

    path = tmp_path / "s.toml"
    path.write_text(
        '[model]\nname = "llama-3.1-8b"\n[hardware]\ngpu = "a100-sxm4-80gb"\n'
        '[[hardware.pools]]\ngpu = "a100-sxm4-80gb"\npricing = "reserved"\n'
        "[autoscaling]\nmin_replicas = 0\nmax_replicas = 3\ninterval_s = 10\n"
        "scale_down_delay_s = 30\ninstance_start_s = 5\n"
        '[overflow]\napi = "gpt-4o-mini"\nrate_cap_per_s = 4\n'
        "[workload]\nrate_per_s = 8\nduration_s = 300\ninput_tokens = 300\noutput_tokens = 80\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    api.run(path, output_dir=out)
    paths = api.plot(out, out_dir=tmp_path / "plots")
    assert {p.name for p in paths} >= {"timeline.png", "fleet.png", "fleet.svg"}
    fig = fleet_timeline(open_results(out))
    top, bottom = fig.axes[:2]
    assert {t.get_text() for t in top.get_legend().get_texts()} == {
        "provisioned (billed)",
        "active",
        "busy (running sequences)",
    }
    labels = {t.get_text() for t in bottom.get_legend().get_texts()}
    assert {"reserved replicas", "on-demand replicas", "overflow API"} <= labels
    assert "USD" in bottom.get_ylabel()
