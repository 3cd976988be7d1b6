"""Per-request rows and per-replica time series, kept in numpy arrays."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np

#: Request status codes in ``Recorder.status``.
PENDING, COMPLETED, REJECTED = 0, 1, 2
STATUS_NAMES = {PENDING: "in_flight", COMPLETED: "completed", REJECTED: "rejected"}


class Recorder:
    """Flat, typed per-request rows (one array per field), grown on demand."""

    _FLOAT = ("arrival_s", "scheduled_s", "first_token_s", "finish_s")
    #: Integer fields and their types: the narrowest that holds any valid value, since a
    #: run keeps one row per request (60 bytes a row, not 96).
    _INT: ClassVar[dict[str, type]] = {
        "input_tokens": np.int32,
        "output_tokens": np.int32,
        "generated": np.int32,
        "replica": np.int32,
        "preemptions": np.int32,
        "status": np.int8,
        "reject_reason": np.int16,
        "retries": np.int32,
    }
    #: Fields only some workloads need, by the feature that needs them: (type, value when
    #: unset). Without the feature a field is a read-only view of that value, taking no
    #: memory, so a plain run keeps its 60-byte rows.
    OPTIONAL: ClassVar[dict[str, tuple[str, type, float]]] = {
        "reasoning_tokens": ("reasoning", np.int32, 0),  # hidden part of output_tokens
        "prefix_id": ("reuse", np.int32, -1),  # the shared prefix the prompt starts with
        "cached_tokens": ("reuse", np.int32, 0),  # prompt tokens served from the cache
        "session_entry": ("session", np.int32, -1),  # cache entry of its session
        "kv_ready": ("disaggregated", np.int8, 0),  # its KV waits at a decode replica
        "kv_transfer_s": ("disaggregated", np.float32, -1),  # how long its KV travelled
    }
    #: Every feature of :data:`OPTIONAL`.
    FEATURES = frozenset(f for f, _, _ in OPTIONAL.values())

    arrival_s: np.ndarray
    scheduled_s: np.ndarray
    first_token_s: np.ndarray
    finish_s: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    reasoning_tokens: np.ndarray
    prefix_id: np.ndarray
    cached_tokens: np.ndarray
    session_entry: np.ndarray
    kv_ready: np.ndarray
    kv_transfer_s: np.ndarray
    generated: np.ndarray
    replica: np.ndarray
    preemptions: np.ndarray
    status: np.ndarray
    reject_reason: np.ndarray
    retries: np.ndarray

    def __init__(
        self,
        capacity: int = 1024,
        max_rows: int | None = None,
        features: frozenset[str] = frozenset(),
        shared_prefix_tokens: int = 0,
    ) -> None:
        self.n = 0
        cap = max(capacity, 16)
        #: Rows never grow past this (the run's request count, when known up front).
        self.max_rows = max_rows
        self.features = features
        #: Length of every shared prefix (the workload's shared_prefix_tokens).
        self.shared_prefix_tokens = shared_prefix_tokens
        for name in self._FLOAT:
            setattr(self, name, np.full(cap, -1.0))
        for name, dtype in self._INT.items():
            setattr(self, name, np.zeros(cap, dtype=dtype))
        self.replica[:] = -1
        self._optional(cap)
        self.reject_reasons: list[str] = []
        self.on_finish: Callable[[int], None] | None = None

    def _optional(self, cap: int) -> None:
        """Allocate the optional fields of the features in use (copying what they hold)."""
        for name, (feature, dtype, unset) in self.OPTIONAL.items():
            old = getattr(self, name, None)
            new: np.ndarray
            if feature in self.features:
                new = np.full(cap, unset, dtype=dtype)
                if old is not None:
                    new[: old.shape[0]] = old
            else:
                new = np.broadcast_to(np.asarray(unset, dtype=dtype), (cap,))
            setattr(self, name, new)

    def _grow(self) -> None:
        cap = self.arrival_s.shape[0] * 2
        if self.max_rows is not None and self.max_rows > self.arrival_s.shape[0]:
            cap = min(cap, self.max_rows)  # doubling past the known total wastes up to half
        for name in (*self._FLOAT, *self._INT):
            old = getattr(self, name)
            new = np.full(cap, -1.0) if name in self._FLOAT else np.zeros(cap, self._INT[name])
            if name == "replica":
                new[:] = -1
            new[: old.shape[0]] = old
            setattr(self, name, new)
        self._optional(cap)

    def add(
        self,
        arrival_s: float,
        input_tokens: int,
        output_tokens: int,
        reasoning_tokens: int = 0,
        prefix: int = -1,
        session_entry: int = -1,
    ) -> int:
        """Register a request and return its id (``output_tokens`` counts every generated
        token, of which the first ``reasoning_tokens`` are hidden reasoning; ``prefix`` is
        the shared prefix the prompt starts with, ``session_entry`` its session's)."""
        if self.n == self.arrival_s.shape[0]:
            self._grow()
        i = self.n
        self.arrival_s[i] = arrival_s
        self.input_tokens[i] = input_tokens
        self.output_tokens[i] = output_tokens
        if reasoning_tokens:
            self.reasoning_tokens[i] = reasoning_tokens
        if prefix >= 0:
            self.prefix_id[i] = prefix
        if session_entry >= 0:
            self.session_entry[i] = session_entry
        self.n += 1
        return i

    def add_many(
        self, arrival_s: np.ndarray, input_tokens: np.ndarray, output_tokens: np.ndarray
    ) -> None:
        while self.n + arrival_s.shape[0] > self.arrival_s.shape[0]:
            self._grow()
        sl = slice(self.n, self.n + arrival_s.shape[0])
        self.arrival_s[sl] = arrival_s
        self.input_tokens[sl] = input_tokens
        self.output_tokens[sl] = output_tokens
        self.n += arrival_s.shape[0]

    def finish(self, req: int, now: float) -> None:
        self.finish_s[req] = now
        self.status[req] = COMPLETED
        if self.on_finish is not None:
            self.on_finish(req)

    def reject(self, req: int, now: float, reason: str) -> None:
        if reason not in self.reject_reasons:
            self.reject_reasons.append(reason)
        self.reject_reason[req] = self.reject_reasons.index(reason) + 1
        self.status[req] = REJECTED
        self.finish_s[req] = now
        if self.on_finish is not None:
            self.on_finish(req)

    def column(self, name: str) -> np.ndarray:
        """The first ``n`` entries of a field."""
        return getattr(self, name)[: self.n]


class TimeSeries:
    """Samples of each replica's state at a fixed interval."""

    FIELDS = (
        "busy_s",  # cumulative busy seconds (the Dataset differences them)
        "running",
        "waiting",
        "kv_blocks_used",
        "kv_blocks_cached",
        "output_tokens",
        "input_tokens",
        "flops",
        "bytes",
        "state",
        "billed_usd",
    )

    def __init__(self, n_replicas: int) -> None:
        self.n_replicas = n_replicas
        self.time_s: list[float] = []
        self.rows: dict[str, list[np.ndarray]] = {f: [] for f in self.FIELDS}
        self.fleet_rows: dict[str, list[float]] = {"api_usd": [], "backlog": []}

    def append(self, t: float, **values: np.ndarray) -> None:
        self.time_s.append(t)
        for f in self.FIELDS:
            self.rows[f].append(values[f])

    def array(self, name: str) -> np.ndarray:
        if not self.time_s:
            return np.zeros((0, self.n_replicas))
        return np.vstack(self.rows[name])
