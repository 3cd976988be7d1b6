"""The scenario file: one TOML file, one deployment question.

:func:`load_scenario` reads a file and returns a validated :class:`Scenario`, or raises a
:class:`~simplan.errors.ScenarioError` that names the file, the key path, the bad value,
what is allowed and, for catalog ids, the nearest valid id. Field names equal TOML keys.

One module per job: :mod:`~simplan.scenario.sections` (the deployment and its load:
``model``, ``hardware``, ``engine``, ``workload``, ``elastic``, one module each),
:mod:`~simplan.scenario.schema` (objectives, prices, simulation, sweep axes and the
:class:`Scenario`), :mod:`~simplan.scenario.problems` (validation errors as problems),
:mod:`~simplan.scenario.overrides` (dotted keys applied: sweep points, plan candidates)
and :mod:`~simplan.scenario.load` (files).
"""

from simplan.scenario.load import (
    load_scenario,
    read_scenario_dict,
    resolve_file_paths,
    scenario_hash,
)
from simplan.scenario.overrides import (
    INTEGER_KEYS,
    scenario_from_dict,
    trial_scenario,
)
from simplan.scenario.schema import (
    InlineApi,
    PricingSection,
    RangeAxis,
    Scenario,
    SimulationSection,
    SloSection,
    SweepAxis,
    scenario_json_schema,
)
from simplan.scenario.sections import (
    MAX_REPLICAS,
    Arrival,
    AutoscalingSection,
    CalibrationFactors,
    EmpiricalLength,
    EngineSection,
    FailuresSection,
    FiniteFloat,
    FixedLength,
    HardwareSection,
    InlineArchitecture,
    LengthSpec,
    ModelSection,
    NormalLength,
    OverflowSection,
    PoolSection,
    PositiveInt,
    Pricing,
    TokenCount,
    UniformLength,
    WorkloadSection,
)

__all__ = [
    "INTEGER_KEYS",
    "MAX_REPLICAS",
    "Arrival",
    "AutoscalingSection",
    "CalibrationFactors",
    "EmpiricalLength",
    "EngineSection",
    "FailuresSection",
    "FiniteFloat",
    "FixedLength",
    "HardwareSection",
    "InlineApi",
    "InlineArchitecture",
    "LengthSpec",
    "ModelSection",
    "NormalLength",
    "OverflowSection",
    "PoolSection",
    "PositiveInt",
    "Pricing",
    "PricingSection",
    "RangeAxis",
    "Scenario",
    "SimulationSection",
    "SloSection",
    "SweepAxis",
    "TokenCount",
    "UniformLength",
    "WorkloadSection",
    "load_scenario",
    "read_scenario_dict",
    "resolve_file_paths",
    "scenario_from_dict",
    "scenario_hash",
    "scenario_json_schema",
    "trial_scenario",
]
