"""The HTML report of a run and of a sweep: content, self-containedness, and rendering.

The rendering checks run headless Chromium when one is installed and skip otherwise.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from simplan import api, catalog, plots
from simplan.calibration import constants as calibration
from simplan.dataset import decode_summary
from simplan.report import cheapest_point, price, run_answer, sweep_answer, write_report
from simplan.report.answer import run_how_sure
from tiny_scenarios import TINY_RUN


class _Imgs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.srcs.append(a.get("src") or "")
        if tag in ("script", "link") or (
            tag == "img" and not (a.get("src") or "").startswith("data:")
        ):
            self.external.append(tag)


@pytest.fixture(scope="module")
def run_report(tiny_run_dir: Path) -> tuple[Path, xr.Dataset]:
    out = write_report(tiny_run_dir)
    return out, plots.open_results(tiny_run_dir)


@pytest.fixture(scope="module")
def sweep_report(
    tmp_path_factory: pytest.TempPathFactory, tiny_sweep_toml: str
) -> tuple[Path, xr.Dataset]:
    d = tmp_path_factory.mktemp("sweep")
    (d / "tiny_sweep.toml").write_text(tiny_sweep_toml, encoding="utf-8")
    api.sweep(d / "tiny_sweep.toml", output=d / "tiny_sweep.nc")
    out = write_report(d / "tiny_sweep.nc", d / "reports" / "sweep.html")
    return out, plots.open_results(d / "tiny_sweep.nc")


def visible_text(page: str) -> str:
    """The page's text without tags, unescaped (what a reader sees)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def check_images(page: str, n: int) -> None:
    parser = _Imgs()
    parser.feed(page)
    assert len(parser.srcs) == n
    assert parser.external == []  # self-contained: no scripts, stylesheets or remote images
    for src in parser.srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")


def test_run_report_states_question_answer_numbers_and_sources(
    run_report: tuple[Path, xr.Dataset],
) -> None:
    path, ds = run_report
    assert path.name == "report.html"
    page = path.read_text(encoding="utf-8")
    text = visible_text(page)
    summary = decode_summary(ds)
    # text from the scenario is escaped, never interpreted as markup
    assert "Tiny chat &lt;run&gt; &amp; co" in page and "<run>" not in page
    assert "Do two H100s serve an 8B chat model at 4 req/s within the SLO?" in text
    answer = run_answer(ds)
    assert answer in text
    assert answer.startswith("2 replicas of NVIDIA H100")
    assert f"for ${summary['usd_per_mtok_total']:.2f} per M tokens" in answer
    assert "gpt-4o" in answer and "deepseek-v3" in answer
    for number in (
        f"${summary['usd_per_mtok_total']:,.2f}",
        f"${summary['monthly_cost_usd']:,.2f}",
        f"{summary['requests_per_s']:.2f}",
        f"{summary['ttft_s']['p95'] * 1e3:,.0f} ms",
        f"${summary['api']['gpt-4o']['monthly_cost_usd']:,.2f}",
    ):
        assert number in text, number
    # sources and dates of every catalog entry used, and the calibration error
    for entry in (
        catalog.model("llama-3.1-8b"),
        catalog.gpu("h100-sxm"),
        catalog.weights("fp16"),
        catalog.api("gpt-4o"),
        catalog.api("deepseek-v3"),
        catalog.efficiency("hopper"),
    ):
        assert entry.source in text and entry.as_of in text
    assert catalog.gpu("h100-sxm").price_source in text
    assert f"{calibration()['fit_median_abs_error']:.1%}" in text
    assert "Infeasibility notes" in text
    check_images(page, 1)  # the timeline


def test_sweep_report_names_the_cheapest_point_and_the_reasons(
    sweep_report: tuple[Path, xr.Dataset],
) -> None:
    path, ds = sweep_report
    assert path.name == "sweep.html" and path.parent.name == "reports"
    page = path.read_text(encoding="utf-8")
    text = visible_text(page)
    assert "Which GPU and weights serve an 8B chat model cheapest under the SLO?" in text
    answer = sweep_answer(ds)
    assert answer in text and answer.startswith("The cheapest configuration")
    best = cheapest_point(ds)
    assert best is not None
    cost = ds["usd_per_mtok_total"].where(ds["feasible"] & plots.slo_passes(ds))
    assert best["usd_per_mtok_total"] == pytest.approx(float(cost.min()), rel=1e-3)
    assert f"{price(best['usd_per_mtok_total'])} per M tokens" in answer
    feasible = ds["feasible"].values
    assert f"{feasible.size:,}" in text and f"{int(feasible.sum()):,}" in text
    # infeasible points are counted by reason
    saturated = int((ds["reason"].values == 3).sum())
    assert saturated > 0
    assert f"{saturated:,} points: offered load exceeds what the fleet sustains." in text
    for gid in ("a100-sxm4-80gb", "h100-sxm"):
        assert catalog.gpu(gid).source in text
    for wid in ("fp16", "fp8"):
        assert catalog.weights(wid).source in text
    assert catalog.efficiency("ampere").source in text
    check_images(page, len(plots.applicable_kinds(ds)))
    assert len(plots.applicable_kinds(ds)) == 4


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no headless Chromium installed")


def _chrome(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)


