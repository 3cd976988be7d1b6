"""Verification seeds run in parallel on Dask give the same answer as one after another."""

from __future__ import annotations

import tomllib
from dataclasses import asdict
from pathlib import Path

from simplan import api, verify
from tiny_scenarios import TINY_RUN

RAW = tomllib.loads(TINY_RUN)


def _checks() -> list[dict[str, object]]:
    """A fleet that holds with every seed and one that saturates at the first."""
    out = []
    for replicas, rate in ((2, 4.0), (1, 400.0)):
        v = verify.simulate_fleet(
            RAW, {}, replicas, rate, source="tiny", warmup_s=10.0, seed=3, seeds=3
        )
        out.append(asdict(v))
    return out


def test_parallel_seeds_give_the_sequential_verifications(tmp_path: Path) -> None:
    sequential = _checks()
    assert sequential[0]["holds"] and sequential[0]["seeds"] == [3, 4, 5]
    # the failing fleet stops counting at its first seed, in parallel as in sequence
    assert not sequential[1]["holds"] and sequential[1]["seeds"] == [3]
    p = tmp_path / "plan.toml"
    p.write_text(TINY_RUN, encoding="utf-8")
    only = {"gpus": ["h100-sxm"], "weights": ["fp16"], "tp": [1], "pricing": ["on_demand"]}
    plan_sequential = api.plan(p, verify_candidates=1, **only)
    with verify.seeds_in_parallel(None, 2):
        assert _checks() == sequential
    plan_parallel = api.plan(p, verify_candidates=1, workers=2, **only)
    assert plan_parallel == plan_sequential
    assert plan_parallel["recommended"]["verified"]
