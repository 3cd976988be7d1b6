"""The one definition of every money figure a planner acts on.

``run`` (through :mod:`simplan.metrics`), both sweep methods, ``plan``, the plots and the
report all price fleets and APIs with these functions, so they cannot disagree:

* a GPU-hour's price (:func:`gpu_price`): the catalog's price for the pricing mode, or the
  scenario's ``price_usd_per_gpu_hour`` for *the pool it is stated in* (that GPU in that
  pricing mode only), or ``[pricing] gpu_usd_per_hour`` (per GPU and mode);
* a month is :data:`HOURS_PER_MONTH` hours, billed around the clock;
* the monthly volume (:func:`monthly_volume_tokens`) is the scenario's ``monthly_tokens``
  when given, else the offered request rate averaged over the day times the month;
* $ per million tokens is the month's cost (fleet plus any API overflow) over that volume;
* an API's cost is its list prices at the same volume, split into input and output tokens;
* break-even (:func:`breakeven_tokens_per_month`) is the volume at which the API costs what
  the whole fleet costs; a configuration's crossover (:func:`crossover_tokens_per_month`)
  is the smallest volume at which a fleet of it, sized for that volume, is cheaper.

The functions take numpy arrays or scalars and broadcast, so sweeps of millions of points
use the same code as a single run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from simplan import catalog
from simplan.rate_limits import rate_limit_fields
from simplan.sessions import mean_session_prompt, turns_per_session
from simplan.workload import mean_length, mean_lengths

if TYPE_CHECKING:
    from simplan.scenario import PoolSection, Scenario

#: Hours in an average month (8760 / 12): fleets are billed around the clock.
HOURS_PER_MONTH = 730.0
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600.0


@dataclass(frozen=True)
class ApiQuote:
    """An API's list prices per million tokens, with where they come from."""

    id: str
    usd_per_mtok_input: float
    usd_per_mtok_output: float
    source: str
    usd_per_mtok_cached_input: float | None = None
    batch_discount: float | None = None
    batch_source: str | None = None
    # the share of input tokens the API would bill at its cached price for this workload
    # (cached_input_share: its shared prompt prefixes)
    cached_input_share: float = 0.0
    # the published per-minute limits of the highest self-serve tier (simplan.rate_limits)
    rate_limit: catalog.RateLimit | None = None

    def usd_per_mtok_input_effective(self, cached_share: Any = None) -> Any:
        """Mean price of a million input tokens: the cached share (this quote's, or
        ``cached_share`` per point) at the cached-input price where the API lists one,
        the rest at the list price."""
        h = self.cached_input_share if cached_share is None else cached_share
        cached = (
            self.usd_per_mtok_input
            if self.usd_per_mtok_cached_input is None
            else self.usd_per_mtok_cached_input
        )
        return (1.0 - h) * self.usd_per_mtok_input + h * cached

    def cost_usd(self, input_tokens: Any, output_tokens: Any) -> Any:
        """What these tokens cost at this API (the cached share of input at the cached
        price): the one price rule every API figure uses."""
        return (
            input_tokens * self.usd_per_mtok_input_effective()
            + output_tokens * self.usd_per_mtok_output
        ) / 1e6

    def usd_per_mtok_blended(self, input_share: Any, cached_share: Any = None) -> Any:
        """Price of a million tokens of which ``input_share`` are input tokens."""
        return input_share * self.usd_per_mtok_input_effective(cached_share) + (1 - input_share) * (
            self.usd_per_mtok_output
        )


def cached_input_share(scenario: Scenario) -> float:
    """The share of prompt tokens an API would bill at its cached-input price for this
    workload: its shared prefixes' share of the mean prompt.

    Providers cache prompt prefixes they have seen recently (OpenAI automatically for
    prompts of 1,024 tokens or more, DeepSeek on disk, Anthropic where the caller marks
    them); simplan assumes the API serves exactly the workload's shared prefixes, and a
    session's conversation so far, from its cache, kept warm by steady traffic, and
    nothing else (unique prompt tails and first requests are small next to a month's
    volume)."""
    w = scenario.workload
    shared = float(w.prefix_tokens)
    prompt, answer = mean_lengths(scenario)
    cached = shared
    if w.sessions is not None:
        # a session's later turns repeat the conversation so far, which the API's cache
        # holds from the turn before (first turns repeat only the shared prefix)

        first = mean_length(scenario, "input_tokens") + shared
        _, reused = mean_session_prompt(scenario, first, answer)
        cached = shared / turns_per_session(scenario) + reused
    return min(cached / prompt, 1.0) if prompt > 0 else 0.0


