"""Reliability: interruption, overload, determinism, impossibilities, monotonicity."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner
from simplan import api
from simplan.cli import main

LONG_RUN = """
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
replicas = 4
[workload]
rate_per_s = 150.0
duration_s = 3000
input_tokens = 500
output_tokens = 200
"""

SWEEP = """
name = "interruptible sweep"
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[workload]
rate_per_s = 5.0
duration_s = 100
input_tokens = 500
output_tokens = 200
[sweep]
"hardware.replicas" = [1, 2, 3, 4]
"workload.rate_per_s" = [5.0, 10.0]
"""


def _simplan(*args: str, cwd: Path) -> subprocess.Popen[str]:
    code = "import sys; from simplan.cli import main; sys.exit(main())"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for(predicate, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_writes_nothing_partial(tmp_path: Path, sig: signal.Signals) -> None:
    scenario = tmp_path / "long.toml"
    scenario.write_text(LONG_RUN, encoding="utf-8")
    out = tmp_path / "out"
    proc = _simplan("run", str(scenario), "-o", str(out), "--no-progress", cwd=tmp_path)
    time.sleep(3.0)  # imports, then well into the simulation
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    leftovers = list(out.glob("*")) if out.exists() else []
    assert leftovers == []  # no results.nc, no summary.json, no temporary files


def _done_tasks(store: Path) -> int:
    try:
        ds = xr.open_zarr(store, consolidated=False)
    except Exception:
        return 0
    n = int(ds["task_done"].values.sum())
    ds.close()
    return n


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_interrupted_sweep_resumes_to_the_uninterrupted_result(
    tmp_path: Path, sig: signal.Signals
) -> None:
    scenario = tmp_path / "sweep.toml"
    scenario.write_text(SWEEP, encoding="utf-8")
    reference = api.sweep(scenario, method="simulate", output=tmp_path / "ref.zarr", workers=1)
    store = tmp_path / "out.zarr"
    proc = _simplan(
        "sweep",
        str(scenario),
        "--method",
        "simulate",
        "--workers",
        "1",
        "-o",
        str(store),
        cwd=tmp_path,
    )
    assert _wait_for(lambda: _done_tasks(store) >= 1, 120), proc.communicate()
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    if sig == signal.SIGTERM:
        assert proc.returncode == 130
    done_before = _done_tasks(store)
    assert 1 <= done_before <= 4
    calls: list[int] = []
    resumed = api.sweep(
        scenario,
        method="simulate",
        output=store,
        workers=1,
        progress=lambda done, total: calls.append(done),
    )
    # only the missing slices were computed
    assert calls[0] == done_before * 2 + 1
    for name in ("output_tokens_per_s", "ttft_s", "usd_per_mtok_total", "reason"):
        np.testing.assert_array_equal(resumed[name].values, reference[name].values)
    stored = xr.open_zarr(store, consolidated=False).load()
    np.testing.assert_array_equal(stored["ttft_s"].values, reference["ttft_s"].values)
    assert stored["task_done"].values.all()


def test_overload_finishes_bounded_with_a_saturation_report(tmp_path: Path) -> None:
    scenario = tmp_path / "overload.toml"
    scenario.write_text(
        LONG_RUN.replace("rate_per_s = 150.0", "rate_per_s = 1000000.0"), encoding="utf-8"
    )
    start = time.monotonic()
    s = api.run(scenario, write=False)
    assert time.monotonic() - start < 60
    sat = s["saturation"]
    assert sat["offered_requests_per_s"] > 1e5
    assert 0 < sat["sustained_requests_per_s"] < 1e4
    assert sat["queue_growth_requests_per_s"] == pytest.approx(
        sat["offered_requests_per_s"] - sat["sustained_requests_per_s"]
    )
    assert s["requests_total"] <= 210_000
    assert s["requests_total"] == (
        s["requests_completed"] + s["requests_rejected"] + s["requests_in_flight"]
    )
    assert any(n.startswith("overload") for n in s["notes"])


def test_summary_json_is_byte_identical_across_runs(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(LONG_RUN.replace("duration_s = 3000", "duration_s = 20"), encoding="utf-8")
    api.run(scenario, output_dir=tmp_path / "a")
    api.run(scenario, output_dir=tmp_path / "b")
    assert (tmp_path / "a" / "summary.json").read_bytes() == (
        tmp_path / "b" / "summary.json"
    ).read_bytes()


def test_simulate_sweep_is_identical_for_any_worker_count(tmp_path: Path) -> None:
    scenario = tmp_path / "sweep.toml"
    scenario.write_text(SWEEP.replace("[1, 2, 3, 4]", "[1, 2]"), encoding="utf-8")
    one = api.sweep(scenario, method="simulate", workers=1)
    two = api.sweep(scenario, method="simulate", workers=2)
    xr.testing.assert_identical(one, two)


def test_prompts_beyond_the_context_are_an_error_with_the_nearest_choice(tmp_path: Path) -> None:
    scenario = tmp_path / "ctx.toml"
    scenario.write_text(
        LONG_RUN.replace("input_tokens = 500", "input_tokens = 200000"), encoding="utf-8"
    )
    r = CliRunner().invoke(main, ["run", str(scenario), "--no-write"])
    assert r.exit_code == 2
    assert str(scenario) in r.output and "context" in r.output
    assert "nearest feasible: input_tokens <=" in r.output


def test_an_slo_tighter_than_the_best_case_is_reported(tmp_path: Path) -> None:
    scenario = tmp_path / "slo.toml"
    scenario.write_text(
        LONG_RUN.replace("duration_s = 3000", "duration_s = 10") + "[slo]\ntpot_p95_s = 0.0005\n",
        encoding="utf-8",
    )
    s = api.run(scenario, write=False)
    assert s["slo_met"] is False
    assert any("below this fleet's best case" in n and "nearest feasible" in n for n in s["notes"])


def test_faster_gpu_and_looser_slo_never_make_the_answer_worse(tmp_path: Path) -> None:
    from simplan import latency_model as lm
    from simplan.kernels.tail import COLUMNS
    from simplan.perf import replica_from_ids

    sh = lm.Shapes.fixed(800.0, 200.0)
    p95 = lm.column("ttft_p95_s") - lm.column("ttft_mean_s")
    tpot95 = lm.column("tpot_p95_s") - lm.column("ttft_mean_s")
    for model, weights in (("llama-3.1-8b", "fp16"), ("llama-3.1-70b", "fp8")):
        rates = {}
        slo_by_gpu = {}
        for gpu in ("a100-sxm4-80gb", "h100-sxm", "h200"):
            cfg = replica_from_ids(model, gpu, weights, "fp16", tp=4).cfg[None, :]
            rates[gpu] = float(lm.capacity(cfg, sh)[0, 1])
            table = lm.table(cfg, sh, np.array([rates[gpu]]))
            slo_rates = []
            for ttft, tpot in ((0.5, 0.03), (1.0, 0.05), (2.0, 0.1), (1e9, 1e9)):
                lim = np.full((1, COLUMNS), np.inf)
                lim[0, p95], lim[0, tpot95] = ttft, tpot
                slo_rates.append(float(lm.rate_under_slo(*table, lim, np.array([rates[gpu]]))[0]))
            assert slo_rates == sorted(slo_rates), (model, gpu, slo_rates)
            slo_by_gpu[gpu] = slo_rates
        assert rates["a100-sxm4-80gb"] <= rates["h100-sxm"] <= rates["h200"]
        # a faster GPU meets the same p95 objectives at no lower a rate
        for a, b in (("a100-sxm4-80gb", "h100-sxm"), ("h100-sxm", "h200")):
            pairs = zip(slo_by_gpu[a], slo_by_gpu[b], strict=True)
            assert all(x <= y * (1 + 1e-9) for x, y in pairs)


def test_zero_replicas_is_refused(tmp_path: Path) -> None:
    scenario = tmp_path / "zero.toml"
    scenario.write_text(LONG_RUN.replace("replicas = 4", "replicas = 0"), encoding="utf-8")
    r = CliRunner().invoke(main, ["run", str(scenario)])
    assert r.exit_code == 2 and "hardware.replicas" in r.output


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path: Path) -> None:
    from simplan.tempfiles import atomic_write

    target = tmp_path / "summary.json"
    target.write_text('{"old": true}', encoding="utf-8")

    def crash(p: Path) -> None:
        p.write_text('{"half', encoding="utf-8")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, crash)
    assert json.loads(target.read_text(encoding="utf-8")) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_interrupt_message_names_what_is_kept(tmp_path: Path) -> None:
    scenario = tmp_path / "long.toml"
    scenario.write_text(LONG_RUN, encoding="utf-8")
    proc = _simplan("run", str(scenario), "--no-write", "--no-progress", cwd=tmp_path)
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "rerun the same command to resume" in err


# --- check runs every validation run does; messages name huge values, not echo them ------

FLEET = """
[model]
name = "llama-3.1-70b"
[hardware]
gpu = "h100-sxm"
tp = {tp}
[workload]
rate_per_s = 1
duration_s = 60
input_tokens = 100
output_tokens = 10
"""


def test_check_refuses_a_fleet_that_run_refuses(tmp_path: Path) -> None:
    p = tmp_path / "tp3.toml"
    p.write_text(FLEET.format(tp=3))
    for cmd in (["check"], ["run", "--no-write"]):
        result = CliRunner().invoke(main, [*cmd, str(p)])
        assert result.exit_code == 2, result.output
        assert "hardware.tp = 3" in result.output and "nearest valid: 4" in result.output
    # a sweep over the hardware judges each point instead: check lets it through
    p.write_text(FLEET.format(tp=3) + '[sweep]\n"hardware.tp" = [3, 4]\n')
    assert CliRunner().invoke(main, ["check", str(p)]).exit_code == 0


def test_a_huge_bad_value_is_named_with_its_size_not_echoed(tmp_path: Path) -> None:
    p = tmp_path / "long.toml"
    p.write_text(FLEET.format(tp=4).replace("llama-3.1-70b", "x" * 10_000))
    result = CliRunner().invoke(main, ["check", str(p)])
    assert result.exit_code == 2
    assert "(10,000 characters)" in result.output and "x" * 200 not in result.output
    assert len(result.output) < 2_000


def test_plan_at_an_absurd_rate_says_how_many_replicas_it_would_need(tmp_path: Path) -> None:
    p = tmp_path / "huge.toml"
    p.write_text(
        FLEET.format(tp=4).replace("rate_per_s = 1", "rate_per_s = 1e8")
        + "[slo]\nttft_p95_s = 2.0\n"
    )
    result = CliRunner().invoke(main, ["plan", str(p), "--gpu", "h100-sxm", "--tp", "4"])
    text = " ".join(result.output.split())  # the table wraps long lines
    assert result.exit_code == 0 and "Traceback" not in text
    assert "more than the 4,096 a fleet may have" in text
    assert "nothing to check by simulation" in text
    assert "hardware.replicas =" not in text  # no trial scenario's key is blamed
