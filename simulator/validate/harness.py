"""What each source's benchmark harness did, where it is not in the row.

A calibration row states its model, GPU, lengths and load; how the source's harness drove
the engine (its settings, how many requests it sent, whether its clients ran in a closed
loop, when its engine emits the first token) is stated here, each fact once with the
source it was read from, and applied by :mod:`simplan.validate.rows` and
:mod:`simplan.validate.predict`.
"""

from __future__ import annotations

from typing import Any

from simplan import calibration


def harness_of(source_id: str) -> str:
    """The harness a source's rows ran under, which keys this module's facts: AccelMark's
    suites (A, C, G, ...) share one load generator and one vLLM runner at the pinned
    commit (loadgen/loadgen.py, runners/nvidia_vllm_47f5d58e/runner.py @ 5797fc42)."""
    return "ACCELMARK" if source_id.startswith("ACCELMARK_") else source_id


#: Output length gpt-fast's generate.py uses when its README does not state one.
GPTFAST_DEFAULT_OUTPUT = 200
#: Sources whose decode loop never waits for the GPU, so the host's work for the next
#: step hides behind this one's: gpt-fast's generate.py (@ 32971d3) replays one CUDA
#: graph per token (``torch.compile(decode_one_token, mode="reduce-overhead")``) and
#: ``decode_n_tokens`` appends each token without reading it back (no ``.item()``, no
#: synchronisation) until the loop ends, so no per-iteration host time adds to the GPU's.
HOST_HIDDEN = {"GPTFAST"}
#: Engine settings a source's harness sets explicitly (quoted in the SOURCES files).
SOURCE_ENGINE: dict[str, dict[str, Any]] = {
    # AccelMark's vLLM runner: "max_num_seqs 512 and gpu_memory_utilization 0.90 by
    # default", with max_model_len 4096, for which vLLM 0.7.3 leaves chunked prefill off
    # and budgets max(4096, 2048) tokens (tests/data/README.md)
    "ACCELMARK": {
        "max_num_seqs": 512,
        "gpu_memory_utilization": 0.90,
        "chunked_prefill": False,
        "max_num_batched_tokens": 4096,
    },
    # TensorRT-LLM v1.0's MoE tables: "the MoE options enable attention DP" with --ep
    # (published_measurements_2026_SOURCES.md); applied to the MoE models only
    "TRTLLM_V10_MOE": {"attention_dp": True},
}
#: Requests simulated per row where the source states no count; the vLLM FP8-KV post
#: sends 150 requests at concurrency 8.
SIM_REQUESTS = {"max_load": 600, "poisson": 900, "closed": 150}
#: Requests each client of a closed loop sends at least, where the source states no
#: count: its clients start together, so the loop needs a few rounds to fall out of step
#: (vLLM's and SGLang's serving benchmarks default to 1,000 prompts at any concurrency).
CLOSED_ROUNDS_UNSTATED = 5
#: trtllm-bench's dataset size per ISL/OSL, from the table "$num_requests" of the same
#: perf-overview pages (NVIDIA/TensorRT-LLM docs/source/performance/perf-overview.md @
#: 00f37686, read 2026-12-03): "a larger number of messages ... to guarantee that the
#: system hit a steady state". Max-load throughput depends on it: with a 2048-sequence
#: batch, 600 requests never fill the batch that 3000 do (Qwen3-235B on 8xH200,
#: 128/2048: 23.3k tok/s at 600, 39.7k at 3000, 42.8k measured).
TRTLLM_BENCH_REQUESTS = {
    (128, 128): 30000,
    (128, 2048): 3000,
    (128, 4096): 1500,
    (1000, 2000): 1500,
    (2048, 128): 3000,
    (2048, 2048): 1500,
    (5000, 500): 1500,
    (1000, 1000): 3000,
    (500, 2000): 3000,
    (20000, 2000): 1000,
}
#: Static-batch sources whose harness is a closed loop: ``batch`` clients start together
#: and each sends this many requests in turn. LMDeploy's benchmark/profile_generation.py
#: at the commit that published the A100 tables (ebe90bc9, which also added the
#: benchmark_<size>.sh scripts that run it without ``--test-round``) runs one thread per
#: concurrency slot, each calling stream_infer ``--test-round`` times (default 6; the
#: v0.1.0a1 tag's copy said 10), and reports generated tokens over the whole elapsed
#: time. The clients send one request at a time (:func:`client_send_s`), so the rounds
#: fall out of step; when the clients' sequences do not all fit in the KV cache, later
#: requests wait.
CLOSED_ROUNDS = {"LMDEPLOY_A100": 6}
#: Where a source states its request counts: AccelMark's offline run sends 100 requests at
#: once, each online run 300 (three runs pooled: the same load, three times) and its
#: interactive run 150 one at a time (suites/suite_A/suite.json @ 5797fc42
#: request_count, online_request_count, interactive_request_count; suite G's 50
#: interactive requests draw from the same lengths).
SOURCE_REQUESTS = {"ACCELMARK": {"max_load": 100, "poisson": 300, "closed": 150}}
#: Sources whose engine emits a request's first token from the first decode step, not
#: from the prefill: TurboMind at lmdeploy v0.1.0a1 (the version a100_fp16.md says it
#: tested) context-decodes all but the last prompt token ("subtract input/context len by
#: 1 to skip last input token (will process with decoder later)", LlamaBatch.cc
#: ContextDecode @ v0.1.0a1), so its first token waits for a decode iteration over the
#: whole batch. The table shows it: at batch 1, Llama-2-7B's first token takes 11 ms for
#: a 1-token prompt (one decode step, 50% latency 9 ms) and 22 ms for a 128-token one.
FIRST_TOKEN_FROM_DECODE = {"LMDEPLOY_A100"}