def catalog_quote(api_id: str, cached_share: float) -> ApiQuote:
    """The quote of a catalog API for a workload whose input has ``cached_share`` served
    from the API's cache (:func:`cached_input_share`)."""
    a = catalog.api(api_id)
    return ApiQuote(
        a.id,
        a.usd_per_mtok_input,
        a.usd_per_mtok_output,
        f"{a.source} (as of {a.as_of})",
        a.usd_per_mtok_cached_input,
        a.batch_discount,
        a.batch_source,
        cached_share,
        a.rate_limit,
    )


def selected_apis(scenario: Scenario) -> list[ApiQuote]:
    """The API price entries a scenario compares against (catalog ids, then inline ones),
    with the share of this workload's input their caches would serve."""
    h = cached_input_share(scenario)
    out = [catalog_quote(name, h) for name in scenario.pricing.apis]
    for inline in scenario.api:
        out.append(
            ApiQuote(
                inline.id,
                inline.usd_per_mtok_input,
                inline.usd_per_mtok_output,
                inline.source,
                rate_limit=inline.rate_limit,
            )
        )
    return out


# --- GPU prices -------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuPrice:
    """The price applied to one GPU-hour and where it came from."""

    gpu: str
    pricing: str
    usd_per_gpu_hour: float
    source: str


def gpu_price(scenario: Scenario | None, gpu: str, pricing: str) -> GpuPrice:
    """Price of one GPU-hour of ``gpu`` in pricing mode ``pricing`` for a scenario.

    An override applies only where it was stated: ``price_usd_per_gpu_hour`` of
    ``[hardware]`` or of a ``[[hardware.pools]]`` entry prices that pool's GPU in that
    pool's pricing mode (the most specific statement, so it comes first);
    ``[pricing] gpu_usd_per_hour = {gpu = {mode = price}}`` prices any GPU and mode it
    names. Everything else is the catalog's price for the mode.
    """
    if scenario is not None:
        for where, pool in _pools(scenario):
            if (
                pool.price_usd_per_gpu_hour is not None
                and pool.gpu == gpu
                and pool.pricing == pricing
            ):
                return GpuPrice(
                    gpu,
                    pricing,
                    float(pool.price_usd_per_gpu_hour),
                    f"scenario {where}.price_usd_per_gpu_hour",
                )
        table = scenario.pricing.gpu_usd_per_hour.get(gpu, {})
        if pricing in table:
            return GpuPrice(
                gpu, pricing, float(table[pricing]), "scenario [pricing] gpu_usd_per_hour"
            )
    entry = catalog.gpu(gpu)
    return GpuPrice(
        gpu,
        pricing,
        entry.price_usd_per_hour(pricing),
        f"{entry.price_source} (as of {entry.price_as_of})",
    )


def scoped_overrides(written: Scenario, values: dict[str, Any]) -> dict[str, Any]:
    """Overrides for a trial of ``written`` (a sweep point, a plan candidate) with the
    ``[hardware]`` price override (written, or set by a sweep axis) kept only where it
    was stated: when the trial changes that pool's GPU or pricing mode, the override is
    dropped and the catalog or the ``[pricing]`` table prices the trial."""
    hw = written.hardware
    swept = values.get("hardware.price_usd_per_gpu_hour")
    if swept is None and hw.price_usd_per_gpu_hour is None:
        return values
    gpu = values.get("hardware.gpu", hw.gpu)
    pricing = values.get("hardware.pricing", hw.pricing)
    if gpu == hw.gpu and pricing == hw.pricing:
        return values
    return {**values, "hardware.price_usd_per_gpu_hour": None}


def _pools(scenario: Scenario) -> list[tuple[str, PoolSection]]:
    hw = scenario.hardware
    return [("hardware", hw)] + [(f"hardware.pools[{i}]", p) for i, p in enumerate(hw.pools)]


