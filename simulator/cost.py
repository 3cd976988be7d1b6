"""Fleet and API cost: $/hour, $/M tokens, monthly cost, break-even volume."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simplan import catalog
from simplan.scenario import Scenario

#: Hours in an average month (8760 / 12): fleets are billed around the clock.
HOURS_PER_MONTH = 730.0


@dataclass(frozen=True)
class ApiQuote:
    id: str
    usd_per_mtok_input: float
    usd_per_mtok_output: float
    source: str


def selected_apis(scenario: Scenario) -> list[ApiQuote]:
    """The API price entries a scenario compares against (catalog ids, then inline ones)."""
    out = []
    for name in scenario.pricing.apis:
        a = catalog.api(name)
        out.append(
            ApiQuote(
                a.id, a.usd_per_mtok_input, a.usd_per_mtok_output, f"{a.source} (as of {a.as_of})"
            )
        )
    for inline in scenario.api:
        out.append(
            ApiQuote(
                inline.id, inline.usd_per_mtok_input, inline.usd_per_mtok_output, inline.source
            )
        )
    return out


def pool_usd_per_hour(gpu_id: str, gpus: int, pricing: str, override: float | None) -> float:
    """Hourly price of ``gpus`` GPUs of a type in a pricing mode (or at an override price)."""
    price = override if override is not None else catalog.gpu(gpu_id).price_usd_per_hour(pricing)
    return gpus * price


def fleet_cost(
    *,
    fleet_usd_per_hour: float,
    input_tokens_per_s: float,
    output_tokens_per_s: float,
    monthly_tokens: float,
    input_share: float,
    capacity_tokens_per_month: float,
    apis: list[ApiQuote],
) -> dict[str, Any]:
    """Cost figures of a fleet at its simulated throughput, and of each API at the same volume.

    Parameters
    ----------
    fleet_usd_per_hour : float
        What the whole fleet costs per hour.
    input_tokens_per_s, output_tokens_per_s : float
        Steady-state token throughput the simulation measured.
    monthly_tokens : float
        Monthly volume (input + output tokens) to price.
    input_share : float
        Fraction of that volume that is input (prompt) tokens.
    capacity_tokens_per_month : float
        Estimated most tokens per month the fleet can serve (for break-even feasibility).
    apis : list of ApiQuote
    """
    total_per_s = input_tokens_per_s + output_tokens_per_s
    per_hour_out = output_tokens_per_s * 3600.0
    per_hour_total = total_per_s * 3600.0
    fleet_monthly = fleet_usd_per_hour * HOURS_PER_MONTH
    out: dict[str, Any] = {
        "fleet_usd_per_hour": fleet_usd_per_hour,
        "usd_per_mtok_output": fleet_usd_per_hour / per_hour_out * 1e6 if per_hour_out else None,
        "usd_per_mtok_total": fleet_usd_per_hour / per_hour_total * 1e6 if per_hour_total else None,
        "monthly_tokens": monthly_tokens,
        "monthly_cost_usd": fleet_monthly,
        "fleet_capacity_mtok_per_month": capacity_tokens_per_month / 1e6,
        "volume_within_capacity": monthly_tokens <= capacity_tokens_per_month,
        "api": {},
    }
    vol_in = monthly_tokens * input_share
    vol_out = monthly_tokens - vol_in
    for a in apis:
        api_monthly = vol_in / 1e6 * a.usd_per_mtok_input + vol_out / 1e6 * a.usd_per_mtok_output
        blended = input_share * a.usd_per_mtok_input + (1 - input_share) * a.usd_per_mtok_output
        breakeven = fleet_monthly / blended if blended > 0 else None
        out["api"][a.id] = {
            "usd_per_mtok_input": a.usd_per_mtok_input,
            "usd_per_mtok_output": a.usd_per_mtok_output,
            "usd_per_mtok_blended": blended,
            "monthly_cost_usd": api_monthly,
            "self_hosted_savings_usd": api_monthly - fleet_monthly,
            "breakeven_mtok_per_month": breakeven,
            "breakeven_within_capacity": (
                breakeven is not None and breakeven * 1e6 <= capacity_tokens_per_month
            ),
            "source": a.source,
        }
    return out
