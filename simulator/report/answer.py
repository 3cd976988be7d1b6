"""The report's one-sentence answers: what a run found, and the cheapest sweep point
meeting the SLO.
"""

from __future__ import annotations

import math
from typing import Any

import xarray as xr
from simplan import plots
from simplan.dataset import decode_provenance
from simplan.report.markup import _pct, price, seconds, tokens, usd
from simplan.sweep.summary import sweep_summary

# --- scenario facts -----------------------------------------------------------------------


def _display(ds: xr.Dataset, what: str, id_: Any) -> str | None:
    """The display name the result recorded for a catalog entry (its provenance row)."""
    for row in decode_provenance(ds):
        if row["what"] == what and row["id"] == str(id_):
            return row["detail"] or None
    return None


def _model_phrase(ds: xr.Dataset) -> str:
    model = plots.fact(ds, "model", "the model")
    name = _display(ds, "model", model) or str(model)
    weights = _display(ds, "weights", plots.fact(ds, "weights", "fp16"))
    return f"{name} in {weights}" if weights else name


def _gpu_phrase(ds: xr.Dataset) -> str:
    gpu = plots.fact(ds, "gpu", "GPU")
    name = _display(ds, "GPU", gpu) or str(gpu)
    n = int(plots.fact(ds, "tp", 1)) * int(plots.fact(ds, "pp", 1))
    return f"{n}× {name}" if n > 1 else name


