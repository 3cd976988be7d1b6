"""Planner plots rendered from real results: a short run and a small fast sweep.

Each test checks what a reader relies on: axes labelled with units, one legend entry per
configuration (plus the API lines), the crossover labels, the SLO lines, the panel
counts, the saved files, and which kinds ``plot_results`` picks for a run or a sweep.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from simplan import api, plots
from simplan.errors import SimplanError
from tiny_scenarios import TINY_SWEEP

NEARLY_FREE_API = """
[[api]]
id = "nearly-free"
usd_per_mtok_input = 0.0001
usd_per_mtok_output = 0.0001
source = "made up for the test"
"""

UNITS = re.compile(r"\(([^()]+)\)\s*$")


@pytest.fixture(scope="module")
def run_dir(tiny_run_dir: Path) -> Path:
    return tiny_run_dir


@pytest.fixture(scope="module")
def run_ds(run_dir: Path) -> xr.Dataset:
    return plots.open_results(run_dir)


@pytest.fixture(scope="module")
def sweep_path(tmp_path_factory: pytest.TempPathFactory, tiny_sweep_toml: str) -> Path:
    d = tmp_path_factory.mktemp("sweep")
    # an API so cheap that it undercuts every fleet: its crossover lies off the plot
    text = tiny_sweep_toml.replace("[sweep]", NEARLY_FREE_API + "[sweep]")
    (d / "tiny_sweep.toml").write_text(text, encoding="utf-8")
    api.sweep(d / "tiny_sweep.toml", method="fast", output=d / "tiny_sweep.nc")
    return d / "tiny_sweep.nc"


@pytest.fixture(scope="module")
def sweep_ds(sweep_path: Path) -> xr.Dataset:
    return plots.open_results(sweep_path)


def legend_labels(fig: Figure) -> list[str]:
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes)]
    return [t.get_text() for lg in legends if lg is not None for t in lg.get_texts()]


def title(fig: Figure) -> str:
    """The figure's title with line wrapping undone."""
    return " ".join(fig.texts[0].get_text().split())


def assert_units(ax: Axes) -> None:
    for label in (ax.get_xlabel(), ax.get_ylabel()):
        assert UNITS.search(label), f"axis label without units: {label!r}"


def configs_with_feasible_points(ds: xr.Dataset, dims: list[str]) -> list[tuple[str, ...]]:
    feasible = ds["feasible"].any([d for d in ds["feasible"].dims if d not in dims])
    return [
        tuple(str(feasible[d].values[i]) for d, i in zip(dims, idx, strict=True))
        for idx in zip(*np.nonzero(feasible.transpose(*dims).values), strict=True)
    ]


def test_utilization_vs_cost_has_a_line_per_configuration_and_per_api(
    sweep_ds: xr.Dataset,
) -> None:
    fig = plots.utilization_vs_cost(sweep_ds)
    (ax,) = fig.axes
    assert_units(ax)
    assert "USD" in ax.get_ylabel() and "%" in ax.get_xlabel()
    labels = legend_labels(fig)
    configs = configs_with_feasible_points(sweep_ds, ["gpu", "weights"])
    assert len(configs) >= 3
    for gpu, weights in configs:
        assert f"{gpu} · {weights}" in labels
    apis = [lab for lab in labels if lab.startswith("API ")]
    assert len(apis) == sweep_ds.sizes["api"] == 3
    feasible = sweep_ds["feasible"].values
    missed = bool((feasible & ~sweep_ds["slo_met"].values).any())
    assert len(labels) == len(configs) + len(apis) + int(missed)
    # the API lines sit at the blended prices (input share 500 / 650 of the tokens)
    gpt = 500 / 650 * 2.5 + 150 / 650 * 10.0
    assert any(np.allclose(line.get_ydata(), gpt) for line in ax.get_lines())
    assert "Tiny sweep" in title(fig)