#: What each fitted harness fact is for a source that ``[harness."<source>"]`` does not
#: set: nothing sets it apart.
HARNESS_UNSET = {"client_send_s": 0.0, "compute_efficiency_scale": 1.0}


def client_send_s(source_id: str) -> float:
    """Host time a source's load generator spends sending each request, one request at a
    time across its clients (0 where it does not matter or is not known).

    LMDeploy's profile_generation.py (ebe90bc9) runs one Python thread per client, and
    each ``stream_infer`` call starts a thread per GPU and builds the request's input
    tensors before TurboMind's queue sees it (lmdeploy/turbomind/turbomind.py @
    v0.1.0a1); the threads share one interpreter lock, so requests that finish together
    reach the engine one after another, and the engine's loop admits whatever has arrived
    when an iteration starts. The table shows it: at batch 16 to 64 the least first-token
    latency of 128-token prompts is one prompt's prefill (Llama-2-7B: 0.022 to 0.026 s, as
    at batch 1), not the whole batch's, and 1-token prompts wait two to six decode steps
    for their first token, not one. No source states the time, so it is fitted once over
    all of the source's rows (calibration.toml ``[harness."<source>"]``,
    tools/fit_harness.py).
    """
    return _fitted(source_id, "client_send_s")


def compute_efficiency_scale(source_id: str) -> float:
    """How much more of the GPU's compute a source's engine got than simplan's catalog
    efficiencies (fitted to Vidur's sarathi-serve operator profiles) give: 1 where
    nothing sets it apart.

    LMDeploy's benchmark scripts (benchmark/benchmark_<size>.sh at ebe90bc9, the commit
    that published the A100 tables: "only test after tunning gemm") run
    ``lmdeploy.turbomind.generate_gemm_config`` before measuring, which times cuBLAS's
    algorithms for every GEMM shape of the model up to the batch limit and has TurboMind
    use the fastest. The table shows the gain where compute binds: a 2,048-token prompt
    at batch 1 is prefilled at 71% of the A100's FP16 peak (Llama-2-7B, 0.139 s less one
    decode step), where the catalog's efficiencies give 62%. The scale multiplies the GEMM
    and prefill-attention compute efficiencies (as ``[engine.calibration]
    compute_efficiency_scale`` does), fitted once over all of the source's rows
    (calibration.toml ``[harness."<source>"]``, tools/fit_harness.py).
    """
    return _fitted(source_id, "compute_efficiency_scale")


def _fitted(source_id: str, key: str) -> float:
    table = calibration.constants().get("harness", {}).get(source_id, {})
    return float(table.get(key, HARNESS_UNSET[key]))
