"""A scenario with some keys replaced (a sweep point, a plan candidate, a verification
run): the one place dotted keys are applied, and the [sweep] axes checked.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)
from simplan.errors import Problem, ScenarioError, nearest
from simplan.scenario.problems import _allowed_keys, _problems_from
from simplan.scenario.schema import RangeAxis, Scenario


def _apply_path(raw: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = raw
    for part in parts[:-1]:
        nxt = cur.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise KeyError(dotted)
        cur = nxt
    cur[parts[-1]] = value


def _sweep_key_exists(dotted: str) -> bool:
    parts = dotted.split(".")
    model: type[BaseModel] | None = Scenario
    for part in parts:
        if model is None or part not in model.model_fields:
            return False
        ann = model.model_fields[part].annotation
        if getattr(ann, "__origin__", None) is list and part != parts[-1]:
            return False  # inside an array of tables ([[hardware.pools]], [[api]])
        model = _section_type(ann)
    return True


def _section_type(ann: Any) -> type[BaseModel] | None:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _validate_sweep(raw: dict[str, Any], scenario: Scenario, source: str) -> None:
    problems: list[Problem] = []
    for key, axis in scenario.sweep.items():
        path = f'sweep."{key}"'
        if not _sweep_key_exists(key):
            leaf_parent = ".".join(key.split(".")[:-1])
            allowed = _allowed_keys(tuple(leaf_parent.split("."))) if leaf_parent else []
            hint = nearest(key.split(".")[-1], allowed) if allowed else None
            msg = (
                "not a scenario key path that can be swept (keys inside arrays of tables cannot be)"
            )
            if hint:
                msg += f"; did you mean {leaf_parent + '.' + hint!r}?"
            problems.append(Problem(path, msg, key, True))
            continue
        try:
            values = axis.values() if isinstance(axis, RangeAxis) else axis
        except ValueError as exc:
            problems.append(Problem(path, str(exc)))
            continue
        indices = range(len(values))
        if isinstance(axis, RangeAxis):
            # a range is validated at its two ends: every constraint on one number is an
            # interval, so a value inside the range fails only if an end does (a range
            # of 100,000 values is checked in milliseconds, not validated 100,000 times)
            indices = (
                range(len(values)) if len(values) <= 2 else range(0, len(values), len(values) - 1)
            )
        for i in indices:
            value = values[i]
            trial = copy.deepcopy(raw)
            trial.pop("sweep", None)
            if isinstance(axis, RangeAxis) and key.split(".")[-1] in INTEGER_KEYS:
                value = round(value)  # a numeric range over an integer key
            _apply_path(trial, key, value)
            try:
                Scenario.model_validate(trial)
            except ValidationError as exc:
                for p in _problems_from(exc):
                    problems.append(
                        Problem(f"{path}[{i}]", f"{p.key_path}: {p.message}", value, True)
                    )
    if problems:
        raise ScenarioError("invalid [sweep] axis", problems, source=source)


INTEGER_KEYS = {
    "tp",
    "pp",
    "replicas",
    "max_num_seqs",
    "max_num_batched_tokens",
    "concurrency",
    "num_requests",
    "input_tokens",
    "output_tokens",
    "seed",
}


def scenario_from_dict(raw: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a scenario given as a dict (the parsed TOML).

    Raises
    ------
    ScenarioError
        With one :class:`~simplan.errors.Problem` per bad key.
    """
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        problems = _problems_from(exc)
        raise ScenarioError(
            f"invalid scenario ({len(problems)} problem{'s' * (len(problems) != 1)})",
            problems,
            source=source,
        ) from None
    if scenario.sweep:
        _validate_sweep(raw, scenario, source)
    return scenario


def trial_scenario(
    raw: dict[str, Any],
    overrides: dict[str, Any],
    source: str,
) -> Scenario:
    """A scenario built from a parsed file with dotted-key overrides (``[sweep]`` dropped).

    The one way ``sweep`` points, ``plan`` candidates and verification runs are made;
    an override of None removes the key. Files the scenario names are already absolute
    in a dict from :func:`read_scenario_dict`.
    """
    trial = copy.deepcopy(raw)
    trial.pop("sweep", None)
    for key, value in overrides.items():
        if value is None:
            *parents, leaf = key.split(".")
            cur: Any = trial
            for part in parents:
                cur = cur.get(part, {}) if isinstance(cur, dict) else {}
            if isinstance(cur, dict):
                cur.pop(leaf, None)
        else:
            _apply_path(trial, key, value)
    return scenario_from_dict(trial, source=source)