def test_crossovers_exist_for_gpt4o_and_never_for_a_nearly_free_api(
    sweep_ds: xr.Dataset,
) -> None:
    points = plots.crossovers(sweep_ds)
    assert any(p["api"] == "gpt-4o" for p in points)
    assert not any(p["api"] == "nearly-free" for p in points)
    prices = plots.api_prices(sweep_ds)
    for p in points:
        # at the crossover, one replica costs what the API charges for that volume ...
        api_cost = p["volume_tokens_per_month"] * prices[p["api"]]["usd_per_mtok_blended"] / 1e6
        assert api_cost == pytest.approx(p["monthly_cost_usd"])
        # ... and that volume is within what the replica serves under the SLO
        assert p["volume_tokens_per_month"] <= p["replica_capacity_tokens_per_month"]


def test_cost_vs_volume_is_log_log_and_labels_the_crossovers(sweep_ds: xr.Dataset) -> None:
    fig = plots.cost_vs_volume(sweep_ds)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert_units(ax)
    assert "tokens/month" in ax.get_xlabel() and "USD/month" in ax.get_ylabel()
    notes = [c.get_text() for c in ax.get_children() if isinstance(c, Annotation)]
    assert any(re.match(r"crossover [\d.,]+ [kMBT] tok/mo", n) for n in notes), notes
    labels = legend_labels(fig)
    configs = configs_with_feasible_points(sweep_ds, ["gpu", "weights"])
    fleets = [lab for lab in labels if not lab.startswith(("API ", "crossover"))]
    assert sorted(fleets) == sorted(f"{g} · {w}" for g, w in configs)
    assert sum(lab.startswith("API ") for lab in labels) == 3
    assert any(lab.startswith("crossover") for lab in labels)


def test_latency_vs_load_draws_the_slo_limits_and_caps_the_lines(sweep_ds: xr.Dataset) -> None:
    fig = plots.latency_vs_load(sweep_ds, max_lines=3)
    ax_t, ax_p = fig.axes
    for ax in (ax_t, ax_p):
        assert_units(ax) if ax is ax_p else None
        assert UNITS.search(ax.get_ylabel())
    assert ax_p.get_xlabel() == "offered request rate (requests/s)"
    labels = legend_labels(fig)
    assert "SLO ttft_p95_s = 500 ms" in labels and "SLO tpot_p95_s = 30 ms" in labels
    assert any(np.allclose(line.get_ydata(), 0.5) for line in ax_t.get_lines())
    assert any(np.allclose(line.get_ydata(), 0.03) for line in ax_p.get_lines())
    configs = [lab for lab in labels if " · " in lab]
    assert len(configs) == 3 and "3 of 8 configurations" in title(fig)
    # the fast method predicts p95 too: dashed lines, and the title names their source
    assert "p95" in labels and "mean and p95 (fast model)" in title(fig)
    dashed = [
        line
        for line in ax_t.get_lines()
        if line.get_linestyle() == "--" and len(line.get_xdata()) > 2  # not the SLO line
    ]
    assert len(dashed) == 3 and all(np.isfinite(line.get_ydata()).any() for line in dashed)


def test_run_timeline_has_four_panels_sharing_time(run_ds: xr.Dataset) -> None:
    fig = plots.run_timeline(run_ds)
    axes = fig.axes
    assert len(axes) == 4
    assert axes[-1].get_xlabel() == "simulated time (s)"
    ylabels = [ax.get_ylabel() for ax in axes]
    for text, unit in zip(ylabels, ("(requests)", "(sequences)", "(%)", "(%)"), strict=True):
        assert text.endswith(unit), text
    assert all(ax.get_shared_x_axes().joined(axes[0], ax) for ax in axes)
    labels = legend_labels(fig)
    assert [lab for lab in labels if lab.startswith("replica")] == ["replica 0", "replica 1"]
    assert "warm-up (excluded from statistics)" in labels
    assert len(axes[0].get_lines()) == 2
    assert "Tiny chat <run> & co" in title(fig)


def test_run_timeline_of_a_long_large_fleet_uses_hours_and_fleet_lines(
    run_ds: xr.Dataset,
) -> None:
    # stretch the time axis past 3 h and widen the fleet past 8 replicas
    big = xr.concat(
        [run_ds[["queue_length", "batch_size", "kv_cache_occupancy", "utilization"]]] * 5, "replica"
    )
    big = big.assign_coords(replica=np.arange(big.sizes["replica"]), time=big["time"] * 300)
    big.attrs = dict(run_ds.attrs)
    fig = plots.run_timeline(big)
    assert fig.axes[-1].get_xlabel() == "simulated time (h)"
    assert "diurnal runs show the day" in title(fig)
    assert all(len(ax.get_lines()) == 1 for ax in fig.axes)  # fleet total or mean
    assert "range over replicas" in legend_labels(fig)


