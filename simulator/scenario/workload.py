"""``[workload]``: arrivals, lengths, shared prefixes, reasoning and sessions."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    model_validator,
)
from simplan.scenario.base import (
    PositiveInt,
    TokenCount,
    _Section,
)
from simplan.scenario.lengths import (
    LengthSpec,
)
from simplan.scenario.sessions import SessionsSection

Arrival = Literal["poisson", "gamma", "constant", "offline", "closed", "trace"]


class WorkloadSection(_Section):
    arrival: Arrival = "poisson"
    rate_per_s: float | None = Field(default=None, ge=1e-6, le=1e9, allow_inf_nan=False)
    burstiness: float = Field(
        default=1.0, gt=0, le=1e4, description="Gamma arrivals: squared coefficient of variation."
    )
    concurrency: PositiveInt | None = Field(default=None, le=1_000_000)
    think_time_s: float = Field(default=0.0, ge=0, le=86_400.0, allow_inf_nan=False)
    client_send_s: float = Field(
        default=0.0,
        ge=0,
        le=60.0,
        allow_inf_nan=False,
        description="Closed loop: host time the load generator spends sending each "
        "request, one request at a time across all users (a Python benchmark whose user "
        "threads share one interpreter lock), so requests that finish together are re-sent "
        "this far apart.",
    )
    duration_s: float | None = Field(default=None, gt=0, le=10 * 365 * 86400, allow_inf_nan=False)
    num_requests: PositiveInt | None = Field(default=None, le=100_000_000)
    input_tokens: TokenCount | LengthSpec = 512
    output_tokens: TokenCount | LengthSpec = 256
    shared_prefix_tokens: TokenCount | None = Field(
        default=None,
        description="Tokens every prompt starts with that other requests share (a system "
        "prompt, few-shot examples, a document): the prompt is these plus input_tokens.",
    )
    num_shared_prefixes: PositiveInt = Field(
        default=1,
        le=1_000_000,
        description="How many distinct shared prefixes there are (each request starts with "
        "one of them).",
    )
    shared_prefix_weights: list[Annotated[float, Field(ge=0, allow_inf_nan=False)]] | None = Field(
        default=None,
        description="Relative popularity of each shared prefix (num_shared_prefixes "
        "values); default: equally likely.",
    )
    sessions: SessionsSection | None = Field(
        default=None,
        description="Multi-turn sessions ([workload.sessions]): each later prompt is the "
        "conversation so far plus new tokens.",
    )
    reasoning_tokens: TokenCount | LengthSpec | None = Field(
        default=None,
        description="Hidden reasoning tokens a reasoning model generates before the "
        "visible answer (output_tokens): decoded like any output, counted in TPOT and "
        "e2e, and billed as output by APIs. TTFT stays the first generated token; runs "
        "also report the time to the first visible token.",
    )
    diurnal: list[Annotated[float, Field(ge=0, le=1e3, allow_inf_nan=False)]] | None = Field(
        default=None, min_length=24, max_length=24, description="24 hourly rate multipliers."
    )
    trace: str | None = Field(default=None, min_length=1, description="CSV path (see docs).")
    deadline_s: float | None = Field(
        default=None,
        gt=0,
        le=10 * 365 * 86400,
        allow_inf_nan=False,
        description="A finite job (arrival = 'offline'): the time by which it must finish.",
    )
    monthly_tokens: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Monthly volume (input + output tokens) for cost figures; "
        "default: the simulated rate sustained for a 30-day month.",
    )

    @property
    def prefix_tokens(self) -> int:
        """Tokens of the shared prefix every prompt starts with (0 without one)."""
        return int(self.shared_prefix_tokens or 0)

    @property
    def streams_tokens(self) -> bool:
        """Whether clients stream their tokens as they are generated: every arrival
        process but a finite job (``offline``), which is taken as a batch run that asks
        for whole answers (vLLM's ``LLM.generate`` and non-streaming API requests set
        ``RequestOutputKind.FINAL_ONLY``)."""
        return self.arrival != "offline"

    @model_validator(mode="after")
    def _arrival_needs(self) -> WorkloadSection:
        a = self.arrival
        if a in ("poisson", "gamma", "constant") and self.rate_per_s is None:
            raise ValueError(f"arrival = {a!r} needs `rate_per_s`")
        if a == "closed" and self.concurrency is None:
            raise ValueError("arrival = 'closed' needs `concurrency`")
        if self.client_send_s > 0 and a != "closed":
            raise ValueError(
                f"`client_send_s` is a closed loop's send time: set arrival = 'closed' "
                f"(not {a!r}) or remove it"
            )
        if a == "trace" and self.trace is None:
            raise ValueError("arrival = 'trace' needs `trace` (a CSV path)")
        if a == "offline" and self.num_requests is None:
            raise ValueError("arrival = 'offline' needs `num_requests`")
        if self.deadline_s is not None and a != "offline":
            raise ValueError(
                "`deadline_s` belongs to a finite job: set arrival = 'offline' and "
                "num_requests (or remove deadline_s)"
            )
        if a not in ("trace", "offline") and self.duration_s is None and self.num_requests is None:
            raise ValueError("give `duration_s` or `num_requests` to bound the run")
        if self.shared_prefix_tokens is None and (
            self.num_shared_prefixes != 1 or self.shared_prefix_weights is not None
        ):
            raise ValueError(
                "num_shared_prefixes and shared_prefix_weights need shared_prefix_tokens "
                "(the length of each shared prefix)"
            )
        weights = self.shared_prefix_weights
        if weights is not None and (len(weights) != self.num_shared_prefixes or sum(weights) <= 0):
            raise ValueError(
                f"shared_prefix_weights needs {self.num_shared_prefixes} values (one per "
                f"shared prefix) with a positive sum, got {len(weights)}"
            )
        if self.shared_prefix_tokens is not None and a == "trace":
            raise ValueError("`shared_prefix_tokens` does not apply to arrival = 'trace'")
        if self.sessions is not None and a not in ("poisson", "gamma", "constant"):
            raise ValueError(
                "[workload.sessions] start sessions by an open-loop arrival process: set "
                f"arrival to 'poisson', 'gamma' or 'constant' (not {a!r})"
            )
        if self.reasoning_tokens is not None and a == "trace":
            raise ValueError(
                "`reasoning_tokens` does not apply to arrival = 'trace': a trace's output "
                "column is every token generated, reasoning included"
            )
        if self.diurnal is not None and a != "poisson":
            raise ValueError("`diurnal` multipliers apply to arrival = 'poisson' only")
        if self.diurnal is not None and max(self.diurnal) <= 0:
            raise ValueError("`diurnal` needs at least one positive multiplier")
        return self
