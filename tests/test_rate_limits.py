"""APIs' published rate limits against the busiest hour: the share used, the binding
limit, uncached input only for an input-token limit, and the same answer in run, its
Dataset, plan and the report."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr
from simplan import api, catalog
from simplan.dataset import decode_summary, encode_summary, summary_coords
from simplan.economics import ApiQuote
from simplan.rate_limits import over_limit_note, rate_limit_cell, rate_limit_use
from tiny_scenarios import TINY_RUN

LIMIT = catalog.RateLimit(
    tier="Tier 4",
    requests_per_min=4_000,
    input_tokens_per_min=2_000_000,
    output_tokens_per_min=400_000,
    source="test",
    as_of="2026-12",
)


def quote(cached_share: float = 0.0, limit: catalog.RateLimit | None = LIMIT) -> ApiQuote:
    return ApiQuote("x", 3.0, 15.0, "test", cached_input_share=cached_share, rate_limit=limit)


def test_the_most_binding_limit_is_reported_with_the_share_it_uses() -> None:
    # 10 req/s of 2,000 in + 500 out: 600 RPM (15%), 1.2 M input/min (60%), 300 k out (75%)
    use = rate_limit_use(quote(), 10.0, 20_000.0, 5_000.0)
    assert use is not None
    assert use["binding"] == "output_tokens_per_min"
    assert use["use"] == pytest.approx(0.75)
    assert use["needed_per_min"] == pytest.approx(300_000)
    assert use["within"] and over_limit_note("x", use) is None
    assert rate_limit_cell(use["use"], use["tier"]) == "75% of Tier 4"


def test_only_uncached_input_counts_against_an_input_token_limit() -> None:
    # prompts three-quarters served from the API's cache: 4 M input/min is 1 M uncached
    heavy = (10.0, 4e6 / 60, 1_000.0)
    uncached = rate_limit_use(quote(0.0), *heavy)
    cached = rate_limit_use(quote(0.75), *heavy)
    assert uncached is not None and cached is not None
    assert uncached["binding"] == "input_tokens_per_min" and uncached["use"] == pytest.approx(2.0)
    assert cached["use"] == pytest.approx(0.5)


def test_a_load_over_the_limit_says_by_how_much_it_needs_the_limit_raised() -> None:
    use = rate_limit_use(quote(), 150.0, 1_000.0, 1_000.0)  # 9,000 RPM against 4,000
    assert use is not None and not use["within"] and use["use"] == pytest.approx(2.25)
    note = over_limit_note("x", use)
    assert note is not None and "9,000 requests per minute" in note and "3x that limit" in note
    assert rate_limit_cell(use["use"], use["tier"]) == "2.2x Tier 4 (over)"


def test_no_published_limit_is_no_verdict() -> None:
    assert rate_limit_use(quote(limit=None), 1e6, 1e9, 1e9) is None
    assert rate_limit_cell(None, None) == "–"


def test_every_catalog_limit_is_sourced_and_dated() -> None:
    limited = [a for a in catalog.load("api").values() if a.rate_limit is not None]
    assert len(limited) >= 10
    for a in limited:
        assert a.rate_limit is not None
        assert a.rate_limit.source and a.rate_limit.as_of and a.rate_limit.limits()


# the tiny run (4 req/s) with an inline API whose contract allows 120 requests/min
SCENARIO = (
    TINY_RUN
    + """
