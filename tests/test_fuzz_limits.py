"""Fuzzing what the scenario-value fuzzer does not reach: output paths, elastic parameters,
sweep sizes and valid-but-extreme workloads (issue 18).

The contract for every generated case: exit 0, or exit 2 with ``error:`` naming the key
path or the output path; never a traceback; an answer within the time bound (a hang is
a failure); nothing written beside a refused output and nothing of the user's touched.

CI runs a few hundred cases; ``SIMPLAN_FUZZ_MORE=10`` runs ten times as many.
"""

from __future__ import annotations

import math
import os
import re
import string
from pathlib import Path
from typing import Any

import pytest
from cli_timeout import MAX_CASE_RSS_BYTES, invoke, run_measured
from click.testing import Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from simplan.feasibility import MAX_SWEEP_POINTS

MORE = int(os.environ.get("SIMPLAN_FUZZ_MORE", "1"))
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def contract(result: Result, *named: str) -> None:
    """Exit 0, or exit 2 with ``error:`` naming one of ``named``; never a traceback."""
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        pytest.fail(f"uncaught {type(exc).__name__}: {exc!r}\n{result.output}")
    assert "Traceback" not in result.output, result.output
    assert result.exit_code in (0, 2), f"exit {result.exit_code}:\n{result.output}"
    if result.exit_code == 2:
        # simplan's own message, or click's for an option it validates itself
        assert result.output.startswith("error: ") or "\nError: Invalid value" in result.output
        assert any(n in result.output for n in named), (named, result.output)


SMALL = """
[model]
name = "llama-3.1-8b"
weights = "fp8"
[hardware]
gpu = "h100-sxm"
replicas = {replicas}
[workload]
{workload}
input_tokens = {inp}
output_tokens = {out}
{extra}
"""


def _scenario(tmp: Path, name: str = "s.toml", **kw: Any) -> Path:
    fields = {
        "replicas": 1,
        "workload": "rate_per_s = 2.0\nduration_s = 30",
        "inp": 200,
        "out": 20,
        "extra": "",
    }
    fields.update(kw)
    p = tmp / name
    p.write_text(SMALL.format(**fields), encoding="utf-8")
    return p


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (files with their bytes), symlinks not followed."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = None
        for f in filenames:
            full = os.path.join(dirpath, f)
            rel = os.path.relpath(full, root)
            out[rel] = None if os.path.islink(full) else Path(full).read_bytes()
    return out


# --- output paths ---------------------------------------------------------------------------

NAME = st.text(alphabet=string.ascii_letters + string.digits + " -_.é", min_size=1, max_size=12)


@st.composite
def output_path(draw: Any) -> tuple[str, str]:
    """(a recipe for an odd output path, a suffix): built inside each case's folder."""
    kind = draw(
        st.sampled_from(
            [
                "new",
                "nested_new",
                "parent_is_file",
                "existing_file",
                "foreign_folder",
                "long_name",
                "symlink_loop",
                "dangling_symlink",
                "proc",
                "unicode",
                "trailing_slash",
            ]
        )
    )
    suffix = draw(st.sampled_from(["", ".zarr", ".nc", ".txt"]))
    return kind, suffix


def _make(tmp: Path, kind: str, suffix: str, name: str) -> Path:
    base = name.strip(". ") or "x"
    if kind == "nested_new":
        return tmp / "a" / "b" / f"{base}{suffix}"
    if kind == "parent_is_file":
        (tmp / "afile").write_text("mine", encoding="utf-8")
        return tmp / "afile" / f"{base}{suffix}"
    if kind == "existing_file":
        p = tmp / f"{base}{suffix}"
        p.write_text("mine", encoding="utf-8")
        return p
    if kind == "foreign_folder":
        p = tmp / f"{base}{suffix}"
        p.mkdir()
        (p / "keep.txt").write_text("mine", encoding="utf-8")
        return p
    if kind == "long_name":
        return tmp / (base * 300)[:300]
    if kind == "symlink_loop":
        (tmp / "l1").symlink_to(tmp / "l2")
        (tmp / "l2").symlink_to(tmp / "l1")
        return tmp / "l1" / f"{base}{suffix}"
    if kind == "dangling_symlink":
        (tmp / "dangle").symlink_to(tmp / "missing" / "target")
        return tmp / "dangle"
    if kind == "proc":
        return Path("/proc") / f"{base}{suffix}"
    if kind == "unicode":
        return tmp / f"résultats ✓ {base}{suffix}"
    if kind == "trailing_slash":
        return Path(str(tmp / f"{base}{suffix}") + "/")
    return tmp / f"{base}{suffix}"


