"""``sweep --verify N``: a fast sweep's cheapest points, checked by simulation."""

from __future__ import annotations

from pathlib import Path

import xarray as xr
from click.testing import CliRunner
from simplan import api, plots
from simplan.cli import main
from simplan.plots.read import verification_records

# One H100 serving Llama 3.1 8B in FP8 (~50 req/s of 500 + 200 tokens), a p95 SLO and a
# rate axis: the cheapest passing points are the busiest ones the SLO allows.
SCENARIO = """
[model]
name = "llama-3.1-8b"
weights = "fp8"
[hardware]
gpu = "h100-sxm"
[workload]
rate_per_s = 5.0
duration_s = 60
input_tokens = { distribution = "lognormal", mean = 500, std = 300, max = 4000 }
output_tokens = { distribution = "lognormal", mean = 200, std = 120, max = 2000 }
[slo]
ttft_p95_s = 0.5
tpot_p95_s = 0.03
[sweep]
"workload.rate_per_s" = [2.0, 8.0, 16.0]
"""


def test_the_cheapest_points_are_simulated_and_recorded(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(SCENARIO, encoding="utf-8")
    out = tmp_path / "v.nc"
    ds = api.sweep(p, output=out, verify=2)
    records = verification_records(ds)
    assert len(records) == 2
    # the two cheapest passing points, cheapest first (a busier replica costs less per token)
    assert [r["point"]["rate_per_s"] for r in records] == [16.0, 8.0]
    for r in records:
        assert r["holds"] in (True, False)
        assert 1 <= len(r["seeds"]) <= 3 and r["rate_per_s"] == r["point"]["rate_per_s"]
        worst = {k: max(v) for k, v in r["achieved"].items()}
        if r["holds"]:
            assert len(r["seeds"]) == 3
            assert worst["ttft_p95_s"] <= 0.5 and worst["tpot_p95_s"] <= 0.03
        # the fast prediction it was chosen on is recorded beside what the simulation saw
        assert r["fast"]["ttft_p95_s"] > 0
    # the written file carries the same record
    with xr.open_dataset(out) as back:
        assert verification_records(back) == records
    # a resumable store gets the same record, and the same seeds give the same numbers
    zarr_ds = api.sweep(p, output=tmp_path / "v.zarr", verify=1)
    assert verification_records(zarr_ds) == records[:1]
    # latency_vs_load marks the simulated p95s
    fig = plots.latency_vs_load(ds)
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    labels += [
        t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()
    ]
    assert any("p95 simulated" in lab for lab in labels)


def test_verify_is_for_fast_sweeps_only(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(SCENARIO, encoding="utf-8")
    r = CliRunner().invoke(main, ["sweep", str(p), "--method", "simulate", "--verify", "1"])
    assert r.exit_code == 2 and "--verify" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["sweep", str(p), "--verify", "-1"])
    assert r.exit_code == 2