[[api]]
id = "contract"
usd_per_mtok_input = 1.0
usd_per_mtok_output = 2.0
rate_limit = { tier = "our contract", requests_per_min = 120, source = "test", as_of = "2026-12" }
"""
)


def test_run_its_dataset_and_plan_give_the_same_verdict(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(SCENARIO, encoding="utf-8")  # 240 requests/min
    s = api.run(p, write=False)
    contract = s["api"]["contract"]
    assert contract["rate_limit_use"] == pytest.approx(2.0)
    assert contract["rate_limit_tier"] == "our contract"
    assert s["api"]["deepseek-v3"]["rate_limit_use"] is None  # DeepSeek publishes none
    assert s["api"]["gpt-4o"]["rate_limit_use"] == pytest.approx(240 / 10_000)
    ds = xr.Dataset(encode_summary(s), coords=summary_coords(s))
    back = decode_summary(ds)["api"]
    assert back["contract"]["rate_limit_tier"] == "our contract"
    assert back["contract"]["rate_limit_use"] == pytest.approx(2.0)
    assert back["deepseek-v3"]["rate_limit_tier"] is None

    planned = api.plan(p, verify_candidates=0)
    by_id = {a["id"]: a for a in planned["apis"]}
    assert by_id["contract"]["rate_limit"]["use"] == pytest.approx(2.0)
    assert not by_id["contract"]["rate_limit"]["within"]
    assert any(n.startswith("contract: the busiest hour needs 240") for n in planned["notes"])
    assert by_id["gpt-4o"]["rate_limit"]["within"]


def test_a_hybrid_never_sends_the_api_more_than_its_limit_at_the_busiest_hour(
    tmp_path: Path,
) -> None:
    """An API at a third of the fleet's price takes everything in a hybrid, until its
    limit binds: then the fleet keeps enough replicas that the overflow fits the limit."""
    from simplan.plan.alternatives import _hybrid
    from simplan.plan.candidates import Candidate
    from simplan.scenario import load_scenario

    p = tmp_path / "s.toml"
    p.write_text(SCENARIO, encoding="utf-8")
    sc = load_scenario(p)
    cand = Candidate("h100-sxm", "fp16", 1, "on_demand", True, replicas=4)
    cand.replica_rate_under_slo_per_s = 1.0  # 4 req/s of load: 4 replicas for all of it
    cand.replica_usd_per_hour = 10.0
    lengths = (500.0, 150.0)  # the tiny run's prompt and output
    free = ApiQuote("cheap", 0.01, 0.01, "test")
    capped = ApiQuote(
        "capped",
        0.01,
        0.01,
        "test",
        rate_limit=LIMIT.model_copy(
            update={
                "requests_per_min": 90.0,
                "input_tokens_per_min": None,
                "output_tokens_per_min": None,
            }
        ),
    )
    assert _hybrid(cand, sc, free, lengths, 1e9)["replicas"] == 0  # all to the cheap API
    h = _hybrid(cand, sc, capped, lengths, 1e9)
    # 90 requests/min = 1.5 req/s: at least 3 replicas so that 4 - 3 = 1 req/s overflows
    assert h["replicas"] == 3 and h["api_rate_limit_use"] == pytest.approx(60 / 90)


def test_overflow_in_the_simulation_stays_within_the_apis_limit(tmp_path: Path) -> None:
    """A fleet capped at 0.5 req/s self-hosted sends the rest of 4 req/s to an API that
    accepts 30 requests a minute: over 120 s the API takes at most its limit (a full
    minute's bucket at the start plus 30 a minute), the rest stays on the fleet."""
    from simplan.fleet import SERVED_BY_API
    from simplan.scenario import load_scenario
    from simplan.sim import simulate

    text = (
        '[model]\nname = "llama-3.1-8b"\n[hardware]\ngpu = "h100-sxm"\nreplicas = 1\n'
        '[workload]\narrival = "constant"\nrate_per_s = 4.0\nduration_s = 120\n'
        "input_tokens = 300\noutput_tokens = 50\n"
        '[overflow]\napi = "limited"\nrate_cap_per_s = 0.5\n'
        '[[api]]\nid = "limited"\nusd_per_mtok_input = 1.0\nusd_per_mtok_output = 2.0\n'
        'rate_limit = { tier = "test", requests_per_min = 30, source = "test", '
        'as_of = "2026-12" }\n'
    )
    p = tmp_path / "s.toml"
    p.write_text(text, encoding="utf-8")
    res = simulate(load_scenario(p))
    rec = res.requests
    to_api = int((rec.column("replica") == SERVED_BY_API).sum())
    assert res.fleet.overflow is not None
    served = res.fleet.overflow.served
    assert served.requests == to_api
    assert 30 + 30 * 2 - 2 <= to_api <= 30 + 30 * 2  # the whole limit is used, never more
    assert served.rate_limited > 100  # about 480 - 60 - 90 requests the API refused
    assert served.rate_limited + to_api <= rec.n


SWEEP_LIMITS = """
name = "rate limits along a sweep"
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[workload]
rate_per_s = 20.0
duration_s = 60
input_tokens = 2000
output_tokens = 500
diurnal = [DAY]
[slo]
ttft_p95_s = 2.0
[pricing]
apis = ["gpt-4o", "deepseek-v3"]
[sweep]
"workload.rate_per_s" = [10.0, 20.0, 40.0]
""".replace("DAY", ", ".join(["0.5"] * 12 + ["1.5"] * 12))


def test_a_sweep_states_each_apis_rate_limit_share_as_plan_does(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(SWEEP_LIMITS, encoding="utf-8")
    ds = api.sweep(p, method="fast")
    use = ds["api_rate_limit_use"]
    busiest = ds["busiest_rate_per_s"].values.ravel()
    peak = 1.5 / 1.0  # the cycle's busiest hour over its mean
    assert busiest == pytest.approx(peak * ds["rate_per_s"].values)
    gpt = use.sel(api="gpt-4o").values.ravel()
    # the busiest hour's load scales with the rate: so does the share of the limit
    assert gpt[1] == pytest.approx(2 * gpt[0]) and gpt[2] == pytest.approx(4 * gpt[0])
    assert bool(use.sel(api="deepseek-v3").isnull().all())  # no published limit
    # plan states the same share for the same load
    p20 = tmp_path / "p.toml"
    p20.write_text(SWEEP_LIMITS.split("[sweep]")[0], encoding="utf-8")
    planned = {a["id"]: a for a in api.plan(p20, verify_candidates=0)["apis"]}
    assert planned["gpt-4o"]["rate_limit"]["use"] == pytest.approx(gpt[1], rel=1e-9)