@settings(FUZZ, max_examples=60 * MORE)
@given(drawn=output_path(), name=NAME, command=st.sampled_from(["run", "sweep"]))
def test_odd_output_paths_get_a_clear_answer_and_lose_nothing(
    tmp_path_factory: pytest.TempPathFactory, drawn: tuple[str, str], name: str, command: str
) -> None:
    tmp = tmp_path_factory.mktemp("out")
    scenario = _scenario(
        tmp,
        extra='[sweep]\n"hardware.replicas" = [1, 2]' if command == "sweep" else "",
    )
    out = _make(tmp, drawn[0], drawn[1], name)
    before = _snapshot(tmp)
    args = ["run", "--no-progress", str(scenario), "-o", str(out)]
    if command == "sweep":
        args = ["sweep", str(scenario), "-o", str(out)]
    result = invoke(args, timeout_s=30.0)
    contract(result, str(out), str(out).rstrip("/"), out.name[:40])
    after = _snapshot(tmp)
    for rel, data in before.items():  # nothing of the user's changed or removed
        assert rel in after and after[rel] == data, (rel, result.output)
    if result.exit_code == 2:  # a refused output leaves nothing new behind
        assert set(after) == set(before), (sorted(set(after) - set(before)), result.output)


# --- elastic, failure and autoscaling parameters -------------------------------------------

LOG_SECONDS = st.floats(min_value=1e-300, max_value=1e7).map(lambda x: float(f"{x:.3g}"))


@st.composite
def elastic(draw: Any) -> str:
    parts = []
    if draw(st.booleans()):
        lo = draw(st.integers(0, 4))
        hi = draw(st.integers(1, 6))
        parts.append(
            f"[autoscaling]\nmin_replicas = {lo}\nmax_replicas = {hi}\n"
            f"interval_s = {draw(LOG_SECONDS)!r}\n"
            f"scale_down_delay_s = {draw(st.sampled_from([0, 1, 60, 1e6]))}\n"
            f"instance_start_s = {draw(st.sampled_from([0, 1, 600, 1e6]))}\n"
        )
    if draw(st.booleans()):
        parts.append(
            f"[failures]\nmtbf_hours = {draw(LOG_SECONDS)!r}\nrepair_s = {draw(LOG_SECONDS)!r}\n"
        )
    return "\n".join(parts)


@settings(FUZZ, max_examples=40 * MORE)
@given(extra=elastic(), duration=st.sampled_from([10, 60, 600]))
def test_elastic_and_failure_parameters_never_hang(
    tmp_path_factory: pytest.TempPathFactory, extra: str, duration: int
) -> None:
    tmp = tmp_path_factory.mktemp("elastic")
    p = _scenario(tmp, workload=f"rate_per_s = 5.0\nduration_s = {duration}", extra=extra)
    result = invoke(
        ["run", "--no-write", "--no-progress", str(p)], timeout_s=30.0, context=p.read_text()
    )
    contract(result, "autoscaling", "failures", "hardware")


# --- valid but extreme workloads ------------------------------------------------------------


@st.composite
def workload(draw: Any) -> tuple[str, int, int, float]:
    """(the [workload] lines, input and output tokens, the requests offered)."""
    kind = draw(st.sampled_from(["open", "offline", "count"]))
    rate = draw(st.sampled_from([1e-3, 0.5, 20.0, 1e3, 1e6, 1e9]))
    if kind == "offline":
        n = float(draw(st.sampled_from([1, 10, 1000, 10**6, 2 * 10**7, 10**8])))
        text = f'arrival = "offline"\nnum_requests = {int(n)}'
    elif kind == "count":
        n = float(draw(st.sampled_from([1, 100, 10**7, 10**8])))
        text = f"rate_per_s = {rate!r}\nnum_requests = {int(n)}"
    else:
        duration = draw(st.sampled_from([1.0, 60.0, 86_400.0, 1e7, 1e9]))
        n = rate * duration
        text = f"rate_per_s = {rate!r}\nduration_s = {duration!r}"
    inp = draw(st.sampled_from([1, 200, 8000, 200_000]))
    out = draw(st.sampled_from([1, 20, 2000, 100_000]))
    return text, inp, out, n


@settings(FUZZ, max_examples=15 * MORE)
@given(drawn=workload())
def test_valid_but_extreme_workloads_answer_or_say_which_key(
    tmp_path_factory: pytest.TempPathFactory, drawn: tuple[str, int, int, float]
) -> None:
    text, inp, out, offered = drawn
    tmp = tmp_path_factory.mktemp("work")
    p = _scenario(tmp, replicas=2, workload=text, inp=inp, out=out)
    contract(invoke(["check", str(p)], timeout_s=20.0), "workload.", "model.", "simulation.")
    if 20_000 < offered <= 500_000 and MORE == 1:
        return  # runs within the budget, but for longer than a CI case should
    # small work runs; more than the request budget is refused, or (an overload) cut short
    proc = run_measured(["run", "--no-write", "--no-progress", str(p)], tmp, timeout_s=60.0)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 2), (proc.returncode, proc.stderr)
    if proc.returncode == 2:
        assert proc.stderr.startswith("error: ") and any(
            k in proc.stderr for k in ("workload.", "model.", "simulation.")
        ), proc.stderr
    assert 0 < proc.peak_rss_bytes < MAX_CASE_RSS_BYTES, (proc.peak_rss_bytes, text)


