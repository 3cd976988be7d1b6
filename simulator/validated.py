"""Which GPUs and models published measurements check, for the notes of every answer.

``catalog/validated.toml`` (written by ``tools/validation_coverage.py`` from
`simplan validate`) holds, per GPU, model and engine preset, how many published rows
check it and the median error. A GPU without an operator profile borrows its
generation's fit (:func:`simplan.catalog.efficiency`); one that no measurement checks
either is named as uncalibrated wherever its figures are shown.

It also holds, per GPU family and architecture, the signed error of the serving
throughput rows. Where the model has clearly run high or low there (a median of at
least :data:`BIAS_NOTE_ERROR` over at least :data:`BIAS_MIN_ROWS` rows), every run and
plan with such a fleet says so and by how much the real capacity may differ.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from simplan import catalog
from simplan.calibration import preset_overheads

#: How every answer names what no published measurement checks (readers match on it).
UNCALIBRATED = "uncalibrated: no published measurement checks"
#: The median signed serving-throughput error (predicted / measured - 1) of a GPU family
#: and architecture at or beyond which runs and plans name it.
BIAS_NOTE_ERROR = 0.10
#: The fewest published rows such a median needs.
BIAS_MIN_ROWS = 20


@cache
def _table() -> dict[str, Any]:
    text = resources.files("simplan.catalog").joinpath("validated.toml").read_text("utf-8")
    return tomllib.loads(text)


def checked(kind: str, key: str) -> dict[str, float] | None:
    """``{"rows", "median_abs_error"}`` for a GPU, model or engine id; None when no
    published measurement checks it. A model that shares a catalogued architecture is
    checked by the measurements of that architecture."""
    entry = _table().get(kind, {}).get(key)
    if not entry and kind == "model" and key in catalog.load("model"):
        base = catalog.model(key).same_architecture_as
        entry = _table().get(kind, {}).get(base) if base else None
    return dict(entry) if entry else None


def operator_fit(gpu_id: str) -> str:
    """Whose operator profile a GPU's efficiencies come from, in words."""
    eff = catalog.efficiency(catalog.gpu(gpu_id).family)
    if eff.fit_gpu == gpu_id:
        return f"its own operator profile ({eff.id} fit)"
    return (
        f"the {catalog.gpu(eff.fit_gpu).display_name} operator fit, its GEMM ramp scaled to "
        "its ridge point"
    )


def describe(kind: str, key: str) -> str:
    """One line: how many measurements check it and how well, or that none does."""
    found = checked(kind, key)
    if found is None:
        return f"{UNCALIBRATED} it"
    return (
        f"checked against {int(found['rows'])} published measurements, median error "
        f"{found['median_abs_error']:.0%}"
    )


def uncalibrated_note(
    gpus: list[str], model: str | None, engine_preset: str | None = None, tp: int = 1
) -> str | None:
    """A note naming what no measurement checks (None when everything is checked): a
    GPU, the model, an engine preset's memory and admission rules, which only
    measurements under load (``serving_rows``) check, or its host costs on a wider
    tensor-parallel group than its measurements ran (``max_tp``: an engine's driver
    prepares and broadcasts each step's inputs to every rank)."""
    parts = [
        f"the {g} (it borrows {operator_fit(g)})"
        for g in dict.fromkeys(gpus)
        if not checked("gpu", g)
    ]
    if model is not None and not checked("model", model):
        parts.append(f"the model {model}")
    if engine_preset is not None:
        engine = checked("engine", engine_preset)
        if engine is None or not engine.get("serving_rows", 0):
            parts.append(f"the {engine_preset} engine's memory and admission rules under load")
        # an engine with host costs of its own (calibration.preset_overheads) was fitted
        # at the widths its rows ran; vLLM V1's are the shared constants
        widest = int(engine.get("max_tp", 0)) if engine is not None else 0
        if 0 < widest < tp and preset_overheads(engine_preset):
            parts.append(
                f"the {engine_preset} engine's host costs at tp={tp} (its measurements ran at "
                f"tp <= {widest})"
            )
    if not parts:
        return None
    return (
        f"{UNCALIBRATED} "
        + " or ".join(parts)
        + "; these figures are the performance model's extrapolation (simplan validate)"
    )


def throughput_error(gpu_family: str, architecture: str) -> dict[str, float] | None:
    """``{"rows", "median_error", "p10_error", "p90_error"}``: the signed serving-throughput
    error (predicted / measured - 1) of the published rows of one GPU family
    (``hopper``) and architecture (``dense``, ``moe``, ``mla``); None without rows."""
    entry = _table().get("throughput_error", {}).get(f"{gpu_family}/{architecture}")
    return dict(entry) if entry else None


def bias_note(gpus: list[str], architecture: str) -> str | None:
    """A note for each GPU family of ``gpus`` whose serving throughput the model has
    over- or under-predicted for this architecture (None when none has)."""
    parts = []
    for family in dict.fromkeys(catalog.gpu(g).family for g in gpus):
        cell = throughput_error(family, architecture)
        if cell is None or cell["rows"] < BIAS_MIN_ROWS:
            continue
        e = cell["median_error"]
        if abs(e) < BIAS_NOTE_ERROR:
            continue
        # capacity scales as measured / predicted = 1 / (1 + e)
        change = 1.0 / (1.0 + e) - 1.0
        parts.append(
            f"on {family} GPUs simplan's serving throughput for {architecture} models has "
            f"been {'above' if e > 0 else 'below'} the published measurements: median "
            f"{e:+.0%} over {int(cell['rows'])} rows (80% of them between "
            f"{cell['p10_error']:+.0%} and {cell['p90_error']:+.0%}), so a real fleet may "
            f"sustain about {abs(change):.0%} {'less' if change < 0 else 'more'} than shown"
        )
    if not parts:
        return None
    return "; ".join(parts) + " (simplan validate)"


def answer_notes(
    gpus: list[str], arch: catalog.ModelArch | None, engine_preset: str | None, tp: int = 1
) -> list[str]:
    """The notes every run and plan carries about how far published measurements back
    its figures: what none checks (:func:`uncalibrated_note`) and a known lean of the
    throughput (:func:`bias_note`)."""
    notes = [
        uncalibrated_note(gpus, arch.id if arch is not None else None, engine_preset, tp),
        bias_note(gpus, arch.kind) if arch is not None else None,
    ]
    return [n for n in notes if n]