def test_sweep_map_has_one_panel_per_facet_and_marks_infeasible_cells(
    sweep_ds: xr.Dataset,
) -> None:
    fig = plots.sweep_map(sweep_ds, "usd_per_mtok_total", "gpu", "weights", facet="replicas")
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == sweep_ds.sizes["replicas"] == 2
    assert [ax.get_title() for ax in panels] == ["replicas = 1", "replicas = 2"]
    # one colour scale shared by every panel
    assert len({id(ax.images[0].norm) for ax in panels}) == 1
    cbar = [ax for ax in fig.axes if not ax.images]
    assert cbar and "USD/Mtok" in cbar[0].get_ylabel()
    for ax in panels:
        assert_units(ax)
    assert "minimum over rate_per_s" in title(fig)
    assert any("infeasible" in lab for lab in legend_labels(fig))
    with pytest.raises(SimplanError, match="not a sweep axis"):
        plots.sweep_map(sweep_ds, "usd_per_mtok_total", "gpu", "nope")


def test_sweep_map_hatches_cells_where_nothing_is_feasible(sweep_ds: xr.Dataset) -> None:
    # over replicas x rate, the largest rate on one replica saturates every configuration
    fig = plots.sweep_map(sweep_ds, "usd_per_mtok_total", "rate_per_s", "replicas", facet="gpu")
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2
    data = panels[0].images[0].get_array()
    assert np.ma.count_masked(data) > 0  # NaN cells are masked over the hatched background
    assert any(getattr(p, "get_hatch", lambda: None)() for p in panels[0].patches)


def test_save_writes_png_and_svg(tmp_path: Path, sweep_ds: xr.Dataset) -> None:
    fig = plots.cost_vs_volume(sweep_ds)
    paths = plots.save(fig, tmp_path / "sub" / "cost")
    assert [p.name for p in paths] == ["cost.png", "cost.svg"]
    assert paths[0].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    svg = paths[1].read_text(encoding="utf-8")
    assert "<svg" in svg and "crossover" in svg
    assert not list((tmp_path / "sub").glob(".*.tmp"))  # atomic: no temporary files left


def test_plot_results_picks_the_kinds_for_a_run_and_a_sweep(
    tmp_path: Path, run_dir: Path, sweep_path: Path
) -> None:
    run_files = plots.plot_results(run_dir, out_dir=tmp_path / "run")
    assert sorted(p.name for p in run_files) == ["timeline.png", "timeline.svg"]
    sweep_files = plots.plot_results(sweep_path, out_dir=tmp_path / "sweep")
    kinds = ["utilization_vs_cost", "cost_vs_volume", "latency_vs_load", "sweep_map"]
    assert sorted(p.name for p in sweep_files) == sorted(
        f"tiny_sweep_{k}.{ext}" for k in kinds for ext in ("png", "svg")
    )
    assert all(p.stat().st_size > 1000 for p in run_files + sweep_files)
    # default output: beside the input
    only = plots.plot_results(sweep_path, kinds=["sweep_map"])
    assert {p.parent for p in only} == {sweep_path.parent}
    with pytest.raises(SimplanError, match="does not apply"):
        plots.plot_results(sweep_path, kinds=["timeline"])
    with pytest.raises(SimplanError, match="unknown plot kind"):
        plots.plot_results(run_dir, kinds=["pie"])


def test_plot_results_reads_zarr_sweeps_and_skips_missing_axes(tmp_path: Path) -> None:
    text = TINY_SWEEP.split("[sweep]")[0] + '[sweep]\n"hardware.replicas" = [1, 2, 4]\n'
    (tmp_path / "s.toml").write_text(text, encoding="utf-8")
    api.sweep(tmp_path / "s.toml", output=tmp_path / "s.zarr")
    files = plots.plot_results(tmp_path / "s.zarr")
    # one axis and no rate axis: neither latency_vs_load nor sweep_map applies
    assert sorted({p.stem for p in files}) == ["s_cost_vs_volume", "s_utilization_vs_cost"]


