"""Nothing left behind: temporaries of killed processes, and Ctrl-C while starting.

Each case failed before its fix (issue "Same file, same answer", items 5 and 6).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
from simplan import api
from simplan.tempfiles import TAG, atomic_write, host_tag

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals and process ids")

SCENARIO = """
name = "leftovers"
[model]
name = "llama-3.1-8b"
weights = "fp8"
[hardware]
gpu = "h100-sxm"
[workload]
rate_per_s = 2.0
duration_s = 60
input_tokens = 500
output_tokens = 200
[simulation]
seed = 2
"""

KILLED_WRITE = """
import os, signal, sys
from pathlib import Path
from simplan.tempfiles import atomic_write

def die(tmp: Path) -> None:
    tmp.write_bytes(b"half a netCDF file")
    os.kill(os.getpid(), signal.SIGKILL)

atomic_write(Path(sys.argv[1]), die)
"""


def test_a_run_after_a_killed_write_removes_its_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out" / "results.nc"
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(target)], check=False)
    assert proc.returncode == -signal.SIGKILL
    left = [p.name for p in target.parent.iterdir()]
    assert len(left) == 1 and left[0].startswith(".results.nc.") and TAG in left[0], left
    # a user's own file and a live process's temporary look alike but are not simplan's
    # to delete
    users = target.parent / ".results.nc.mine.tmp"
    users.write_text("keep me")
    live = target.parent / f".results.nc.{TAG}-{host_tag()}-{os.getppid()}-abc.tmp"
    live.write_text("still being written")

    s = api.run(_scenario(tmp_path), output_dir=target.parent)
    assert s["requests_completed"] > 0
    assert sorted(p.name for p in target.parent.iterdir()) == sorted(
        [users.name, live.name, "results.nc", "summary.json"]
    )
    assert xr.open_dataset(target, engine="h5netcdf").attrs["title"].startswith("simplan run")


def test_atomic_write_replaces_only_its_own_stale_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    dead = _dead_pid()
    mine = tmp_path / f".a.json.{TAG}-{host_tag()}-{dead}-x1.tmp"
    other_host = tmp_path / f".a.json.{TAG}-00000000-{dead}-x2.tmp"
    other_target = tmp_path / f".b.json.{TAG}-{host_tag()}-{dead}-x3.tmp"
    for p in (mine, other_host, other_target):
        p.write_text("stale")
    atomic_write(target, lambda p: p.write_text("{}"))
    assert not mine.exists()
    assert other_host.exists() and other_target.exists()  # not provably dead, not for a.json
    assert target.read_text() == "{}"


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout)


def _scenario(tmp_path: Path) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(SCENARIO, encoding="utf-8")
    return p


# --- Ctrl-C while starting ------------------------------------------------------------------

#: Deliver SIGINT to ourselves at the moment a given module starts importing, then run the
#: command exactly as the installed `simplan` script does.
INTERRUPT_DURING_IMPORT = """
import importlib.abc, os, signal, sys

class Interrupt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == WHEN:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

WHEN = sys.argv[1]
sys.argv = ["simplan", *sys.argv[2:]]
sys.meta_path.insert(0, Interrupt())
from simplan.__main__ import main
main()
"""


@pytest.mark.parametrize("module", ["click", "numpy", "simplan.api", "simpy", "xarray"])
def test_ctrl_c_while_importing_exits_130_without_a_traceback(tmp_path: Path, module: str) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            INTERRUPT_DURING_IMPORT,
            module,
            "run",
            "--no-write",
            str(_scenario(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 130, (proc.returncode, proc.stderr)
    assert "interrupted" in proc.stderr


def test_python_dash_m_simplan_runs_the_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "simplan", "--version"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and proc.stdout.startswith("simplan, version")


def test_ctrl_c_once_the_command_runs_is_still_the_commands_message(tmp_path: Path) -> None:
    long = (
        SCENARIO.replace("duration_s = 60", "duration_s = 30000").replace("2.0", "40.0", 1)
        + "max_requests = 2000000\n"  # a long run on purpose: over the default budget
    )
    p = tmp_path / "long.toml"
    p.write_text(long, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "simplan", "run", "--no-write", "--no-progress", str(p)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(4.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    assert "rerun the same command to resume" in err


SWEEP = (
    SCENARIO
    + """
[sweep]
"workload.rate_per_s" = [RATES]
"hardware.replicas" = [1, 2, 3, 4, 5, 6, 7, 8]
"hardware.pricing" = ["on_demand", "spot"]
""".replace("RATES", ", ".join(str(1 + i) for i in range(20)))
)


def test_ctrl_c_during_a_fast_sweeps_zarr_write_leaves_only_what_a_rerun_resumes(
    tmp_path: Path,
) -> None:
    p = tmp_path / "sweep.toml"
    p.write_text(SWEEP, encoding="utf-8")
    store = tmp_path / "grid.zarr"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simplan", "sweep", str(p), "-o", str(store)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    end = time.monotonic() + 120
    while not list(tmp_path.glob("grid.zarr.tmp-*")) and proc.poll() is None:
        assert time.monotonic() < end
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)  # while the store is being written beside the output
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err and "Warning" not in err, err
    if proc.returncode == 130:
        assert not store.exists()
    else:  # the write won the race: then it is complete
        assert proc.returncode == 0
        assert xr.open_zarr(store, consolidated=False)["reason"].size == 20 * 8 * 2
    # what an interruption leaves beside the output is finished blocks, which the rerun
    # adopts: afterwards the store is complete and nothing else is left
    rerun = subprocess.run(
        [sys.executable, "-m", "simplan", "sweep", str(p), "-o", str(store)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert not list(tmp_path.glob("grid.zarr.tmp-*"))
    assert xr.open_zarr(store, consolidated=False)["reason"].size == 20 * 8 * 2


# --- output paths that cannot be written: a clear error before any work ----------------------


def _bad_outputs(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "nowhere").symlink_to(tmp_path / "missing" / "target")
    cases = {
        "parent is a file": tmp_path / "a_file" / "out",
        "name too long": tmp_path / ("n" * 300) / "out",
        "symlink loop": tmp_path / "loop1" / "out",
        "dangling symlink": tmp_path / "nowhere" / "out",
    }
    if Path("/proc/self").exists():
        cases["under /proc"] = Path("/proc/simplan-cannot-write") / "out"
    return cases


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_an_output_path_that_cannot_be_written_is_exit_2_naming_it(
    tmp_path: Path, command: str
) -> None:
    from click.testing import CliRunner
    from simplan.cli import main

    scenario = _scenario(tmp_path)
    if command == "sweep":
        scenario.write_text(SCENARIO + '[sweep]\n"hardware.replicas" = [1, 2]\n')
    for case, out in _bad_outputs(tmp_path).items():
        target = out if command == "run" else out.with_suffix(".nc")
        args = [command, str(scenario), "-o", str(target)]
        if command == "run":
            args.insert(1, "--no-progress")
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2, (case, r.output, r.exception)
        assert "cannot write the output" in r.output, (case, r.output)
        assert "Traceback" not in r.output
    assert not list(tmp_path.glob("**/results.nc"))
