"""Where every number of a result came from: catalog entries, prices applied, calibration.

:func:`provenance_rows` lists, for a scenario (and the values its sweep axes take), each
catalog entry used with its source and date, the GPU-hour price actually applied to each
(GPU, pricing mode) with the source of that price (catalog or the scenario's override),
the efficiency fits and the end-to-end calibration with its error. Results store the rows
(:func:`simplan.dataset.encode_provenance`); the report reads them from there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from simplan import catalog, validated
from simplan import economics as econ
from simplan.calibration import constants as calibration
from simplan.calibration import error_band
from simplan.calibration_profile import provenance_row
from simplan.errors import CatalogError
from simplan.scenario import Scenario


def _row(what: str, id_: str, detail: str, source: str, as_of: str = "") -> dict[str, str]:
    return {"what": what, "id": id_, "detail": detail, "source": source, "as_of": as_of}


def _entry(kind: str, name: str) -> Any:
    try:
        return catalog.get(kind, name)
    except CatalogError:
        return None


def provenance_rows(
    scenario: Scenario, swept: Mapping[str, Iterable[Any]] | None = None
) -> list[dict[str, str]]:
    """Provenance of a scenario's result; ``swept`` maps dotted keys to the values a sweep
    gives them (model, GPU, weights, KV cache, pricing)."""
    swept = swept or {}
    hw = scenario.hardware

    def values(key: str, own: Any) -> list[Any]:
        return list(dict.fromkeys(swept.get(key, [own])))

    rows: list[dict[str, str]] = []
    kinds = []  # the architectures (dense, moe, mla) the result covers
    if scenario.model.name is not None:
        for name in values("model.name", scenario.model.name):
            m = _entry("model", str(name))
            if m is not None:
                rows.append(_row("model", str(name), m.display_name, m.source, m.as_of))
                check = validated.describe("model", str(name))
                rows.append(_row("checked", str(name), check, "simplan validate"))
                kinds.append(m.kind)
    elif scenario.model.config is not None:
        arch = scenario.model.arch()
        detail = f"from config.json: {arch.total_params_b:g}B parameters (counted from the shapes)"
        rows.append(_row("model", arch.id, detail, scenario.model.config))
        kinds.append(arch.kind)
    else:
        rows.append(_row("model", "inline architecture", "", "scenario file"))
        kinds.append(scenario.model.arch().kind)
    gpus = values("hardware.gpu", hw.gpu) + [p.gpu for p in hw.pools]
    # the (GPU, pricing mode) pairs priced: each pool's, and every combination a sweep makes
    pairs = [
        (str(g), str(m))
        for g in gpus[: len(gpus) - len(hw.pools)]
        for m in values("hardware.pricing", hw.pricing)
    ]
    pairs += [(p.gpu, p.pricing) for p in hw.pools]
    families = []
    for gid in dict.fromkeys(gpus):
        g = catalog.gpu(str(gid))
        rows.append(_row("GPU", str(gid), g.display_name, g.source, g.as_of))
        families.append(g.family)
        rows.append(
            _row(
                "checked",
                str(gid),
                f"{validated.describe('gpu', str(gid))}; efficiencies from "
                f"{validated.operator_fit(str(gid))}",
                "simplan validate (catalog/validated.toml)",
            )
        )
        for kind in dict.fromkeys(kinds):
            lean = validated.bias_note([str(gid)], kind)
            if lean is not None:
                rows.append(
                    _row(
                        "lean", f"{gid} / {kind}", lean, "simplan validate (catalog/validated.toml)"
                    )
                )
    for gid, mode in dict.fromkeys(pairs):
        g = catalog.gpu(gid)
        price = econ.gpu_price(scenario, gid, mode)
        from_catalog = price.source.startswith(g.price_source)
        rows.append(
            _row(
                "GPU price",
                f"{gid} ({mode})",
                f"{price.usd_per_gpu_hour:.4g} USD/GPU-hour applied",
                price.source,
                g.price_as_of if from_catalog else "",
            )
        )
    for wid in values("model.weights", scenario.model.weights):
        w = catalog.weights(str(wid))
        rows.append(_row("weights", str(wid), w.display_name, w.source, w.as_of))
    for kid in values("model.kv_cache", scenario.model.kv_cache):
        k = catalog.kv_cache(str(kid))
        rows.append(_row("KV cache", str(kid), k.display_name, k.source, k.as_of))
    for a in econ.selected_apis(scenario):
        rows.append(
            _row(
                "API",
                a.id,
                f"{a.usd_per_mtok_input:.4g} in / {a.usd_per_mtok_output:.4g} out USD per M tokens",
                a.source,
            )
        )
    for fam in dict.fromkeys(families):
        try:
            eff = catalog.efficiency(fam)
        except CatalogError:
            continue
        err = (eff.model_extra or {}).get("fit_median_abs_rel_error")
        detail = f"roofline efficiency factors ({eff.id} fit"
        detail += f", median abs. error {err:.1%} per operator)" if isinstance(err, float) else ")"
        rows.append(_row("efficiency", fam, detail, eff.source, eff.as_of))

    cal = calibration()
    err = cal.get("fit_median_abs_error")
    lo, hi = error_band()
    detail = "end-to-end calibration"
    if isinstance(err, int | float):
        detail += (
            f": median absolute error {err:.1%} over {cal.get('fit_rows', '?')} published "
            f"measurements; serving throughput signed error p10 {lo:+.0%}, p90 {hi:+.0%}"
        )
    rows.append(
        _row(
            "calibration",
            "calibration.toml",
            detail,
            str(cal.get("source", "")),
            str(cal.get("as_of", "")),
        )
    )

    deployment = provenance_row(scenario)
    if deployment is not None:
        rows.append(deployment)
    return rows