def pool_usd_per_hour(scenario: Scenario | None, gpu: str, pricing: str, gpus: int) -> float:
    """Hourly price of ``gpus`` GPUs of one type in one pricing mode."""
    return gpus * gpu_price(scenario, gpu, pricing).usd_per_gpu_hour


# --- volumes and per-token cost ---------------------------------------------------------


def monthly_volume_tokens(monthly_tokens: Any, mean_tokens_per_s: Any) -> Any:
    """Tokens priced per month: the stated ``monthly_tokens`` where given (not NaN/None),
    else the offered token rate (averaged over the day) around the clock."""
    offered = np.asarray(mean_tokens_per_s, dtype=float) * SECONDS_PER_MONTH
    if monthly_tokens is None:
        return _scalar(offered)
    stated = np.asarray(monthly_tokens, dtype=float)
    return _scalar(np.where(np.isnan(stated), offered, stated))


def monthly_cost_usd(usd_per_hour: Any) -> Any:
    """What a price per hour costs over a month."""
    return _scalar(np.asarray(usd_per_hour, dtype=float) * HOURS_PER_MONTH)


def usd_per_mtok(monthly_cost: Any, monthly_tokens: Any) -> Any:
    """$ per million tokens: the month's cost over the month's volume (NaN at no volume)."""
    cost = np.asarray(monthly_cost, dtype=float)
    vol = np.asarray(monthly_tokens, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _scalar(np.where(vol > 0, cost / vol * 1e6, np.nan))


def api_monthly_cost_usd(
    api: ApiQuote, monthly_tokens: Any, input_share: Any, cached_share: Any = None
) -> Any:
    """An API's cost for a month's volume (its cached share of the input tokens, or
    ``cached_share`` per point, at the cached-input price:
    :meth:`ApiQuote.usd_per_mtok_input_effective`)."""
    vol = np.asarray(monthly_tokens, dtype=float)
    share = np.asarray(input_share, dtype=float)
    return _scalar(vol * api.usd_per_mtok_blended(share, cached_share) / 1e6)


def breakeven_tokens_per_month(fleet_monthly_usd: Any, api: ApiQuote, input_share: Any) -> Any:
    """Monthly volume at which the API costs what the whole fleet costs (NaN: free API)."""
    blended = np.asarray(api.usd_per_mtok_blended(np.asarray(input_share, dtype=float)))
    with np.errstate(divide="ignore", invalid="ignore"):
        return _scalar(
            np.where(blended > 0, np.asarray(fleet_monthly_usd, float) / blended * 1e6, np.nan)
        )


def crossover_tokens_per_month(
    replica_monthly_usd: Any,
    replica_capacity_tokens_per_month: Any,
    api: ApiQuote,
    input_share: Any,
) -> Any:
    """Smallest monthly volume at which a fleet of this configuration, sized for the
    volume (``ceil(volume / capacity)`` replicas), costs less than the API.

    Within the n-th step the fleet costs ``n`` replicas, so it first drops below the API at
    one replica's break-even, if one replica can serve that volume; otherwise the API is
    cheaper at every volume (NaN).
    """
    v = np.asarray(breakeven_tokens_per_month(replica_monthly_usd, api, input_share))
    cap = np.asarray(replica_capacity_tokens_per_month, dtype=float)
    return _scalar(np.where(v <= cap, v, np.nan))


# --- finite jobs ------------------------------------------------------------------------

#: Billing of GPU time: one-second increments with a 60-second minimum per instance, for
#: on-demand, spot and reserved Linux instances (AWS, "Announcing Amazon EC2 per second
#: billing", https://aws.amazon.com/about-aws/whats-new/2017/10/announcing-amazon-ec2-per-second-billing/,
#: 2017-10-02). ``[pricing] billing_increment_s`` / ``billing_minimum_s`` set your own.
BILLING_INCREMENT_S = 1.0
BILLING_MINIMUM_S = 60.0
BILLING_SOURCE = (
    "https://aws.amazon.com/about-aws/whats-new/2017/10/announcing-amazon-ec2-per-second-"
    "billing/ (one-second increments, 60-second minimum; 2017-10-02)"
)


def billed_seconds(seconds: Any, increment_s: float, minimum_s: float) -> Any:
    """Seconds billed for ``seconds`` of use: rounded up to the increment, at least the
    minimum."""
    used = np.asarray(seconds, dtype=float)
    rounded = np.ceil(used / increment_s - 1e-9) * increment_s
    return _scalar(np.maximum(rounded, minimum_s))


def job_fleet_cost_usd(
    usd_per_hour: Any, seconds: Any, increment_s: float, minimum_s: float
) -> Any:
    """What instances at ``usd_per_hour`` cost for a job of ``seconds``, as billed."""
    billed = billed_seconds(seconds, increment_s, minimum_s)
    return _scalar(np.asarray(usd_per_hour, dtype=float) * np.asarray(billed) / 3600.0)


def api_job_cost_usd(
    api: ApiQuote, input_tokens: float, output_tokens: float, *, batch: bool
) -> float | None:
    """An API's cost for a job's tokens: at list prices, or through its batch API (None
    where the API lists no batch discount)."""
    factor = 1.0
    if batch:
        if api.batch_discount is None:
            return None
        factor = 1.0 - api.batch_discount
    return float(factor * api.cost_usd(input_tokens, output_tokens))


def fleet_economics(
    *,
    fleet_usd_per_hour: float,
    api_overflow_monthly_usd: float,
    monthly_tokens: float,
    input_share: float,
    capacity_tokens_per_month: float,
    apis: list[ApiQuote],
    busiest_load: tuple[float, float, float] | None = None,
) -> dict[str, Any]:
    """The headline money figures of a fleet serving a monthly volume, and each API's.

    ``monthly_cost_usd`` includes what overflow to an API costs at the monthly volume
    (``api_overflow_monthly_usd``); ``usd_per_mtok_total`` is that over the volume. Each
    API is priced at the same volume, and compared with the total. With
    ``busiest_load`` (requests, input tokens and output tokens per second at the busiest
    hour), each API's entry also says how much of its rate limit that uses
    (:func:`simplan.rate_limits.rate_limit_use`).
    """

    fleet_monthly = float(monthly_cost_usd(fleet_usd_per_hour))
    overflow_monthly = float(api_overflow_monthly_usd)
    total = fleet_monthly + overflow_monthly
    out_volume = monthly_tokens * (1 - input_share)
    out: dict[str, Any] = {
        "fleet_usd_per_hour": fleet_usd_per_hour,
        "fleet_monthly_cost_usd": fleet_monthly,
        "api_overflow_monthly_cost_usd": overflow_monthly,
        "monthly_cost_usd": total,
        "monthly_tokens": monthly_tokens,
        "usd_per_mtok_total": float(usd_per_mtok(total, monthly_tokens)),
        "usd_per_mtok_output": float(usd_per_mtok(total, out_volume)),
        "fleet_capacity_mtok_per_month": capacity_tokens_per_month / 1e6,
        "volume_within_capacity": monthly_tokens <= capacity_tokens_per_month,
        "api": {},
    }
    for a in apis:
        api_monthly = float(api_monthly_cost_usd(a, monthly_tokens, input_share))
        breakeven = float(breakeven_tokens_per_month(total, a, input_share))
        out["api"][a.id] = {
            "usd_per_mtok_input": a.usd_per_mtok_input,
            "usd_per_mtok_output": a.usd_per_mtok_output,
            "usd_per_mtok_cached_input": a.usd_per_mtok_cached_input,
            "cached_input_share": a.cached_input_share,
            "usd_per_mtok_blended": float(a.usd_per_mtok_blended(input_share)),
            "monthly_cost_usd": api_monthly,
            "self_hosted_savings_usd": api_monthly - total,
            "breakeven_mtok_per_month": breakeven / 1e6 if np.isfinite(breakeven) else None,
            "breakeven_within_capacity": bool(
                np.isfinite(breakeven) and breakeven <= capacity_tokens_per_month
            ),
            "source": a.source,
            **rate_limit_fields(a, busiest_load),
        }
    return out


def _scalar(x: np.ndarray) -> Any:
    """0-d arrays as Python floats, so scalar callers get scalars back."""
    arr = np.asarray(x)
    return float(arr) if arr.ndim == 0 else arr
