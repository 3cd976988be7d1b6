"""Reading a scenario file: TOML parsing with clear errors, data-file paths resolved
against the scenario's folder, validation, and the scenario's hash.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from simplan.errors import ScenarioError
from simplan.scenario.overrides import scenario_from_dict
from simplan.scenario.schema import Scenario

T = TypeVar("T")


def read_scenario_dict(path: str | Path) -> dict[str, Any]:
    """Read a scenario file's TOML into a dict, with clear errors for unreadable files."""
    p = Path(path)
    if not p.exists():
        raise ScenarioError("no such scenario file", source=str(p))
    if p.is_dir():
        raise ScenarioError("is a directory, not a scenario file", source=str(p))
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror}", source=str(p)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ScenarioError(
            f"not UTF-8 text (bad byte at line {line}); TOML files must be UTF-8", source=str(p)
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML: {exc}", source=str(p)) from None
    except RecursionError:
        raise ScenarioError(
            "not a usable TOML file: tables or arrays nested too deeply", source=str(p)
        ) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise ScenarioError(f"not a usable TOML file: {exc}", source=str(p)) from None
    return resolve_file_paths(raw, p.resolve().parent)


#: Keys whose values name files, written relative to the scenario file.
_FILE_KEYS = (
    "workload.trace",
    "workload.input_tokens.path",
    "workload.output_tokens.path",
    "workload.reasoning_tokens.path",
    "workload.sessions.turns.path",
    "workload.sessions.turn_input_tokens.path",
    "engine.calibration",
    "model.config",
)


def resolve_file_paths(raw: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Make every file a scenario names (traces, length CSVs) absolute, against ``base_dir``.

    Done once when a file is read, so every scenario built from it (sweep points, plan
    candidates, verification runs, Dask workers in another folder) reads the same files
    whatever the current folder. Sweep axes over these keys are resolved too.
    """

    def fix(value: Any) -> Any:
        if isinstance(value, str) and value and not Path(value).is_absolute():
            return str(base_dir / value)
        return value

    def fix_at(table: Any, dotted: str) -> None:
        *parents, leaf = dotted.split(".")
        for part in parents:
            table = table.get(part) if isinstance(table, dict) else None
        if isinstance(table, dict) and leaf in table:
            table[leaf] = fix(table[leaf])

    for key in _FILE_KEYS:
        fix_at(raw, key)
    sweep = raw.get("sweep")
    if isinstance(sweep, dict):
        for axis, values in sweep.items():
            if not isinstance(values, list):
                continue
            for i, value in enumerate(values):
                if axis in _FILE_KEYS:
                    values[i] = fix(value)
                elif isinstance(value, dict):  # a whole table, e.g. "workload.input_tokens"
                    for key in _FILE_KEYS:
                        prefix = axis + "."
                        if key.startswith(prefix):
                            fix_at(value, key[len(prefix) :])
    return raw


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Parameters
    ----------
    path : str or Path
        A TOML scenario file.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        If the file cannot be read, is not TOML, or does not validate.
    """
    raw = read_scenario_dict(path)
    scenario = scenario_from_dict(raw, source=str(path))
    scenario._source_path = str(path)
    return scenario


def scenario_hash(scenario: Scenario) -> str:
    """A short stable hash of a scenario's validated content (for provenance)."""
    text = json.dumps(scenario.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
