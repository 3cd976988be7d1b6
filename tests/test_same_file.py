"""Same file, same answer: every command reads the same files and applies the same checks.

Each case here failed before the fix it names (issue "Same file, same answer").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from simplan import api
from simplan.cli import main
from simplan.errors import ContextError, ScenarioError, SimplanError
from simplan.sweep import REASONS

HEAD = """
name = "same-file"
[model]
name = "llama-3.1-8b"
weights = "fp8"
[hardware]
gpu = "h100-sxm"
[simulation]
seed = 3
"""

EMPIRICAL = """
[workload]
arrival = "poisson"
rate_per_s = 1.0
duration_s = 30
input_tokens = {{ distribution = "empirical", path = "{csv}", column = "tok" }}
output_tokens = 64
[sweep]
"hardware.replicas" = [1, 2]
"""

TRACE = """
[workload]
arrival = "trace"
trace = "arrivals.csv"
[sweep]
"hardware.replicas" = [1, 2]
"""


def _emp_folder(tmp_path: Path, csv: str = "lengths.csv") -> Path:
    """``emp/s.toml`` with its CSV beside it; the tests run from ``tmp_path``."""
    folder = tmp_path / "emp"
    folder.mkdir()
    (folder / "lengths.csv").write_text("tok\n" + "\n".join(str(100 + 7 * i) for i in range(50)))
    (folder / "s.toml").write_text(HEAD + EMPIRICAL.format(csv=csv))
    return folder / "s.toml"


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from a folder that is not the scenario's (a user in the project root)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_command_reads_a_length_csv_beside_the_scenario(elsewhere: Path) -> None:
    path = Path("emp/s.toml")  # relative to the current folder, as a user types it
    _emp_folder(elsewhere)
    api.check(path)
    assert api.run(path, write=False)["requests_completed"] > 0
    fast = api.sweep(path)
    assert bool(fast["feasible"].any())
    result = api.plan(path, gpus=["h100-sxm"], weights=["fp8"], tp=[1], verify_candidates=1)
    assert result["recommended"] is not None


def test_a_simulate_sweep_reads_a_trace_beside_the_scenario(elsewhere: Path) -> None:
    folder = elsewhere / "tr"
    folder.mkdir()
    rows = "\n".join(f"{0.5 * i},{200 + i},{50 + i}" for i in range(40))
    (folder / "arrivals.csv").write_text("arrival_s,input_tokens,output_tokens\n" + rows)
    (folder / "t.toml").write_text(HEAD + TRACE)
    ds = api.sweep(Path("tr/t.toml"), method="simulate", workers=1)
    # before: every point was reason 4 ("simulation error"): the trace was looked for in cwd
    assert (ds["reason"].values == 0).all()
    assert (ds["output_tokens_per_s"].values > 0).all()


def test_a_missing_csv_is_the_same_error_in_every_command(elsewhere: Path) -> None:
    _emp_folder(elsewhere, csv="nope.csv")
    runner = CliRunner()
    messages = set()
    for command in (["check"], ["run", "--no-write"], ["sweep"], ["plan"]):
        r = runner.invoke(main, [*command, "emp/s.toml"])
        assert r.exit_code == 2, (command, r.output)
        line = r.output.strip().splitlines()[0]
        assert "nope.csv" in line and "workload.input_tokens.path" in line, line
        assert str(elsewhere / "emp" / "nope.csv") in line  # the file simplan looked for
        messages.add(line)
    assert len(messages) == 1, messages
    with pytest.raises(ScenarioError):  # sweep --method simulate: not 2 "simulation errors"
        api.sweep(Path("emp/s.toml"), method="simulate", workers=1)


LONG = """
[workload]
arrival = "poisson"
rate_per_s = 1.0
duration_s = 30
input_tokens = {input}
output_tokens = 100
[slo]
ttft_p95_s = 60
[sweep]
"hardware.replicas" = [1, 2]
"""


@pytest.mark.parametrize(
    "length",
    ["200000", '{ distribution = "uniform", low = 150000, high = 200000 }'],
    ids=["fixed", "every draw too long"],
)
def test_requests_longer_than_the_context_are_refused_by_every_command(
    tmp_path: Path, length: str
) -> None:
    """llama-3.1-8b's context is 131,072 tokens: no fleet can serve one of these requests.
    Before, `check` passed, `run` refused (fixed lengths only), `plan` recommended a fleet
    and `sweep` priced it."""
    p = tmp_path / "long.toml"
    p.write_text(HEAD + LONG.format(input=length))
    runner = CliRunner()
    outputs = set()
    for command in (["check"], ["run", "--no-write"], ["sweep"], ["plan"]):
        r = runner.invoke(main, [*command, str(p)])
        assert r.exit_code == 2, (command, r.output)
        assert "longer than the model's context" in r.output
        assert "131,072" in r.output and "workload.input_tokens" in r.output
        outputs.add(r.output)
    assert len(outputs) == 1, outputs
    with pytest.raises(ContextError):
        api.sweep(p, method="simulate", workers=1)


def test_a_sweep_over_models_marks_the_points_whose_context_is_too_short(tmp_path: Path) -> None:
    """qwen2.5-7b (32,768 tokens) cannot take a 60,000-token prompt; llama-3.1-8b can."""
    p = tmp_path / "models.toml"
    p.write_text(
        HEAD
        + LONG.format(input="60000").replace(
            '"hardware.replicas" = [1, 2]',
            '"model.name" = ["llama-3.1-8b", "qwen2.5-7b"]\n"hardware.replicas" = [1, 2]',
        )
    )
    ds = api.sweep(p)
    reason = ds["reason"].sel(name="qwen2.5-7b").values
    assert (reason == 5).all() and REASONS[5].startswith("every request is longer")
    assert np.isnan(ds["max_rate_per_s"].sel(name="qwen2.5-7b").values).all()
    assert (ds["reason"].sel(name="llama-3.1-8b").values != 5).all()
    out = CliRunner().invoke(main, ["sweep", str(p)]).output
    assert "not feasible: 2 points: every request is longer than the model's context" in out


# --- timed processes that would never finish (found by the same fuzzing) ----------------------

DAY = (
    HEAD.replace('gpu = "h100-sxm"', 'gpu = "h100-sxm"\nreplicas = 2')
    + """
