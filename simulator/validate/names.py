"""Model and GPU names as sources write them, read as catalog ids.

Sources name a checkpoint the way its hub repository does ("meta-llama/Meta-Llama-3-8B-
Instruct", "Mixtral-8x7B-Instruct-v0.1", "DeepSeek-R1-0528", "nvidia/Llama-3.3-70B-
Instruct-FP8", MLPerf's "llama3.1-405b") and a GPU by its marketing name with memory and
form factor ("H100-SXM-80GB (H100 80GB HBM3)", "A100 PCIe 80GB"). The checkpoint's
variant words (instruct, chat, hf, a revision date or version, the quantization, which
the weights column states) change no shape, so they are dropped before the catalog is
asked; a GPU the catalog does not hold (H100 NVL, an A100 40GB PCIe) is not read as a
neighbour.
"""

from __future__ import annotations

import re

from simplan import catalog

#: Names whose network is a catalog entry's under another name.
MODEL_ALIASES = {
    "llama-7b": "llama-2-7b",
    "llama-4-scout-17b-16e": "llama-4-scout",
    "llama-4-maverick-17b-128e": "llama-4-maverick",
    # DeepSeek-R1's distilled models are their base models' networks (the distill table of
    # github.com/deepseek-ai/DeepSeek-R1 README @ 5689f0a8; copies of their config.json
    # on the Hub, read 2026-12-04, match the bases' shapes: Llama-70B is Llama-3.3-70B-
    # Instruct's, Qwen-7B is Qwen2.5-Math-7B's, whose shapes are Qwen2.5-7B's)
    "deepseek-r1-distill-llama-70b": "llama-3.3-70b",
    "deepseek-r1-distill-llama-8b": "llama-3.1-8b",
    "deepseek-r1-distill-qwen-32b": "qwen2.5-32b",
    "deepseek-r1-distill-qwen-14b": "qwen2.5-14b",
    "deepseek-r1-distill-qwen-7b": "qwen2.5-7b",
    # an update of V3.1's weights on the same network (deepseek-ai/DeepSeek-V3.1-Terminus)
    "deepseek-v3.1-terminus": "deepseek-v3.1",
    # V3.2-Exp introduced DeepSeek Sparse Attention on V3.1-Terminus's network
    # (github.com/deepseek-ai/DeepSeek-V3.2 README) and V3.2 kept it: one model class,
    # DeepseekV32ForCausalLM, serves both (vLLM's deepseek_v32 docs)
    "deepseek-v3.2-exp": "deepseek-v3.2",
}
#: Checkpoint words that change no shape: the tuning (instruct, chat, it, base), the
#: hub's format (hf), a revision (v0.1, a date such as 0528 or 2507) and the
#: quantization (stated by the row's weights column). Where a revision changed the
#: network, only the catalogued one is read (``_REVISION``).
_VARIANT = re.compile(
    r"-(instruct|chat|hf|it|base|thinking|v\d+(\.\d+)*|\d{4}|fp8|fp4|nvfp4|mxfp4|bf16|fp16"
    r"|awq|gptq|int4|int8|w4a16|w8a8|w8a16|dynamic|quantized)$"
)


#: Catalog entries whose later revisions are other networks, and the revision each is:
#: Mistral-7B v0.2 dropped v0.1's 4,096-token sliding window (the catalog entry's).
_REVISION = {"mistral-7b": "v0.1"}


def model_id(name: str) -> str | None:
    """The catalog id of a model a source names, or None where the catalog has none."""
    base = re.sub(r"\(.*?\)", "", name).strip().lower().replace(" ", "-").replace("_", ".")
    base = base.rsplit("/", 1)[-1].removeprefix("meta-")
    # MLPerf writes "llama2-70b" and "llama3.1-405b"
    base = re.sub(r"^llama(\d)", r"llama-\1", base)
    base = re.sub(r"[-.]quantized[-.].*$", "", base)  # RedHatAI's "...-quantized.w4a16"
    known = catalog.load("model")
    # strip one word at a time, stopping at a known name ("deepseek-v3-0324" is V3)
    versions = []
    while MODEL_ALIASES.get(base, base) not in known:
        stripped = _VARIANT.sub("", base)
        if stripped == base:
            return None
        versions += re.findall(r"-(v\d+(?:\.\d+)*)$", base)
        base = stripped
    found = MODEL_ALIASES.get(base, base)
    if found in _REVISION and any(v != _REVISION[found] for v in versions):
        return None
    return found


def gpu_id(name: str) -> str | None:
    """The catalog id of a GPU a source names, or None where the catalog has none."""
    found = _gpu_name(name.lower())
    return found if found in catalog.load("gpu") else None


