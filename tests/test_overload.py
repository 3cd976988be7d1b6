"""Overload just above capacity: the queue's growth stops the run, and the work stays bounded.

Before, only a load over 1.5x the fleet's capacity (by the compiled model) was cut short:
at 1.4x a day-long run simulated every queued request and grew past 1.5 GB.
"""

from __future__ import annotations

from pathlib import Path

import simpy
from simplan import api
from simplan.overload import MAX_BACKLOG, WATCH_INTERVAL_S, saturation_backlog, watch_backlog
from simplan.pools import build_pools, fleet_max_rate_per_s
from simplan.scenario import load_scenario

RUN = """
name = "near capacity"
[model]
name = "llama-3.1-8b"
weights = "fp8"
[hardware]
gpu = "h100-sxm"
[workload]
rate_per_s = {rate}
duration_s = {duration}
input_tokens = 500
output_tokens = 200
[simulation]
seed = 4
"""


def _capacity(tmp_path: Path) -> float:
    p = tmp_path / "c.toml"
    p.write_text(RUN.format(rate=1.0, duration=60))
    return fleet_max_rate_per_s(build_pools(load_scenario(p)), 500, 200)


def test_a_day_at_1_4x_capacity_stops_on_the_queues_growth(tmp_path: Path) -> None:
    capacity = _capacity(tmp_path)
    rate, day = 1.4 * capacity, 86_400
    p = tmp_path / "over.toml"
    p.write_text(RUN.format(rate=rate, duration=day))
    s = api.run(p, write=False)
    # a small share of the day's requests was simulated, not all of them
    assert s["requests_total"] < 0.05 * rate * day
    sat = s["saturation"]
    assert sat["offered_requests_per_s"] > 1.2 * sat["sustained_requests_per_s"]
    assert any(n.startswith("saturation: the queue grew") for n in s["notes"])
    assert s["requests_in_flight"] <= MAX_BACKLOG
    assert s["requests_total"] == (
        s["requests_completed"] + s["requests_rejected"] + s["requests_in_flight"]
    )
    assert s["slo_met"] is not True


def test_a_stable_queue_near_capacity_is_simulated_in_full(tmp_path: Path) -> None:
    capacity = _capacity(tmp_path)
    p = tmp_path / "busy.toml"
    p.write_text(RUN.format(rate=0.9 * capacity, duration=900))
    s = api.run(p, write=False)
    assert "saturation" not in s
    assert not any(n.startswith("saturation") for n in s["notes"])
    assert s["requests_in_flight"] == 0
    assert s["requests_total"] == s["requests_completed"]
    assert abs(s["requests_total"] - 0.9 * capacity * 900) < 5 * (0.9 * capacity * 900) ** 0.5


# --- the watcher in exact simulated time --------------------------------------------------------


def _watch(backlog_at, capacity_per_s: float, until: float) -> list[tuple[float, str]]:  # type: ignore[no-untyped-def]
    env = simpy.Environment()
    calls: list[tuple[float, str]] = []
    env.process(
        watch_backlog(
            env, lambda: backlog_at(env.now), capacity_per_s, lambda n: calls.append((env.now, n))
        )
    )
    env.run(until=until)
    return calls


def test_a_linearly_growing_queue_stops_when_it_holds_the_saturation_backlog() -> None:
    # 10 req/s capacity: the limit is 3,000 requests (300 s of work); growing 2 req/s,
    # the first sample at or over it is t = 1,500 s
    assert saturation_backlog(10.0) == 3000
    calls = _watch(lambda t: int(2 * t), 10.0, 10_000)
    assert len(calls) == 1
    t, note = calls[0]
    assert t == 1500.0
    assert "from 1,500 to 3,000 requests between 750 s and 1,500 s" in note
    assert "about 2.00 req/s" in note


def test_a_large_but_steady_queue_is_not_saturation() -> None:
    # above the limit but not growing (a busy fleet with a long, stable queue)
    assert _watch(lambda t: 5000 + (100 if int(t) % 20 else -100), 10.0, 50_000) == []


def test_any_queue_at_the_backlog_cap_stops() -> None:
    calls = _watch(lambda t: MAX_BACKLOG if t >= 40 else 0, 1e6, 1000)
    assert [t for t, _ in calls] == [40.0]
    assert WATCH_INTERVAL_S == 10.0  # the times above are multiples of it


def test_request_rows_never_grow_past_the_runs_request_count() -> None:
    from simplan.recorder import Recorder

    rec = Recorder(capacity=16, max_rows=40)
    for i in range(40):
        rec.add(float(i), 10, 5)
    # doubling would have reached 64 rows (for 2e7 requests, 2**25: 68% more memory)
    assert rec.arrival_s.shape == (40,) and rec.n == 40
    assert rec.column("arrival_s").tolist() == [float(i) for i in range(40)]


# --- a run's request budget: refused before anything is allocated -----------------------

OFFLINE = """
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
replicas = 4
[workload]
arrival = "offline"
num_requests = {n}
input_tokens = 200
output_tokens = 20
"""


def test_an_offline_job_over_the_request_budget_is_refused_by_check_and_run(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner
    from simplan.cli import main

    p = tmp_path / "big.toml"
    p.write_text(OFFLINE.format(n=20_000_000))
    for cmd in ("check", "run"):
        result = CliRunner().invoke(main, [cmd, str(p)])
        assert result.exit_code == 2, result.output
        assert "workload.num_requests = 20000000" in result.output
        assert "simulation.max_requests = 500,000" in result.output
        assert "num_requests <= 500,000" in result.output
    assert not (tmp_path / "results").exists()
    # the same job, with the budget raised on purpose, is accepted
    p.write_text(OFFLINE.format(n=20_000_000) + "[simulation]\nmax_requests = 20000000\n")
    assert CliRunner().invoke(main, ["check", str(p)]).exit_code == 0


def test_a_long_open_loop_is_refused_by_its_duration_but_an_overload_is_cut_short(
    tmp_path: Path,
) -> None:
    import pytest
    from simplan.errors import SimplanError

    capacity = _capacity(tmp_path)
    p = tmp_path / "long.toml"
    p.write_text(RUN.format(rate=0.5 * capacity, duration=1e7))  # millions of requests
    with pytest.raises(SimplanError, match="duration_s <= ") as info:
        api.run(p, write=False)
    assert info.value.problems[0].key_path == "workload.duration_s"
    # offered more than the fleet serves (6.3 million requests over the run): the queue's
    # growth stops it, so it is not refused for requests that would never be simulated
    p.write_text(RUN.format(rate=1.4 * capacity, duration=4_500_000 / capacity))
    s = api.run(p, write=False)
    assert s["requests_total"] < 1_000_000 and "saturation" in s


def test_a_request_row_takes_at_most_64_bytes() -> None:
    """A plain run's rows stay at 64 bytes; the fields of 2026 workloads (reasoning,
    prefix reuse, sessions, disaggregation) cost memory only where they are used."""
    from simplan.recorder import Recorder

    def row_bytes(rec: Recorder) -> float:
        fields = (*rec._FLOAT, *rec._INT, *rec.OPTIONAL)
        owned = [getattr(rec, f) for f in fields if getattr(rec, f).flags.owndata]
        return sum(a.nbytes for a in owned) / (1 << 20)

    assert row_bytes(Recorder(capacity=1 << 20)) <= 64
    assert row_bytes(Recorder(capacity=1 << 20, features=Recorder.FEATURES)) <= 96
