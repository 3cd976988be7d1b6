"""Fixtures shared by the test modules: the tiny run and sweep that the plots and the
report are tested on (one definition, and the run simulated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest
from simplan import api
from tiny_scenarios import TINY_RUN, TINY_SWEEP


@pytest.fixture(scope="session")
def tiny_run_toml() -> str:
    """A 60-second run of an 8B chat model on two H100s, with an SLO and two APIs."""
    return TINY_RUN


@pytest.fixture(scope="session")
def tiny_sweep_toml() -> str:
    """A 32-point sweep over GPU, weights, replicas and request rate (fast method)."""
    return TINY_SWEEP


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory: pytest.TempPathFactory, tiny_run_toml: str) -> Path:
    """The output folder of the tiny run (tests may add files such as a report to it)."""
    d = tmp_path_factory.mktemp("tiny_run")
    (d / "tiny.toml").write_text(tiny_run_toml, encoding="utf-8")
    api.run(d / "tiny.toml", output_dir=d / "out")
    return d / "out"