def test_no_pyplot_figures_are_left_open(sweep_ds: xr.Dataset, run_ds: xr.Dataset) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    for kind in plots.applicable_kinds(sweep_ds):
        plots.render(sweep_ds, kind)
    plots.render(run_ds, "timeline")
    assert plt.get_fignums() == before


def test_simulate_sweeps_draw_p95_and_size_fleets_from_the_served_load(
    sweep_ds: xr.Dataset,
) -> None:
    # what the simulate method leaves: p95 latencies, no capacity estimates
    sim = sweep_ds.copy(deep=True)
    sim["ttft_p95_s"] = sim["ttft_s"] * 1.5
    sim["tpot_p95_s"] = sim["tpot_s"] * 1.2
    sim["max_rate_per_s"] = sim["max_rate_per_s"] * np.nan
    sim["max_rate_under_slo_per_s"] = sim["max_rate_under_slo_per_s"] * np.nan
    sim.attrs["method"] = "simulate"
    # a simulation judges the percentile objectives themselves (the scenario's p95 limits)
    met = sim["feasible"] & (sim["ttft_p95_s"] <= 0.5) & (sim["tpot_p95_s"] <= 0.03)
    sim["slo_met"] = (met.dims, met.values)
    sim["slo_status"] = (met.dims, np.where(met.values, 0, 1).astype(np.int8))
    fig = plots.latency_vs_load(sim)
    labels = legend_labels(fig)
    assert "mean" in labels and "p95" in labels
    assert "mean and p95" in title(fig)
    ax_t = fig.axes[0]
    assert any(line.get_linestyle() == "--" for line in ax_t.get_lines())
    fig = plots.cost_vs_volume(sim)
    assert "largest simulated load meeting the SLO" in title(fig)
    points = plots.crossovers(sim)
    assert any(p["api"] == "gpt-4o" for p in points)
    # capacity: the most tokens per replica served at a point meeting the SLO
    ok = sim["feasible"] & sim["slo_met"]
    per_replica = (sim["input_tokens_per_s"] + sim["output_tokens_per_s"]) / sim["replicas"]
    best = float(per_replica.where(ok).sel(gpu="h100-sxm", weights="fp8").max())
    cap = {p["configuration"]: p["replica_capacity_tokens_per_month"] for p in points}
    assert cap["h100-sxm · fp8"] == pytest.approx(best * 730 * 3600)


# --- tick labels, markers, the sweep map's values, number formatting --------------------------

MANY = (
    TINY_SWEEP.split("[pricing]")[0]
    + """[sweep]
"hardware.gpu" = ["a100-sxm4-80gb", "a100-sxm4-40gb", "a100-pcie-80gb", "h100-sxm", "h100-pcie",
                  "h200", "l40s"]
"model.weights" = ["fp16", "fp8"]
"workload.rate_per_s" = {start = 0.7, stop = 90, num = 12}
"""
)


@pytest.fixture(scope="module")
def many_ds(tmp_path_factory: pytest.TempPathFactory) -> xr.Dataset:
    """14 configurations with long GPU names over 12 request rates from a range."""
    d = tmp_path_factory.mktemp("many")
    (d / "many.toml").write_text(MANY, encoding="utf-8")
    api.sweep(d / "many.toml", method="fast", output=d / "many.nc")
    return plots.open_results(d / "many.nc")


