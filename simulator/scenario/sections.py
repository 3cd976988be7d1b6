"""The sections of a scenario file that describe the deployment and its load, one module
per section: :mod:`~simplan.scenario.model`, :mod:`~simplan.scenario.hardware`,
:mod:`~simplan.scenario.engine`, :mod:`~simplan.scenario.workload` (with
:mod:`~simplan.scenario.lengths` and :mod:`~simplan.scenario.sessions`) and
:mod:`~simplan.scenario.elastic` ([autoscaling], [failures], [overflow]). Field names
equal TOML keys.
"""

from simplan.scenario.base import (
    MAX_REPLICAS,
    FiniteFloat,
    PositiveInt,
    TokenCount,
    _check_catalog_id,
    _Section,
)
from simplan.scenario.elastic import AutoscalingSection, FailuresSection, OverflowSection
from simplan.scenario.engine import TRTLLM_DEFAULTS, CalibrationFactors, EngineSection
from simplan.scenario.hardware import HardwareSection, PoolSection, Pricing
from simplan.scenario.lengths import (
    EmpiricalLength,
    FixedLength,
    LengthSpec,
    NormalLength,
    UniformLength,
)
from simplan.scenario.model import InlineArchitecture, ModelSection
from simplan.scenario.workload import Arrival, WorkloadSection

__all__ = [
    "MAX_REPLICAS",
    "TRTLLM_DEFAULTS",
    "Arrival",
    "AutoscalingSection",
    "CalibrationFactors",
    "EmpiricalLength",
    "EngineSection",
    "FailuresSection",
    "FiniteFloat",
    "FixedLength",
    "HardwareSection",
    "InlineArchitecture",
    "LengthSpec",
    "ModelSection",
    "NormalLength",
    "OverflowSection",
    "PoolSection",
    "PositiveInt",
    "Pricing",
    "TokenCount",
    "UniformLength",
    "WorkloadSection",
    "_Section",
    "_check_catalog_id",
]
