"""Calibration profiles: the deployment-specific factors ``simplan calibrate`` fits, as a
small sourced TOML file that a scenario names with ``[engine] calibration = "file.toml"``.

A profile's ``[factors]`` table has the keys of :class:`~simplan.scenario.CalibrationFactors`
(the same table a scenario may give inline); everything else in the file (which logs,
which engine, the fit's intervals and errors) is provenance. This module owns reading
(with errors that name the file and key), the factors that apply to a replica on a given
GPU, and how the scenario's calibration is described in provenance.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from simplan.errors import Problem, ScenarioError, nearest
from simplan.named_files import read_named_file
from simplan.scenario import CalibrationFactors

if TYPE_CHECKING:
    from simplan.scenario import Scenario

#: The first line of every profile simplan writes: a file without it is never overwritten.
HEADER = "# simplan calibration profile"


@dataclass(frozen=True)
class Profile:
    """A calibration profile as read from its file (or the inline factors of a scenario)."""

    factors: CalibrationFactors
    path: str | None = None
    deployment: dict[str, Any] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for provenance: the factors and where they came from."""
        f = self.factors
        parts = []
        if f.compute_efficiency_scale is not None:
            parts.append(f"compute efficiency x{f.compute_efficiency_scale:.3g}")
        if f.memory_efficiency_scale is not None:
            parts.append(f"memory efficiency x{f.memory_efficiency_scale:.3g}")
        if f.iteration_overhead_s is not None:
            parts.append(f"iteration overhead {f.iteration_overhead_s * 1e3:.3g} ms")
        if f.sequence_overhead_s is not None:
            parts.append(f"overhead per sequence {f.sequence_overhead_s * 1e6:.3g} us")
        text = ", ".join(parts) or "no factors set"
        if f.gpu is not None:
            text += f" (on {f.gpu} only)"
        return text


def read_profile(path: str | Path, *, key_path: str = "engine.calibration") -> Profile:
    """Read and check a calibration profile (once per version of the file).

    Raises
    ------
    ScenarioError
        The file is missing, not TOML, or a factor is missing or out of range; the
        message names the file and the key (``key_path`` says where the scenario named it).
    """
    return read_named_file(path, key_path, "calibration profile", _parse_profile)


def _parse_profile(text: str, source: str) -> Profile:
    raw = tomllib.loads(text)
    table = raw.get("factors")
    if not isinstance(table, dict):
        raise ScenarioError(
            "not a calibration profile: it has no [factors] table",
            [Problem("factors", "missing (a profile written by `simplan calibrate` has it)")],
            source=source,
        )
    try:
        factors = CalibrationFactors.model_validate(table)
    except ValidationError as exc:
        allowed = list(CalibrationFactors.model_fields)
        problems = []
        for err in exc.errors():
            key = ".".join(str(x) for x in err["loc"])
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                hint = nearest(key, allowed)
                msg = "unknown key" + (f"; did you mean {hint!r}?" if hint else "")
                msg += f" (allowed: {', '.join(allowed)})"
            problems.append(
                Problem(
                    "factors." + key,
                    msg,
                    err.get("input"),
                    "input" in err and err["type"] != "missing",
                )
            )
        raise ScenarioError("invalid calibration profile", problems, source=source) from None
    deployment = raw.get("deployment")
    fit = raw.get("fit")
    return Profile(
        factors,
        source,
        dict(deployment) if isinstance(deployment, dict) else {},
        dict(fit) if isinstance(fit, dict) else {},
    )


def scenario_profile(scenario: Scenario) -> Profile | None:
    """The calibration a scenario names (a profile file or inline factors), or None."""
    cal = scenario.engine.calibration
    if cal is None:
        return None
    if isinstance(cal, CalibrationFactors):
        return Profile(cal)
    return read_profile(scenario.resolve_path(cal))


def factors_for(scenario: Scenario, gpu_id: str) -> CalibrationFactors | None:
    """The factors that apply to a replica of ``scenario`` on ``gpu_id`` (None: catalog's)."""
    profile = scenario_profile(scenario)
    if profile is None:
        return None
    f = profile.factors
    if f.gpu is not None and f.gpu != gpu_id:
        return None
    return f


def provenance_row(scenario: Scenario) -> dict[str, str] | None:
    """The provenance line of a scenario's calibration (None when it has none)."""
    profile = scenario_profile(scenario)
    if profile is None:
        return None
    source = "inline [engine.calibration] table"
    as_of = ""
    if profile.path is not None:
        fit = profile.fit
        logs = fit.get("logs")
        n = len(logs) if isinstance(logs, list) else "?"
        engine = profile.deployment.get("engine") or "engine not stated"
        source = f"{profile.path}: fitted by simplan calibrate on {n} benchmark run(s), {engine}"
        as_of = str(fit.get("date", ""))
    return {
        "what": "deployment calibration",
        "id": Path(profile.path).name if profile.path else "inline",
        "detail": profile.describe(),
        "source": source,
        "as_of": as_of,
    }


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(float(f"{v:.6g}"))
    if isinstance(v, str):
        return json.dumps(v)  # JSON's escapes are TOML basic-string escapes
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to a profile")


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else _toml_value(k)


def profile_text(
    factors: dict[str, Any], deployment: dict[str, Any], fit: dict[str, dict[str, Any] | Any]
) -> str:
    """The text of a profile: ``[factors]`` (what a scenario applies), ``[deployment]``
    and ``[fit]`` (provenance). Values of ``fit`` that are dicts become sub-tables."""
    lines = [
        HEADER,
        "# Written by `simplan calibrate`; a scenario applies it with",
        '# [engine] calibration = "<this file>". Rerun `simplan calibrate` rather than editing.',
        "",
        "[factors]",
        *(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in factors.items()),
        "",
        "[deployment]",
        *(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in deployment.items() if v is not None),
        "",
        "[fit]",
        *(
            f"{_toml_key(k)} = {_toml_value(v)}"
            for k, v in fit.items()
            if not isinstance(v, dict) and v is not None
        ),
    ]
    for k, v in fit.items():
        if isinstance(v, dict):
            lines += ["", f"[fit.{_toml_key(k)}]"]
            lines += [f"{_toml_key(kk)} = {_toml_value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def is_simplan_profile(path: Path) -> bool:
    """Whether ``path`` is a profile simplan wrote (so it may be replaced)."""
    try:
        with path.open(encoding="utf-8") as fh:
            return fh.readline().rstrip("\n") == HEADER
    except (OSError, UnicodeDecodeError):
        return False