def drawn_tick_labels(ax: Axes, which: str) -> list[Any]:
    """The tick labels of ``ax``'s x or y axis that are drawn: visible, non-empty, in view."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    lo, hi = sorted(axis.get_view_interval())
    tol = 1e-9 * (hi - lo)
    return [
        label
        for tick in axis.get_major_ticks() + axis.get_minor_ticks()
        if lo - tol <= tick.get_loc() <= hi + tol
        for label in (tick.label1, tick.label2)
        if label.get_visible() and label.get_text()
    ]


def assert_no_tick_labels_overlap(fig: Figure) -> None:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for which in ("x", "y"):
            labels = drawn_tick_labels(ax, which)
            boxes = [label.get_window_extent(renderer) for label in labels]
            for (a, box_a), (b, box_b) in itertools.combinations(
                zip(labels, boxes, strict=True), 2
            ):
                assert not box_a.overlaps(box_b), (
                    f"{which} tick labels {a.get_text()!r} and {b.get_text()!r} overlap"
                )


def test_tick_labels_never_overlap_with_many_rates_and_configurations(
    many_ds: xr.Dataset,
) -> None:
    assert many_ds.sizes["rate_per_s"] == 12 and many_ds.sizes["gpu"] * many_ds.sizes["weights"] > 6
    fig = plots.latency_vs_load(many_ds)
    assert_no_tick_labels_overlap(fig)
    ax_p = fig.axes[1]
    shown = [lab.get_text() for lab in drawn_tick_labels(ax_p, "x")]
    assert shown[0] == "0.7" and shown[-1] == "90" and len(shown) >= 3  # thinned, ends kept
    # latencies over many decades: the 1-2-5 labels of the log axis are thinned too
    steep = many_ds.copy(deep=True)
    steep["ttft_s"] = steep["ttft_s"] * xr.DataArray(10.0 ** np.arange(12), dims="rate_per_s")
    fig = plots.latency_vs_load(steep)
    assert fig.axes[0].get_yscale() == "log"
    assert_no_tick_labels_overlap(fig)
    assert len(drawn_tick_labels(fig.axes[0], "y")) >= 3  # thinned, not emptied
    # maps: long GPU ids on x (turned upright, none dropped), 12 rates on either axis
    fig = plots.render(many_ds, "sweep_map")  # gpu x weights, one panel per rate
    assert_no_tick_labels_overlap(fig)
    ax = fig.axes[0]
    gpus = [str(g) for g in many_ds["gpu"].values]
    assert [lab.get_text() for lab in drawn_tick_labels(ax, "x")] == gpus
    assert all(lab.get_rotation() == 90 for lab in drawn_tick_labels(ax, "x"))
    for x, y, facet in (("rate_per_s", "gpu", "weights"), ("gpu", "rate_per_s", None)):
        fig = plots.sweep_map(many_ds, "usd_per_mtok_total", x, y, facet)
        assert_no_tick_labels_overlap(fig)


def test_configuration_markers_are_filled_so_slo_misses_show_hollow(
    sweep_ds: xr.Dataset, run_ds: xr.Dataset
) -> None:
    from matplotlib.markers import MarkerStyle

    # a miss is drawn with a white face, which an unfilled marker ("+", "x", "1") lacks
    assert all(MarkerStyle(m).is_filled() for m in plots.MARKERS)
    figs = [plots.render(sweep_ds, kind) for kind in plots.applicable_kinds(sweep_ds)]
    figs.append(plots.run_timeline(run_ds))
    marked = [
        line
        for fig in figs
        for ax in fig.axes
        for line in ax.get_lines()
        if line.get_marker() not in ("None", "", " ", None)
    ]
    assert marked and all(MarkerStyle(line.get_marker()).is_filled() for line in marked)
    # the fixture has points missing the SLO: they are drawn, hollow
    assert any(line.get_markerfacecolor() == "white" for line in marked)


WEIGHTS = (
    TINY_SWEEP.split("[pricing]")[0]
    + """[sweep]
