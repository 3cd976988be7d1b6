"""Can any fleet serve this workload? The checks every command applies before work starts.

``check``, ``run``, ``sweep`` (at every point) and ``plan`` call :func:`check_workload`,
so a file that one command rejects is rejected by all of them, with the same message.
Whether a particular fleet holds the model is a question about hardware, answered by
:func:`simplan.pools.build_pools`; this module answers the questions no fleet can change:
the files a scenario names can be read, and requests fit in the model's context.
"""

from __future__ import annotations

import math

import numpy as np
from simplan.calibration_profile import scenario_profile
from simplan.errors import ContextError, Problem, SimplanError
from simplan.scenario import (
    EmpiricalLength,
    FixedLength,
    NormalLength,
    Scenario,
    UniformLength,
)
from simplan.traces import read_column, read_trace
from simplan.workload import mean_rate_per_s


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


def shortest_request(scenario: Scenario) -> tuple[int, int]:
    """(prompt, output) tokens of the shortest request (prompt + output) the workload can
    make; reads the trace or the length CSVs it names."""
    w = scenario.workload
    if w.arrival == "trace":
        assert w.trace is not None  # the schema requires it for arrival = "trace"
        reqs = read_trace(scenario.resolve_path(w.trace))
        i = int(np.argmin(reqs.input_tokens + reqs.output_tokens))
        return int(reqs.input_tokens[i]), int(reqs.output_tokens[i])
    # the prompt is any shared prefix plus its own tokens; every generated token (hidden
    # reasoning included) takes context and KV
    shared = w.prefix_tokens
    hidden = shortest_length(scenario, "reasoning_tokens") if w.reasoning_tokens else 0
    return shared + shortest_length(scenario, "input_tokens"), (
        shortest_length(scenario, "output_tokens") + hidden
    )


def check_workload(scenario: Scenario) -> tuple[int, int]:
    """Raise a clear error when no fleet could serve a single request of the workload.

    Reads every file the workload names (so a missing or malformed CSV is reported by
    every command, not only by the one that samples from it) and compares the shortest
    request (prompt + output) with the model's context.

    Also refuses timed processes that would fire too often to finish
    (:func:`check_event_budget`).

    Raises
    ------
    SimplanError
        A timed process (autoscaler, failures, spot) would make too many events.
    ScenarioError
        A trace or length CSV is missing or malformed.
    ContextError
        Every request is longer than the model's context window.

    Returns
    -------
    tuple of int
        The shortest request's (prompt, output) tokens (:func:`shortest_request`).
    """
    check_event_budget(scenario)
    scenario_profile(scenario)  # a named calibration profile must be readable
    w = scenario.workload
    context = scenario.model.arch().max_context_tokens
    inp, out = shortest_request(scenario)
    if w.arrival == "trace":
        shortest = inp + out
        if shortest > context:
            where = Problem(
                "workload.trace",
                f"the shortest request in the trace is {shortest:,} tokens (prompt + output)",
                w.trace,
                True,
            )
            raise ContextError(_TOO_LONG, [where, _context_problem(scenario, shortest)])
        return inp, out
    if inp + out <= context:
        return inp, out
    fixed = (int, FixedLength)
    parts = ["input_tokens", "output_tokens"]
    shared = w.prefix_tokens
    if shared:
        parts.insert(0, "shared_prefix_tokens")
    if w.reasoning_tokens is not None:
        parts.append("reasoning_tokens")
    specs = [w.input_tokens, w.output_tokens, w.reasoning_tokens or 0]
    if all(isinstance(s, fixed) for s in specs):
        what = f"{' + '.join(parts)} = {inp + out:,}"
    else:
        what = f"the shortest request the length distributions allow is {inp + out:,} tokens"
    output = " + ".join(p for p in parts if p in ("output_tokens", "reasoning_tokens"))
    if context - out - shared >= 1:
        hint = f"nearest feasible: input_tokens <= {context - out - shared:,}"
    elif context - out >= 1:
        hint = f"nearest feasible: shared_prefix_tokens + input_tokens <= {context - out:,}"
    else:
        hint = f"{output} alone ({out:,}) exceed the context"
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


#: The most autoscaler ticks one run may have. A tick costs about 35 microseconds
#: (measured 2026-12-01 on the 2-core CI machine: 10^6 ticks of a 3-replica pool took
#: 37 s, 5x10^5 took 20 s), so this is under 20 s of work.
MAX_PROCESS_EVENTS = 500_000

#: The most disruptions (replica failures, spot interruptions) one run may have. Each
#: takes a replica down and routes its requests again, about 1 ms of work (measured
#: 2026-12-01 on the same machine: 7,280 failures of a loaded replica in 8.5 s; at
#: 160,000 the run did not finish in 150 s), so this is about 20 s.
MAX_DISRUPTION_EVENTS = 20_000

