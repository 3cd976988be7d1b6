"""Requests the fleet cannot hold: refused before the run when none fits, and a note
naming how many and why when some do not."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from simplan.cli import main
from simplan.metrics import summarize
from simplan.scenario import scenario_from_dict
from simplan.sim import simulate

SCENARIO = """
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "l4"
[workload]
rate_per_s = 1.0
num_requests = 20
input_tokens = {input_tokens}
output_tokens = 100
"""


def test_a_fleet_that_would_reject_every_request_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(input_tokens=60000), encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(path), "--no-write"])
    assert result.exit_code == 2, result.output
    out = result.output
    assert "60,100 tokens" in out and "tokens of KV cache" in out and "l4" in out
    assert "nearest that fits" in out
    assert "Traceback" not in out


def test_rejected_requests_are_counted_in_a_note() -> None:
    sc = scenario_from_dict(
        {
            "model": {"name": "llama-3.1-8b"},
            "hardware": {"gpu": "l4"},
            "workload": {
                "rate_per_s": 1.0,
                "num_requests": 40,
                "input_tokens": {"distribution": "uniform", "low": 1000, "high": 40000},
                "output_tokens": 100,
            },
        }
    )
    s = summarize(simulate(sc))
    assert 0 < s["requests_rejected"] < 40
    (note,) = [n for n in s["notes"] if "rejected" in n]
    assert note.startswith(f"{s['requests_rejected']} of 40 requests")
    assert "KV cache" in note