# --- sweep sizes ----------------------------------------------------------------------------


@st.composite
def sweep_axes(draw: Any) -> str:
    lines = []
    for key in draw(
        st.lists(
            st.sampled_from(
                [
                    "hardware.replicas",
                    "workload.rate_per_s",
                    "hardware.price_usd_per_gpu_hour",
                    "engine.max_num_seqs",
                ]
            ),
            min_size=1,
            max_size=4,
            unique=True,
        )
    ):
        # an axis that changes the replica costs a table per value (about 25 ms each):
        # thousands of them take minutes, which is not what this test bounds
        cheap = key != "engine.max_num_seqs"
        num = draw(st.sampled_from([1, 2, 50, 3000, 100_000] if cheap else [1, 2, 20]))
        lo, hi = {"hardware.replicas": (1, 64), "engine.max_num_seqs": (1, 512)}.get(key, (0.5, 50))
        lines.append(f'"{key}" = {{ start = {lo}, stop = {hi}, num = {num} }}')
    return "[sweep]\n" + "\n".join(lines)


@settings(FUZZ, max_examples=25 * MORE)
@given(axes=sweep_axes(), to_zarr=st.booleans())
def test_sweeps_of_any_size_answer_quickly_or_name_an_axis(
    tmp_path_factory: pytest.TempPathFactory, axes: str, to_zarr: bool
) -> None:
    tmp = tmp_path_factory.mktemp("grid")
    p = _scenario(tmp, extra=axes)
    check = invoke(["check", str(p)], timeout_s=20.0)
    contract(check, "sweep.")
    points = math.prod(int(n) for n in re.findall(r"num = (\d+)", axes))
    if points > MAX_SWEEP_POINTS:  # refused by check and by sweep, before any work
        assert check.exit_code == 2 and "--max-points" in check.output
    elif points > 200_000:
        return  # runs, but takes longer than a CI case should (benchmarks/ measures it)
    out = tmp / ("g.zarr" if to_zarr else "g.nc")
    result = invoke(["sweep", str(p), "-o", str(out)], timeout_s=120.0)
    contract(result, "sweep.", str(out))
    if points > MAX_SWEEP_POINTS:
        assert result.exit_code == 2 and not out.exists()


# --- plan -----------------------------------------------------------------------------------


@st.composite
def plan_case(draw: Any) -> tuple[str, list[str]]:
    """(the scenario's extra sections and [workload] lines, the `simplan plan` options)."""
    rate = draw(st.sampled_from([1e-3, 0.5, 20.0, 1e4, 1e9]))
    slo = []
    for key in draw(
        st.lists(
            st.sampled_from(["ttft_p95_s", "tpot_p99_s", "e2e_p50_s", "ttft_mean_s"]),
            max_size=3,
            unique=True,
        )
    ):
        slo.append(f"{key} = {draw(st.sampled_from([1e-9, 0.02, 2.0, 1e9]))!r}")
    extra = ("[slo]\n" + "\n".join(slo) + "\n") if slo else ""
    if draw(st.booleans()):
        extra += '[pricing]\napis = ["gpt-4o"]\n'
    opts: list[str] = []
    for gpu in draw(st.lists(st.sampled_from(["h100-sxm", "l4", "b200", "h100"]), max_size=2)):
        opts += ["--gpu", gpu]
    for w in draw(st.lists(st.sampled_from(["fp16", "fp8", "int4-awq", "int3"]), max_size=2)):
        opts += ["--weights", w]
    for tp in draw(st.lists(st.sampled_from([1, 3, 8, 64]), max_size=2)):
        opts += ["--tp", str(tp)]
    # simulating a short-list costs seconds per candidate: CI checks the fast screen
    verify = draw(st.sampled_from([0, 1] if MORE > 1 else [0]))
    opts += ["--verify-candidates", str(verify)]
    return f"rate_per_s = {rate!r}\nduration_s = 600\n", [extra, *opts]


@settings(FUZZ, max_examples=30 * MORE)
@given(drawn=plan_case())
def test_plan_at_any_load_and_objective_answers_or_names_what_is_wrong(
    tmp_path_factory: pytest.TempPathFactory, drawn: tuple[str, list[str]]
) -> None:
    workload_lines, (extra, *opts) = drawn
    tmp = tmp_path_factory.mktemp("plan")
    p = _scenario(tmp, workload=workload_lines, extra=extra)
    result = invoke(["plan", str(p), *opts], timeout_s=60.0)
    contract(result, "--gpu", "--weights", "--tp", "slo.", "workload.", "hardware.", "model.")
    lines = result.output.splitlines() or [""]
    what = lines[1].split(" = ")[0].strip() if len(lines) > 1 else lines[0][-50:]
    event(f"exit 2: {what}" if result.exit_code else "exit 0")
    if result.exit_code == 2 and "'h100'" in result.output:
        assert "h100-sxm" in result.output  # a typo gets the nearest valid name