"model.weights" = ["fp16", "fp8", "int4-awq"]
"hardware.replicas" = [1, 2]
"workload.rate_per_s" = [1.0, 4.0, 16.0]
"""
)


def test_sweep_map_shows_each_configurations_cost_at_its_slo_capacity(tmp_path: Path) -> None:
    (tmp_path / "w.toml").write_text(WEIGHTS, encoding="utf-8")
    api.sweep(tmp_path / "w.toml", method="fast", output=tmp_path / "w.nc")
    ds = plots.open_results(tmp_path / "w.nc")
    ok = ds["feasible"] & plots.slo_passes(ds)
    assert bool(ok.all())  # every point counts: no cell is masked
    # the bug: at the swept loads, $/M tokens is the same for every weight scheme
    at_load = ds["usd_per_mtok_total"].where(ok).min("rate_per_s")
    assert np.allclose(at_load.values, at_load.values[:1])
    fig = plots.sweep_map(ds, "usd_per_mtok_total", "weights", "replicas")
    z = np.ma.filled(fig.axes[0].images[0].get_array(), np.nan).astype(float)  # [replicas, weights]
    tok_s = ds["max_rate_under_slo_per_s"] / ds["replicas"] * ds["tokens_per_request"]
    expected = ds["replica_usd_per_hour"] / (tok_s * 3600) * 1e6
    expected = expected.isel(rate_per_s=0).transpose("replicas", "weights").values
    np.testing.assert_allclose(z, expected, rtol=1e-12)
    for row in z:
        assert len(np.unique(np.round(row, 9))) == 3, row  # fp16, fp8, int4-awq differ
    cbar = next(ax for ax in fig.axes if not ax.images)
    assert "at each configuration's SLO capacity" in cbar.get_ylabel()
    assert "USD/Mtok" in cbar.get_ylabel()
    assert "max. rate under the SLO" in title(fig)
    # simulate sweeps (no capacity estimate): the largest served load meeting the SLO
    sim = ds.copy(deep=True)
    sim["max_rate_under_slo_per_s"] = sim["max_rate_under_slo_per_s"] * np.nan
    status = np.where(sim["rate_per_s"] < 16, 0, 1).astype(np.int8)  # the top rate misses
    sim["slo_status"] = sim["slo_status"].copy(
        data=np.broadcast_to(status, sim["slo_status"].shape)
    )
    fig = plots.sweep_map(sim, "usd_per_mtok_total", "weights", "replicas")
    z = np.ma.filled(fig.axes[0].images[0].get_array(), np.nan).astype(float)
    served = (sim["input_tokens_per_s"] + sim["output_tokens_per_s"]) / sim["replicas"]
    best = served.sel(rate_per_s=4.0)  # the largest load meeting the SLO
    expected = sim["replica_usd_per_hour"].isel(rate_per_s=0) / (best * 3600) * 1e6
    np.testing.assert_allclose(z, expected.transpose("replicas", "weights").values, rtol=1e-12)
    assert "largest simulated load meeting the SLO" in title(fig)


FLOATS = (
    TINY_SWEEP.split("[pricing]")[0]
    + """[sweep]
"workload.burstiness" = {start = 1, stop = 2, num = 3, log = true}
"hardware.replicas" = [1, 2]
"workload.rate_per_s" = {start = 1, stop = 40, num = 5, log = true}
"""
)


def test_range_axis_values_are_labelled_with_four_significant_digits(tmp_path: Path) -> None:
    (tmp_path / "f.toml").write_text(FLOATS, encoding="utf-8")
    api.sweep(tmp_path / "f.toml", method="fast", output=tmp_path / "f.nc")
    ds = plots.open_results(tmp_path / "f.nc")
    assert float(ds["burstiness"][1]) == pytest.approx(2**0.5)  # 1.4142135623730951

    def assert_short(texts: list[str]) -> None:
        for text in texts:
            for number in re.findall(r"\d+\.\d+", text):
                digits = number.replace(".", "").lstrip("0")
                assert len(digits) <= 4, f"{number} in {text!r}"

    fig = plots.utilization_vs_cost(ds)
    labels = legend_labels(fig)
    assert "burstiness 1.414" in labels and "burstiness 1" in labels
    assert_short(labels)
    fig = plots.latency_vs_load(ds)
    assert "burstiness 1.414 · replicas 2" in legend_labels(fig)
    fig.canvas.draw()
    ticks = [lab.get_text() for lab in drawn_tick_labels(fig.axes[1], "x")]
    assert "2.515" in ticks  # 2.5148668593658708
    assert_short(legend_labels(fig) + ticks)
    fig = plots.sweep_map(ds, "usd_per_mtok_total", "burstiness", "replicas", facet="rate_per_s")
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panels] == [
        "rate_per_s = 1",
        "rate_per_s = 2.515",
        "rate_per_s = 6.325",
        "rate_per_s = 15.91",
        "rate_per_s = 40",
    ]
    ticks = [lab.get_text() for lab in drawn_tick_labels(panels[0], "x")]
    assert ticks == ["1", "1.414", "2"]
    assert_short(ticks + [ax.get_title() for ax in panels] + [title(fig)])
