"""Translating pydantic's validation errors into the problems simplan shows: the key path
as written in the file, the bad value, what is allowed and the nearest valid key or id.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)
from simplan.errors import Problem, format_key_path, nearest
from simplan.scenario.lengths import DatasetLength
from simplan.scenario.schema import (
    InlineApi,
    PricingSection,
    RangeAxis,
    Scenario,
    SimulationSection,
    SloSection,
)
from simplan.scenario.sections import (
    AutoscalingSection,
    EmpiricalLength,
    EngineSection,
    FailuresSection,
    FixedLength,
    HardwareSection,
    InlineArchitecture,
    ModelSection,
    NormalLength,
    OverflowSection,
    PoolSection,
    UniformLength,
    WorkloadSection,
)
from simplan.scenario.sessions import SessionsSection
from simplan.scenario.speculative import SpeculativeSection


def _problems_from(exc: ValidationError) -> list[Problem]:
    errors = exc.errors(include_url=False)
    # A value that may be a number or a table (lengths, sweep axes): when the user wrote a
    # table, the "should be a number/list" error of the other branch is noise.
    table_locs = {
        _user_loc(e["loc"])[:-1] if e["type"] != "missing" else _user_loc(e["loc"])
        for e in errors
        if any(_branch_model(p) for p in e["loc"])
    }
    # A table rejected as a whole (an unknown `dataset`) is located at the table itself.
    table_locs |= {
        _user_loc(e["loc"])
        for e in errors
        if e["loc"] and str(e["loc"][-1]).startswith("function-")
    }
    problems = []
    for err in errors:
        raw_loc = tuple(err["loc"])
        loc = _user_loc(raw_loc)
        if (
            err["type"] in _SCALAR_BRANCH_ERRORS
            and loc in table_locs
            and isinstance(err.get("input"), dict)
        ):
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            branch = next((m for m in map(_branch_model, reversed(raw_loc)) if m), None)
            allowed = list(branch.model_fields) if branch else _allowed_keys(loc[:-1])
            hint = nearest(str(loc[-1]), allowed) if allowed else None
            msg = "unknown key" + (f"; did you mean {hint!r}?" if hint else "")
            if allowed:
                msg += f" (allowed: {', '.join(allowed)})"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["type"] == "union_tag_not_found" and "distribution" in str(err.get("ctx")):
            given = ", ".join(map(str, err["input"])) if isinstance(err.get("input"), dict) else ""
            msg = (
                "a length table needs `distribution` (fixed, uniform, normal, lognormal or "
                "empirical, each with its keys) or `dataset`"
                + (f"; it has only: {given}" if given else "")
            )
        value = err.get("input")
        has_value = err["type"] not in ("missing",) and not isinstance(value, dict)
        problems.append(Problem(format_key_path(loc), msg, value, has_value))
    # Union errors repeat the same location once per branch; keep the first message per path.
    seen: dict[str, Problem] = {}
    for p in problems:
        seen.setdefault(p.key_path + p.message, p)
    return list(seen.values())


_SCALAR_BRANCH_ERRORS = {"int_type", "int_parsing", "list_type", "float_type", "int_from_float"}


def _user_loc(loc: Any) -> tuple[Any, ...]:
    """The location without pydantic's union-branch tags: the user's key path."""
    return tuple(p for p in loc if not _is_branch_tag(p))


_BRANCH_MODELS: dict[str, type[BaseModel]] = {
    "fixed": FixedLength,
    "uniform": UniformLength,
    "normal": NormalLength,
    "lognormal": NormalLength,
    "empirical": EmpiricalLength,
    "named_dataset": DatasetLength,
    "RangeAxis": RangeAxis,
}


def _branch_model(part: object) -> type[BaseModel] | None:
    return _BRANCH_MODELS.get(part) if isinstance(part, str) else None


def _is_branch_tag(part: object) -> bool:
    return isinstance(part, str) and (
        part in ("int", "float", "str", "bool", "list[any]", "RangeAxis")
        or part.startswith(("function-", "tagged-union", "constrained-"))
        or part in ("fixed", "uniform", "normal", "lognormal", "empirical", "named_dataset")
    )


_SECTION_TYPES: dict[str, type[BaseModel]] = {
    "autoscaling": AutoscalingSection,
    "failures": FailuresSection,
    "overflow": OverflowSection,
    "model": ModelSection,
    "hardware": HardwareSection,
    "engine": EngineSection,
    "workload": WorkloadSection,
    "slo": SloSection,
    "pricing": PricingSection,
    "simulation": SimulationSection,
}


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    if not loc:
        return list(Scenario.model_fields)
    if len(loc) == 1 and loc[0] in _SECTION_TYPES:
        return list(_SECTION_TYPES[loc[0]].model_fields)
    if loc[:2] == ("model", "architecture"):
        return list(InlineArchitecture.model_fields)
    if loc[0] == "api":
        return list(InlineApi.model_fields)
    if loc[:2] == ("hardware", "pools"):
        return list(PoolSection.model_fields)
    if loc[:2] == ("engine", "speculative"):
        return list(SpeculativeSection.model_fields)
    if loc[:2] == ("workload", "sessions"):
        return list(SessionsSection.model_fields)
    return []
