"""Can any fleet serve this workload? The checks every command applies before work starts.

``check``, ``run``, ``sweep`` (at every point) and ``plan`` call :func:`check_workload`,
so a file that one command rejects is rejected by all of them, with the same message.
Whether a particular fleet holds the model is a question about hardware, answered by
:func:`simplan.sim.build_pools`; this module answers the questions no fleet can change:
the files a scenario names can be read, and requests fit in the model's context.
"""

from __future__ import annotations

from simplan.errors import ContextError, Problem
from simplan.scenario import (
    EmpiricalLength,
    FixedLength,
    NormalLength,
    Scenario,
    UniformLength,
)
from simplan.workload import mean_lengths, read_column, read_trace


def shortest_length(scenario: Scenario, key: str) -> int:
    """The shortest length ``workload.<key>`` can draw (reads a CSV of lengths)."""
    spec = getattr(scenario.workload, key)
    if isinstance(spec, int):
        return spec
    if isinstance(spec, FixedLength):
        return spec.value
    if isinstance(spec, UniformLength):
        return spec.low
    if isinstance(spec, NormalLength):
        return spec.min
    if isinstance(spec, EmpiricalLength):
        path = scenario.resolve_path(spec.path)
        return int(read_column(path, spec.column, f"workload.{key}.path").min())
    raise TypeError(f"unknown length spec {spec!r}")


def check_workload(scenario: Scenario) -> None:
    """Raise a clear error when no fleet could serve a single request of the workload.

    Reads every file the workload names (so a missing or malformed CSV is reported by
    every command, not only by the one that samples from it) and compares the shortest
    request (prompt + output) with the model's context.

    Raises
    ------
    ScenarioError
        A trace or length CSV is missing or malformed.
    ContextError
        Every request is longer than the model's context window.
    """
    w = scenario.workload
    context = scenario.model.arch().max_context_tokens
    if w.arrival == "trace":
        assert w.trace is not None  # the schema requires it for arrival = "trace"
        reqs = read_trace(scenario.resolve_path(w.trace))
        shortest = int((reqs.input_tokens + reqs.output_tokens).min())
        if shortest > context:
            where = Problem(
                "workload.trace",
                f"the shortest request in the trace is {shortest:,} tokens (prompt + output)",
                w.trace,
                True,
            )
            raise ContextError(_TOO_LONG, [where, _context_problem(scenario, shortest)])
        return
    mean_lengths(scenario)  # reads the CSVs of empirical lengths once, with clear errors
    inp = shortest_length(scenario, "input_tokens")
    out = shortest_length(scenario, "output_tokens")
    if inp + out <= context:
        return
    fixed = (int, FixedLength)
    if isinstance(w.input_tokens, fixed) and isinstance(w.output_tokens, fixed):
        what = f"input_tokens + output_tokens = {inp + out:,}"
    else:
        what = f"the shortest request the length distributions allow is {inp + out:,} tokens"
    if context - out >= 1:
        hint = f"nearest feasible: input_tokens <= {context - out:,}"
    else:
        hint = f"output_tokens alone ({out:,}) exceed the context"
    where = Problem("workload.input_tokens", f"{what}; {hint}")
    raise ContextError(_TOO_LONG, [where, _context_problem(scenario, inp + out)])


_TOO_LONG = "every request is longer than the model's context"


def _context_problem(scenario: Scenario, shortest: int) -> Problem:
    """Where the context comes from: the catalog model or the inline architecture."""
    context = scenario.model.arch().max_context_tokens
    msg = f"a context of {context:,} tokens, shorter than the shortest request ({shortest:,})"
    if scenario.model.name is not None:
        return Problem(
            "model.name", msg + "; choose a model with a longer context", scenario.model.name, True
        )
    return Problem("model.architecture.max_context_tokens", msg, context, True)
