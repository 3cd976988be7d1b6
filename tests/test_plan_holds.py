"""`plan`'s recommendation holds when simulated, and is not over-provisioned.

Two planning questions with percentile objectives (p95, p99, p90 and an end-to-end p95)
and a daily cycle. The recommended fleet is rebuilt as an ordinary scenario file and run
with ``simplan.api.run`` at the plan's target rate with three seeds: every objective must
hold with every seed, and the same fleet with one replica fewer must miss at least one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from simplan import api

DIURNAL_A = [0.3] * 5 + [0.4, 0.6, 0.9, 1.2, 1.5, 1.6, 1.6, 1.5, 1.5, 1.6, 1.6, 1.5, 1.3, 1.1]
DIURNAL_A += [0.9, 0.7, 0.5, 0.4, 0.3]
DIURNAL_B = [0.5] * 6 + [0.7, 1.0, 1.5] + [2.0] * 7 + [1.8, 1.5, 1.2, 1.0, 0.8, 0.7, 0.6, 0.5]

CHAT = f"""
name = "chat 8B with a daily cycle"
[model]
name = "llama-3.1-8b"
weights = "fp16"
[hardware]
gpu = "l40s"
[workload]
rate_per_s = 6.0
duration_s = 86400
input_tokens = {{ distribution = "lognormal", mean = 1200, std = 900, max = 8000 }}
output_tokens = {{ distribution = "lognormal", mean = 300, std = 200, max = 2000 }}
diurnal = {json.dumps(DIURNAL_A)}
[slo]
ttft_p95_s = 1.0
tpot_p95_s = 0.05
[pricing]
apis = ["gpt-4o-mini"]
[simulation]
seed = 5
warmup_s = 300
"""

AGENT = f"""
name = "long-prompt 8B with a daily cycle"
[model]
name = "llama-3.1-8b"
weights = "fp8"
[hardware]
gpu = "h100-sxm"
[workload]
rate_per_s = 10.0
duration_s = 86400
input_tokens = {{ distribution = "lognormal", mean = 3000, std = 2000, max = 16000 }}
output_tokens = {{ distribution = "lognormal", mean = 200, std = 150, max = 1500 }}
diurnal = {json.dumps(DIURNAL_B)}
[slo]
ttft_p99_s = 2.0
tpot_p90_s = 0.03
e2e_p95_s = 8.0
[pricing]
apis = ["gpt-4o-mini"]
[simulation]
seed = 9
warmup_s = 300
"""

CASES = {
    "chat": (
        CHAT,
        {
            "gpus": ["l40s", "a100-sxm4-80gb"],
            "weights": ["fp16"],
            "tp": [1],
            "pricing": ["on_demand"],
        },
        6.0 * max(DIURNAL_A),
    ),
    "agent": (
        AGENT,
        {"gpus": ["h100-sxm"], "weights": ["fp8"], "tp": [1], "pricing": ["on_demand"]},
        10.0 * max(DIURNAL_B),
    ),
}


def fleet_file(tmp_path: Path, text: str, best: dict[str, Any], replicas: int, seed: int) -> Path:
    """The recommended fleet as a plain scenario at the plan's target rate."""
    check = best["verification"][-1]
    lines = []
    section = ""
    for line in text.strip().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        key = line.split("=")[0].strip()
        if (section, key) in {
            ("model", "weights"),
            ("hardware", "gpu"),
            ("workload", "rate_per_s"),
            ("workload", "duration_s"),
            ("workload", "diurnal"),
            ("simulation", "seed"),
            ("simulation", "warmup_s"),
        }:
            continue
        lines.append(line)
        if line == "[model]":
            lines.append(f'weights = "{best["weights"]}"')
        elif line == "[hardware]":
            lines += [f'gpu = "{best["gpu"]}"', f"tp = {best['tp']}", f"replicas = {replicas}"]
        elif line == "[workload]":
            lines += [
                f"rate_per_s = {check['rate_per_s']!r}",
                f"duration_s = {check['duration_s']!r}",
            ]
        elif line == "[simulation]":
            lines += [f"seed = {seed}", f"warmup_s = {check['warmup_s']!r}"]
    p = tmp_path / f"fleet_{replicas}_{seed}.toml"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_the_recommended_fleet_holds_in_simulation_and_one_fewer_does_not(
    tmp_path: Path, case: str
) -> None:
    text, candidates, peak_rate = CASES[case]
    scenario = tmp_path / "plan.toml"
    scenario.write_text(text, encoding="utf-8")
    result = api.plan(scenario, **candidates)
    best = result["recommended"]
    assert best is not None and best["verified"]
    assert result["target_rate_per_s"] == pytest.approx(peak_rate)
    seeds = best["verification"][-1]["seeds"]
    assert len(seeds) == 3

    def objectives_met(replicas: int, seed: int) -> bool:
        s = api.run(fleet_file(tmp_path, text, best, replicas, seed), write=False)
        assert set(s["slo"]) == set(result["slo"])  # every objective judged, e2e included
        return bool(s["slo_met"]) and s["requests_in_flight"] == 0

    assert all(objectives_met(best["replicas"], seed) for seed in seeds)
    if best["replicas"] > 1:
        assert not all(objectives_met(best["replicas"] - 1, seed) for seed in seeds)


def test_without_verification_the_plan_says_it_is_unchecked(tmp_path: Path) -> None:
    text, candidates, _ = CASES["agent"]
    scenario = tmp_path / "plan.toml"
    scenario.write_text(text, encoding="utf-8")
    result = api.plan(scenario, verify_candidates=0, **candidates)
    assert result["recommended"]["verified"] is False
    assert any("not checked by simulation" in n for n in result["notes"])
