"""The tiny run and sweep that the plots and the report are tested on, written once
(``conftest.py`` turns them into fixtures; modules that build variants import them)."""

TINY_RUN = """
name = "Tiny chat <run> & co"
question = "Do two H100s serve an 8B chat model at 4 req/s within the SLO?"
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
replicas = 2
[workload]
arrival = "poisson"
rate_per_s = 4.0
duration_s = 60
input_tokens = 500
output_tokens = 150
[slo]
ttft_p95_s = 1.0
tpot_p95_s = 0.05
[pricing]
apis = ["gpt-4o", "deepseek-v3"]
[simulation]
seed = 3
warmup_s = 10
"""

TINY_SWEEP = """
name = "Tiny sweep"
question = "Which GPU and weights serve an 8B chat model cheapest under the SLO?"
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[workload]
rate_per_s = 2.0
duration_s = 60
input_tokens = 500
output_tokens = 150
[slo]
ttft_p95_s = 0.5
tpot_p95_s = 0.03
[pricing]
apis = ["gpt-4o", "deepseek-v3"]
[sweep]
"hardware.gpu" = ["a100-sxm4-80gb", "h100-sxm"]
"model.weights" = ["fp16", "fp8"]
"hardware.replicas" = [1, 2]
"workload.rate_per_s" = [2.0, 8.0, 32.0, 128.0]
"""