def test_reports_render_in_headless_chromium(
    tmp_path: Path,
    run_report: tuple[Path, xr.Dataset],
    sweep_report: tuple[Path, xr.Dataset],
) -> None:
    import matplotlib.image as mpimg

    binary = _chromium()
    for i, (path, ds) in enumerate((run_report, sweep_report)):
        dom = _chrome(binary, tmp_path / f"profile{i}", "--dump-dom", path.resolve().as_uri())
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert dom.stdout.count('<img src="data:image/png;base64,') == len(
            plots.applicable_kinds(ds)
        )
        assert "<h1>" in dom.stdout
    shot = tmp_path / "shot.png"
    res = _chrome(
        binary,
        tmp_path / "profile_shot",
        f"--screenshot={shot}",
        "--window-size=1200,2000",
        run_report[0].resolve().as_uri(),
    )
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    img = mpimg.imread(shot)[..., :3]
    pixels = (img * 255).round().astype(np.uint8).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 200  # text, tables and a plot: far from blank
    # the embedded timeline is drawn: its Okabe-Ito orange and sky blue are on screen
    for rgb in ((0xE6, 0x9F, 0x00), (0x56, 0xB4, 0xE9)):
        close = np.abs(pixels.astype(int) - np.array(rgb)).max(axis=1) <= 12
        assert close.sum() > 50, rgb


def test_a_result_renders_as_it_was_computed_not_with_todays_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simplan import catalog as cat

    (tmp_path / "tiny.toml").write_text(TINY_RUN, encoding="utf-8")
    api.run(tmp_path / "tiny.toml", output_dir=tmp_path / "out")
    recorded = cat.gpu("h100-sxm").price_usd_per_hour("on_demand")
    real_gpu = cat.gpu

    def repriced(gpu_id: str) -> Any:  # the catalog changes after the run was computed
        entry = real_gpu(gpu_id)
        return entry.model_copy(update={"price_on_demand_usd_per_hour": 99.0})

    monkeypatch.setattr(cat, "gpu", repriced)
    page = visible_text(write_report(tmp_path / "out").read_text(encoding="utf-8"))
    assert f"{recorded:.4g} USD/GPU-hour applied" in page
    assert "99 USD/GPU-hour" not in page


def test_a_result_written_before_the_dataset_contract_still_renders(tmp_path: Path) -> None:
    from simplan.dataset import decode_summary

    (tmp_path / "tiny.toml").write_text(TINY_RUN, encoding="utf-8")
    api.run(tmp_path / "tiny.toml", output_dir=tmp_path / "out")
    ds = plots.open_results(tmp_path / "out").load()
    summary = decode_summary(ds)
    new = [
        v
        for v in ds.data_vars
        if ds[v].dims == () or str(v).startswith(("provenance_", "slo_", "api_", "latency_"))
    ]
    old = ds.drop_vars([*new, "notes", "reject_reason_names"])
    for attr in ("scenario_name", "question", "model", "gpu", "tp", "pp", "replicas", "pools"):
        old.attrs.pop(attr, None)
    old.attrs["summary_json"] = json.dumps(summary)
    old.encoding = {}
    (tmp_path / "old").mkdir()
    old.to_netcdf(tmp_path / "old" / "results.nc", engine="h5netcdf")
    page = visible_text(write_report(tmp_path / "old").read_text(encoding="utf-8"))
    assert run_answer(old) in page
    assert "not recorded in this result file" in page


def test_a_run_report_says_how_sure_it_is_and_what_would_change_it(
    run_report: tuple[Path, xr.Dataset],
) -> None:
    path, ds = run_report
    text = visible_text(path.read_text(encoding="utf-8"))
    s = decode_summary(ds)
    lo, hi, used = s["model_error_p10"], s["model_error_p90"], s["capacity_utilization"]
    assert lo < 0 < hi  # the calibration set has errors both ways
    sentence = run_how_sure(ds)
    assert sentence is not None and sentence in text
    assert f"between {lo:+.0%} and {hi:+.0%}" in sentence
    assert f"uses {used * (1 + hi):.0%} of the fleet's capacity instead of {used:.0%}" in sentence


def test_how_sure_names_the_replicas_a_saturating_error_would_need(
    run_report: tuple[Path, xr.Dataset],
) -> None:
    _, ds = run_report
    replicas = int(decode_summary(ds)["replicas"])
    tight = ds.copy()
    for name, value in {"capacity_utilization": 0.9, "model_error_p90": 0.25}.items():
        tight[name] = xr.DataArray(value, attrs=ds[name].attrs)
    sentence = run_how_sure(tight)
    # 0.9 x 1.25 = 112% of capacity: ceil(replicas x 1.125) replicas would serve it
    assert sentence is not None and "112% of the fleet's capacity" in sentence
    assert "would saturate" in sentence
    assert f"about {math.ceil(replicas * 1.125)} replicas" in sentence


def test_one_rule_per_kind_of_figure_for_console_plots_and_report() -> None:
    """The console, the plots and the report format through simplan.formatting: the same
    figure prints the same everywhere, and a missing one as a dash."""
    import importlib

    from simplan import console
    from simplan.formatting import by_units, price, seconds, share, tokens, usd
    from simplan.report import markup

    sweep_map = importlib.import_module("simplan.plots.sweep_map")  # the module, not the plot

    assert markup.usd is usd and markup.price is price and markup.tokens is tokens
    assert console.usd is usd and console.seconds is seconds
    assert sweep_map.price is price
    assert usd(14600) == "$14,600.00" and usd(-3.1) == "-$3.10" and usd(float("nan")) == "–"
    assert price(4.0) == "$4.00" and price(0.4391) == "$0.439"
    assert seconds(0.85) == "850 ms" and seconds(12.5) == "12.5 s" and seconds(None) == "–"
    assert tokens(15.5e9) == "15.5 B" and share(0.654) == "65%"
    assert by_units(0.85, "s") == seconds(0.85) and by_units(250.0, "USD") == "$250"