def _gpu_name(n: str) -> str | None:
    # Superchips first: "gh200" contains "h200", "gb200" contains "b200".
    if "gb200" in n:
        return "gb200"
    if "gh200" in n:
        return "gh200-144gb" if "144" in n else "gh200-96gb"
    for amd in ("mi300x", "mi325x", "mi355x"):
        if amd in n.replace(" ", ""):
            return amd
    pcie = "pcie" in n
    if "a100" in n:
        # "40GB", "40 GB", but not a DGX's "640GB"
        if re.search(r"(?<!\d)40\s*gb?\b", n):
            return None if pcie else "a100-sxm4-40gb"
        return "a100-pcie-80gb" if pcie else "a100-sxm4-80gb"
    # H100 NVL (94 GB) and H200 NVL (a 600 W PCIe card) are not the SXM parts
    if re.search(r"h[12]00\W*nvl|\bh[12]00\b.*\bnvl\b", n):
        return None
    if "h100" in n:
        return "h100-pcie" if pcie else "h100-sxm"
    if re.search(r"\bh20-3e\b|\bh20\b.*141", n):
        return "h20-3e"
    if re.search(r"\bh20\b", n):
        return "h20"
    if "h200" in n:
        return "h200"
    for gpu in ("b200", "l40s", "l4", "a10g"):
        if re.search(rf"\b{gpu}\b", n):
            return gpu
    return None


#: Datasets rows name instead of lengths, by words of the name (ordered: Mixtral's MLPerf
#: mix contains OpenOrca), and the catalog entry (datasets.toml) holding their statistics.
_DATASET_WORDS = (
    (("sharegpt_standard_v1",), "sharegpt-accelmark"),
    (("gsm8k", "mbxp"), "mlperf-mixtral"),
    (("openorca", "open_orca", "open orca"), "mlperf-openorca"),
    (("longbench", "ruler", "govreport"), "mlperf-llama3.1-405b"),
    (("aime", "math500", "gpqa", "livecodebench"), "mlperf-deepseek-r1"),
)
#: MLPerf's dataset for each of its LLM benchmarks, where a row names only "MLPerf".
_MLPERF = {
    "llama-2-70b": "mlperf-openorca",
    "mixtral-8x7b": "mlperf-mixtral",
    "llama-3.1-405b": "mlperf-llama3.1-405b",
    "deepseek-r1": "mlperf-deepseek-r1",
}


def dataset_id(text: str, model: str = "") -> str | None:
    """The catalog dataset a length column names ("sharegpt_standard_v1 (...)",
    "OpenOrca (MLPerf)", "MLPerf dataset" for a benchmark's model, a catalog id), or
    None. An MLPerf set's component (GSM8K, AIME) is read as the MLPerf set only where
    the row says MLPerf or runs that benchmark's model."""
    t = text.strip().lower()
    first = re.split(r"[\s(,;]", t, maxsplit=1)[0]
    if first in catalog.load("dataset"):
        return first
    for words, entry in _DATASET_WORDS:
        if any(w in t for w in words):
            mlperf = entry.startswith("mlperf-")
            return entry if not mlperf or "mlperf" in t or _MLPERF.get(model) == entry else None
    if "mlperf" in t:
        return _MLPERF.get(model)
    # vLLM's and SGLang's serving benchmarks draw ShareGPT V3 first turns; ShareGPT4 is
    # another set (GPT-4's answers)
    if t.startswith("sharegpt") and not re.match(r"sharegpt[\s_-]*(?:4|gpt-?4)", t):
        return "sharegpt"
    return None


#: Per-request latencies a source reports, by the words it uses, and the simulation's
#: column for each. ITL is read as TPOT, each request's mean gap between its tokens:
#: benchmarks pool the gaps of every token, so their mean weights long answers more and
#: their median is one gap's, which a request's mean approximates only near the middle;
#: per-token gaps are not recorded, so ITL tails are not read.
_LATENCIES = {
    "ttft": "ttft_s",
    "tpot": "tpot_s",
    "itl": "tpot_s",
    "e2e": "e2e_s",
    "e2el": "e2e_s",
    "e2e_latency": "e2e_s",
    "latency": "e2e_s",
    "request_latency": "e2e_s",
}
_STATS = {"mean": "mean", "avg": "mean", "median": "p50", "p50": "p50", "p90": "p90"}
_STATS |= {"p95": "p95", "p99": "p99"}
#: Run-level rates: output tokens, prompt plus output tokens and completed requests per
#: second (names as vLLM's and SGLang's benchmark scripts print them).
THROUGHPUTS = {
    "output_throughput_total": "output",
    "output_throughput": "output",
    "output_token_throughput": "output",
    "total_throughput": "total",
    "total_token_throughput": "total",
    "total_throughput_total": "total",
    "request_throughput": "requests",
    "requests_per_s": "requests",
    "output_throughput_per_gpu": "per_gpu",
    # a user's view: each request's decode rate (1 / its TPOT), averaged over requests
    "output_throughput_per_user": "per_user",
    "output_tokens_per_s_per_user": "per_user",
    "tokens_per_s_per_user": "per_user",
    "tps_per_user": "per_user",
}


def latency_metric(name: str) -> tuple[str, str] | None:
    """(column, statistic) of a per-request latency metric ("ttft_p99" -> ("ttft_s",
    "p99"), "median_e2el_ms" -> ("e2e_s", "p50"), bare "tpot" -> the mean), or None."""
    n = name.strip().lower().removesuffix("_ms").removesuffix("_s")
    for stat_first in (True, False):
        for word, stat in _STATS.items():
            quantity = n.removeprefix(f"{word}_") if stat_first else n.removesuffix(f"_{word}")
            if quantity != n and quantity in _LATENCIES:
                if quantity == "itl" and stat not in ("mean", "p50"):
                    return None
                return _LATENCIES[quantity], stat
    return (_LATENCIES[n], "mean") if n in _LATENCIES else None