def _list_words(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# --- the answer ---------------------------------------------------------------------------


def run_how_sure(ds: xr.Dataset) -> str | None:
    """One sentence: how sure a run's answer is, and what would change it.

    The simulation runs on the model's timings; their error against published
    measurements (throughput, 10th to 90th percentile, stored with the run) says how
    much faster or slower the real GPUs may be. At the slow end the same load uses
    more of the fleet's capacity; past all of it, the fleet saturates.
    """
    summary = plots.run_summary(ds)
    used = summary.get("capacity_utilization")
    lo, hi = summary.get("model_error_p10"), summary.get("model_error_p90")
    if used is None or lo is None or hi is None or summary.get("job") or hi <= 0:
        return None
    slow = used * (1.0 + hi)
    sentence = (
        f"How sure: the simulation runs on the model's timings, whose throughput error "
        f"against published measurements lies between {lo:+.0%} and {hi:+.0%} (10th to 90th "
        f"percentile); if the GPUs are {hi:.0%} slower than modelled, this load uses "
        f"{slow:.0%} of the fleet's capacity instead of {used:.0%}"
    )
    n = summary.get("replicas")
    if slow > 1.0:
        sentence += ", more than it has: the fleet would saturate and queues grow"
        if n and not plots.fact(ds, "pools", 0):
            sentence += (
                f" (about {math.ceil(n * slow)} replicas would serve it at full load; "
                "`simplan plan` sizes a fleet with the headroom its SLO needs)"
            )
    return sentence + "."


def run_answer(ds: xr.Dataset) -> str:
    """One sentence answering a run's question from its summary."""
    summary = plots.run_summary(ds)
    n = summary.get("replicas", 1)
    pools = plots.fact(ds, "pools", 0)
    fleet = (
        f"a mixed fleet of {n} replicas ({summary.get('num_gpus')} GPUs)"
        if pools
        else f"{n} replica{'s' * (n != 1)} of {_gpu_phrase(ds)}"
    )
    verb = "serves" if n == 1 and not pools else "serve"
    rate = f"{summary.get('requests_per_s', 0.0):.2f} req/s"
    slo_met = summary.get("slo_met")
    if slo_met is None:
        how = f"{verb} {rate}"
    elif slo_met:
        how = f"{'meets' if verb == 'serves' else 'meet'} the SLO at {rate}"
    else:
        missed = [
            f"{k} {seconds(v.get('achieved'))} against {seconds(v.get('limit'))}"
            for k, v in (summary.get("slo") or {}).items()
            if not v.get("met")
        ]
        miss = "misses" if verb == "serves" else "miss"
        how = f"{miss} the SLO at {rate} ({'; '.join(missed)})"
    cost = summary.get("usd_per_mtok_total")
    sentence = f"{fleet} serving {_model_phrase(ds)} {how}"
    sentence += f" for {usd(cost)} per M tokens" if cost is not None else ""
    job = summary.get("job")
    if job:
        sentence += (
            f"; the job takes {job['makespan_s']:,.0f} s and costs {usd(job['fleet_cost_usd'])}"
        )
        cheapest = {
            a: min(x for x in (v.get("list_usd"), v.get("batch_usd")) if x is not None)
            for a, v in (job.get("api") or {}).items()
        }
        below = [a for a, c in cheapest.items() if c > job["fleet_cost_usd"]]
        if below:
            sentence += f", less than {_list_words(below)} would charge for it"
        return sentence[0].upper() + sentence[1:] + "."
    apis = dict(summary.get("api") or {})  # in the scenario's order, as it was priced
    cheaper = [a for a, v in apis.items() if v.get("self_hosted_savings_usd", 0) > 0]
    dearer = [a for a, v in apis.items() if v.get("self_hosted_savings_usd", 0) <= 0]
    parts = []
    if cheaper:
        parts.append(f"cheaper than {_list_words(cheaper)}")
    if dearer:
        parts.append(f"dearer than {_list_words(dearer)}")
    if parts:
        vol = summary.get("monthly_tokens")
        sentence += (
            f"; self-hosting is {' and '.join(parts)} at this volume ({tokens(vol)} tokens/month)"
        )
    if summary.get("volume_within_capacity") is False or summary.get("requests_in_flight"):
        sentence += ", though the fleet cannot keep up with the offered load"
    return sentence[0].upper() + sentence[1:] + "."


def _point_label(ds: xr.Dataset, idx: tuple[int, ...]) -> str:
    dims = plots.sweep_dims(ds)
    parts = []
    for d, i in zip(dims, idx, strict=True):
        v = ds[d].values[i].item()
        unit = " req/s" if ds[d].attrs.get("key_path") == plots.RATE_KEY else ""
        parts.append(f"{d} {plots.fmt_coord(v)}{unit}")
    return ", ".join(parts)


def cheapest_point(ds: xr.Dataset, s: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The cheapest feasible sweep point meeting the SLO (None when there is none), by the
    ranking of :func:`simplan.sweep.summary.sweep_summary` (``s``, when already read with
    ``count_ties``)."""
    if s is None:
        s = _summary(ds, top=1)
    if not s["cheapest"]:
        return None
    row = s["cheapest"][0]
    return {
        "index": row["index"],
        "label": _point_label(ds, row["index"]),
        "usd_per_mtok_total": row["usd_per_mtok_total"],
        "ttft_s": row["ttft_s"],
        "tpot_s": row["tpot_s"],
        "utilization": row["utilization"],
        "ties": s["ties"],
    }


def _summary(ds: xr.Dataset, top: int) -> dict[str, Any]:
    return sweep_summary(ds, top=top, count_ties=True)


def sweep_answer(ds: xr.Dataset, summary: dict[str, Any] | None = None) -> str:
    """One sentence answering a sweep's question: its cheapest point meeting the SLO
    (``summary``: the sweep's :func:`~simplan.sweep.summary.sweep_summary`, when read)."""
    if summary is None:
        summary = _summary(ds, top=1)
    best = cheapest_point(ds, summary)
    if best is None:
        if not summary["reasons"].get(0):
            return "No point of this sweep is feasible (see the infeasibility notes)."
        return "No feasible point of this sweep meets the SLO (see the infeasibility notes)."
    what = (
        "not ruled out by the SLO (some predicted percentiles are within the fast model's "
        "error of their limits: check it with `simplan plan` or `--method simulate`)"
        if plots.slo_unverified(ds)
        else "meeting the SLO"
    )
    s = (
        f"The cheapest configuration {what} is {best['label']}: "
        f"{price(best['usd_per_mtok_total'])} per M tokens (TTFT {seconds(best['ttft_s'])}, "
        f"TPOT {seconds(best['tpot_s'])}, {_pct(best['utilization'])} of capacity)"
    )
    if best["ties"]:
        s += f", with {best['ties']} other point{'s' * (best['ties'] != 1)} within 0.5%"
    prices = plots.api_prices(ds)
    cheaper = [
        f"{a} ({price(p['usd_per_mtok_blended'])})"
        for a, p in prices.items()
        if best["usd_per_mtok_total"] < p["usd_per_mtok_blended"]
    ]
    dearer = [
        f"{a} ({price(p['usd_per_mtok_blended'])})"
        for a, p in prices.items()
        if best["usd_per_mtok_total"] >= p["usd_per_mtok_blended"]
    ]
    parts = []
    if cheaper:
        parts.append(f"cheaper per token than {_list_words(cheaper)}")
    if dearer:
        parts.append(f"dearer than {_list_words(dearer)}")
    if parts:
        s += "; " + " and ".join(parts)
    return s + "."