#: Without a stated duration (an offline job, a trace), each timed process may fire at
#: most once per this many simulated seconds.
MIN_PROCESS_PERIOD_S = 1.0


def drain_limit_s(horizon_s: float, overloaded: bool) -> float:
    """How long an open-loop run may go on after its arrivals end (``horizon_s``).

    An overloaded fleet needs only long enough to show its sustained rate and backlog;
    otherwise in-flight requests get an hour (or twice the horizon) to finish.
    """
    return max(60.0, horizon_s) if overloaded else max(3600.0, 2.0 * horizon_s)


def check_event_budget(scenario: Scenario) -> None:
    """Refuse timed processes that would fire so often the run could not finish.

    A typo such as ``mtbf_hours = 1e-9`` (a failure every 3.6 microseconds) or
    ``interval_s = 5e-324`` is valid by type but would make billions of events: the run
    would hang. A run may have at most :data:`MAX_PROCESS_EVENTS` ticks of the
    autoscaler or :data:`MAX_DISRUPTION_EVENTS` failures or interruptions, shared
    equally among the processes a run has, counted over the longest the run can last
    (the drain after the arrivals included: the processes keep firing while a saturated
    fleet drains); without a duration, each fires at most once per
    :data:`MIN_PROCESS_PERIOD_S` per replica.
    """
    hw = scenario.hardware
    replicas = hw.replicas + sum(p.replicas for p in hw.pools)
    if scenario.autoscaling is not None:
        replicas += scenario.autoscaling.max_replicas - hw.replicas
    # (key, period in seconds between events of one process, number of such processes,
    # the most events all of them may make)
    processes: list[tuple[str, float, int, int]] = []
    if scenario.autoscaling is not None:
        interval_s = scenario.autoscaling.interval_s
        processes.append(("autoscaling.interval_s", interval_s, 1, MAX_PROCESS_EVENTS))
    if scenario.failures is not None:
        # a replica fails only while up: one failure per time to fail plus its repair
        f = scenario.failures
        period_s = f.mtbf_hours * 3600.0 + f.repair_s
        processes.append(("failures.mtbf_hours", period_s, replicas, MAX_DISRUPTION_EVENTS))
    for i, pool in enumerate(hw.pools):
        if pool.interruptions_per_hour > 0:
            key = f"hardware.pools[{i}].interruptions_per_hour"
            period_s = 3600.0 / pool.interruptions_per_hour
            processes.append((key, period_s, pool.replicas, MAX_DISRUPTION_EVENTS))
    duration = scenario.workload.duration_s
    for key, period_s, count, most in processes:
        # the processes share the run's time: each gets its part of its budget, so that
        # together they stay within about 20 s of work
        budget = max(most // len(processes), 1)
        if duration is not None:
            drain = drain_limit_s(duration, overloaded=False)
            events = (duration + drain) / period_s * count
            if events <= budget:
                continue
            floor = (duration + drain) * count / budget
            many = f"about {events:,.3g}" if math.isfinite(events) else "countless"
            what = (
                f"{many} events over workload.duration_s = {duration:g} and the drain of up "
                f"to {drain:,.0f} s after it (at most {budget:,})"
            )
        else:
            if period_s >= MIN_PROCESS_PERIOD_S:
                continue
            floor = MIN_PROCESS_PERIOD_S
            what = f"an event every {period_s:.3g} s (at most one per {MIN_PROCESS_PERIOD_S:g} s)"
        if key == "failures.mtbf_hours":
            repair_s = scenario.failures.repair_s if scenario.failures else 0.0
            fix = f"mtbf_hours >= {max(floor - repair_s, 0.0) / 3600.0:.3g}"
        elif key.endswith("interruptions_per_hour"):
            fix = f"interruptions_per_hour <= {3600.0 / floor:.3g}"
        else:
            fix = f"interval_s >= {floor:.3g}"
        raise SimplanError(
            "the run would not finish",
            [Problem(key, f"{what}; nearest that runs: {fix}, or a shorter duration_s")],
        )


#: The most grid points a sweep evaluates unless raised (``simplan sweep --max-points``):
#: about 3 minutes on 2 cores and some 30 GB of results written to Zarr.
MAX_SWEEP_POINTS = 200_000_000

#: The most result memory a sweep held in memory may take (no output, or a ``.nc`` file);
#: a ``.zarr`` output of a fast sweep is computed and written in blocks instead.
MAX_IN_MEMORY_BYTES = 1024**3


def check_sweep_size(
    axis_sizes: dict[str, int],
    *,
    bytes_per_point: int,
    in_memory: bool,
    max_points: int = MAX_SWEEP_POINTS,
    source: str | None = None,
) -> None:
    """Refuse a grid too large to evaluate, before anything is allocated.

    Parameters
    ----------
    axis_sizes : dict
        Values per sweep axis (key path -> count).
    bytes_per_point : int
        Result bytes one grid point takes.
    in_memory : bool
        Whether the whole grid would be held in memory (otherwise it is streamed).
    max_points : int
        The most points allowed (:data:`MAX_SWEEP_POINTS` unless raised).
    """
    points = math.prod(axis_sizes.values())
    sizes = " x ".join(f"{n:,}" for n in axis_sizes.values())
    largest = max(axis_sizes, key=lambda k: axis_sizes[k]) if axis_sizes else "sweep"
    est_gib = points * bytes_per_point / 1024**3
    gib = f"{est_gib:,.0f}" if est_gib >= 100 else f"{est_gib:.3g}"
    if points > max_points:
        raise SimplanError(
            f"the sweep has {points:,} grid points ({sizes}), more than the {max_points:,} "
            f"allowed (about {gib} GiB of results)",
            [
                Problem(
                    f'sweep."{largest}"',
                    f"{axis_sizes[largest]:,} values; narrow this axis, or raise the limit "
                    "with `simplan sweep --max-points`",
                )
            ],
            source=source,
        )
    if in_memory and points * bytes_per_point > MAX_IN_MEMORY_BYTES:
        raise SimplanError(
            f"the sweep's {points:,} grid points ({sizes}) need about {gib} GiB in "
            f"memory, more than the {MAX_IN_MEMORY_BYTES / 1024**3:g} GiB allowed; write a "
            "fast sweep to a .zarr store (`-o NAME.zarr`), which is computed and written in "
            "blocks, or narrow an axis",
            [Problem(f'sweep."{largest}"', f"{axis_sizes[largest]:,} values")],
            source=source,
        )


def expected_requests(scenario: Scenario, capacity_per_s: float = math.inf) -> float | None:
    """Requests a run will simulate, where the scenario fixes it (None: a trace or a
    closed loop, whose count the file or the fleet's speed decides, or an overload).

    An open loop offered more than the fleet's ``capacity_per_s`` is stopped once its
    queue grows (:mod:`simplan.overload`, at most a bounded backlog), so its length does
    not decide its work.
    """
    offered = offered_requests(scenario)
    w = scenario.workload
    if offered is None or (w.arrival != "offline" and mean_rate_per_s(w) > capacity_per_s):
        return None
    return offered


def offered_requests(scenario: Scenario) -> float | None:
    """Requests the workload offers (and draws up front), where the scenario fixes it."""
    w = scenario.workload
    if w.arrival in ("trace", "closed"):
        return None
    if w.arrival == "offline" or w.duration_s is None:
        return float(w.num_requests) if w.num_requests is not None else None
    n = mean_rate_per_s(w) * w.duration_s
    return min(n, float(w.num_requests)) if w.num_requests is not None else n


#: An overloaded open loop is cut short by its queue's growth, but its arrival times are
#: drawn up front (24 bytes each): it may offer this many times ``max_requests``.
OVERLOAD_ARRIVALS_FACTOR = 40


def check_request_budget(scenario: Scenario, capacity_per_s: float = math.inf) -> None:
    """Refuse a run expected to simulate more than ``simulation.max_requests`` requests.

    Each request keeps a result row and costs simulation time (measured 2026-12-01 on the
    2-core CI machine: an offline job of 10^6 requests took 26-34 s and 160 MB above the
    240 MB floor), so the cap bounds both memory and time before anything is allocated.
    """
    cap = scenario.simulation.max_requests
    limit = f"simulation.max_requests = {cap:,}"
    n = expected_requests(scenario, capacity_per_s)
    if n is None:  # an overload: only its drawn arrivals count
        n, cap = offered_requests(scenario), OVERLOAD_ARRIVALS_FACTOR * cap
        limit = f"{OVERLOAD_ARRIVALS_FACTOR} x {limit} arrivals for an overloaded fleet"
    if n is None or n <= cap:
        return
    w = scenario.workload
    value: float | None
    if w.arrival == "offline" or w.duration_s is None:
        key, value, fix = "workload.num_requests", w.num_requests, f"num_requests <= {cap:,}"
    else:
        key, value = "workload.duration_s", w.duration_s
        fix = f"duration_s <= {cap / max(n / w.duration_s, 1e-12):,.0f}"
    raise SimplanError(
        "the run would simulate too many requests",
        [
            Problem(
                key,
                f"about {n:,.0f} requests, more than {limit}; nearest that runs: {fix}, or "
                "raise simulation.max_requests",
                value,
                True,
            )
        ],
    )