[workload]
rate_per_s = 1.0
duration_s = 86400
input_tokens = 500
output_tokens = 100
"""
)


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("[failures]\nmtbf_hours = 1e-9\nrepair_s = 10\n", "failures.mtbf_hours"),
        ("[autoscaling]\ninterval_s = 5e-324\nmax_replicas = 4\n", "autoscaling.interval_s"),
    ],
    ids=["mtbf", "autoscaling interval"],
)
def test_a_process_that_would_never_finish_is_refused_by_every_command(
    tmp_path: Path, extra: str, key: str
) -> None:
    p = tmp_path / "hang.toml"
    p.write_text(DAY + extra + '[sweep]\n"hardware.replicas" = [2, 3]\n')
    outputs = set()
    for command in (["check"], ["run", "--no-write"], ["sweep"], ["plan"]):
        r = CliRunner().invoke(main, [*command, str(p)])  # before: run and plan hung
        assert r.exit_code == 2, (command, r.output)
        assert "the run would not finish" in r.output and f"  {key}: " in r.output
        assert "nearest that runs" in r.output
        outputs.add(r.output)
    assert len(outputs) == 1


def test_the_event_budget_counts_the_drain_after_the_arrivals(tmp_path: Path) -> None:
    """Found by the fuzz: 10 s of arrivals and a failure every 0.2 ms (each repaired in
    1 ms) made about 8,000 events over the 10 s, but the saturated replica then drained
    for an hour, failing all the while, and the run never finished."""
    p = tmp_path / "drain.toml"
    short = DAY.replace("duration_s = 86400", "duration_s = 10")
    p.write_text(short + "[failures]\nmtbf_hours = 5.96e-8\nrepair_s = 0.001\n")
    r = CliRunner().invoke(main, ["run", "--no-write", str(p)])
    assert r.exit_code == 2, r.output
    assert "  failures.mtbf_hours: " in r.output and "drain of up to 3,600 s" in r.output
    # a failure per second or so (the repair dominates) runs
    p.write_text(short + "[failures]\nmtbf_hours = 5.96e-8\nrepair_s = 1\n")
    api.check(p)


def test_a_replica_that_is_off_does_not_fail_and_cannot_spin(tmp_path: Path) -> None:
    """Found by the fuzz: with mtbf_hours near 0, the failure process of a replica the
    autoscaler had not started polled it every ~0 s at one instant, forever. A replica
    now fails only while it runs; off, its failure process waits for it to start."""
    from cli_timeout import invoke

    p = tmp_path / "spin.toml"
    p.write_text(
        '[model]\nname = "llama-3.1-8b"\nweights = "fp8"\n'
        '[hardware]\ngpu = "h100-sxm"\nreplicas = 1\n'
        "[workload]\nrate_per_s = 5.0\nduration_s = 10\ninput_tokens = 200\noutput_tokens = 20\n"
        "[autoscaling]\nmin_replicas = 0\nmax_replicas = 2\ninterval_s = 1.0\n"
        "scale_down_delay_s = 0\ninstance_start_s = 0\n"
        "[failures]\nmtbf_hours = 9.52e-279\nrepair_s = 10.0\n"
    )
    r = invoke(["run", "--no-write", "--no-progress", "--json", str(p)], timeout_s=60.0)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    # each failure is followed by a 10 s repair: about one per 10 s of the hour-long drain
    assert 0 < summary["elastic"]["replica_failures"] <= 2 * (3610 / 10 + 5)


def test_timed_processes_at_realistic_rates_pass(tmp_path: Path) -> None:
    p = tmp_path / "ok.toml"
    p.write_text(DAY + "[failures]\nmtbf_hours = 25000\n[autoscaling]\ninterval_s = 30\n")
    api.check(p)


def test_an_offline_job_without_a_duration_gets_a_per_second_floor(tmp_path: Path) -> None:
    p = tmp_path / "job.toml"
    job = DAY.replace(
        "rate_per_s = 1.0\nduration_s = 86400", 'arrival = "offline"\nnum_requests = 50'
    )
    # a failure every 36 ms, repaired in 1 ms (a replica fails only while up, so a long
    # repair alone would bound the events)
    p.write_text(job + "[failures]\nmtbf_hours = 1e-5\nrepair_s = 0.001\n")
    with pytest.raises(SimplanError, match="at most one per 1 s"):
        api.check(p)
    p.write_text(job + "[failures]\nmtbf_hours = 1\n")
    api.check(p)
