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

    _FLOAT = ("arrival_s", "scheduled_s", "first_token_s", "finish_s", "kv_transfer_s")
    #: Integer fields and their types: the narrowest that holds any valid value, since a
    #: run keeps one row per request (60 bytes a row, not 96).
    _INT: ClassVar[dict[str, type]] = {
        "input_tokens": np.int32,
        "output_tokens": np.int32,
        "reasoning_tokens": np.int32,
        "prefix_id": np.int32,  # the shared prefix the prompt starts with (-1: none)
        "prefix_tokens": np.int32,  # its length, part of input_tokens
        "cached_tokens": np.int32,  # prompt tokens served from the prefix cache
        "session_entry": np.int32,  # cache entry of the request's session (-1: none)
        "kv_ready": np.int8,  # 1 while its prompt's KV waits at a decode replica
        "generated": np.int32,
        "replica": np.int32,
        "preemptions": np.int32,
        "status": np.int8,
        "reject_reason": np.int16,
        "retries": np.int32,
    }

    arrival_s: np.ndarray
    scheduled_s: np.ndarray
    first_token_s: np.ndarray
    finish_s: np.ndarray
    kv_transfer_s: np.ndarray  # seconds its KV cache travelled (-1: colocated)
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    reasoning_tokens: np.ndarray
    prefix_id: np.ndarray
    prefix_tokens: np.ndarray
    cached_tokens: np.ndarray
    session_entry: np.ndarray
    kv_ready: np.ndarray
    generated: np.ndarray
    replica: np.ndarray
    preemptions: np.ndarray
    status: np.ndarray
    reject_reason: np.ndarray
    retries: np.ndarray

    def __init__(self, capacity: int = 1024, max_rows: int | None = None) -> None:
        self.n = 0
        cap = max(capacity, 16)
        #: Rows never grow past this (the run's request count, when known up front).
        self.max_rows = max_rows
        for name in self._FLOAT:
            setattr(self, name, np.full(cap, -1.0))
        for name, dtype in self._INT.items():
            setattr(self, name, np.zeros(cap, dtype=dtype))
        self.replica[:] = -1
        self.prefix_id[:] = -1
        self.session_entry[:] = -1
        self.reject_reasons: list[str] = []
        self.on_finish: Callable[[int], None] | None = None

    def _grow(self) -> None:
        cap = self.arrival_s.shape[0] * 2
        if self.max_rows is not None and self.max_rows > self.arrival_s.shape[0]:
            cap = min(cap, self.max_rows)  # doubling past the known total wastes up to half
        for name in (*self._FLOAT, *self._INT):
            old = getattr(self, name)
            new = np.full(cap, -1.0) if name in self._FLOAT else np.zeros(cap, self._INT[name])
            if name in ("replica", "prefix_id", "session_entry"):
                new[:] = -1
            new[: old.shape[0]] = old
            setattr(self, name, new)

    def add(
        self,
        arrival_s: float,
        input_tokens: int,
        output_tokens: int,
        reasoning_tokens: int = 0,
        prefix: tuple[int, int] = (-1, 0),
        session_entry: int = -1,
    ) -> int:
        """Register a request and return its id (``output_tokens`` counts every generated
        token, of which the first ``reasoning_tokens`` are hidden reasoning; ``prefix`` is
        the (id, length) of the shared prefix the prompt starts with)."""
        if self.n == self.arrival_s.shape[0]:
            self._grow()
        i = self.n
        self.arrival_s[i] = arrival_s
        self.input_tokens[i] = input_tokens
        self.output_tokens[i] = output_tokens
        self.reasoning_tokens[i] = reasoning_tokens
        self.prefix_id[i], self.prefix_tokens[i] = prefix
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
        "busy_fraction",
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
