"""Layout of the configuration vector that kernels take instead of objects.

A *configuration* is one replica: a model architecture, a quantization, a GPU, its
efficiency factors, the parallel degrees and the engine's memory knobs, flattened into a
float64 vector of length :data:`NCFG`. The simulator builds it
(:func:`simplan.perf.config_vector`); kernels index it by these constants. Many
configurations stack into a ``(n, NCFG)`` array for vectorized sweeps.
"""

# Model architecture
L = 0  # layers
H = 1  # hidden size
NH = 2  # attention heads
NKV = 3  # KV heads
HD = 4  # head dim
I = 5  # dense MLP intermediate size  # noqa: E741
V = 6  # vocab size
GATED = 7  # 1 for SwiGLU (3 matrices), 0 for a 2-matrix MLP
E = 8  # routed experts (0 = dense)
K = 9  # experts per token
IM = 10  # routed-expert intermediate size
NS = 11  # shared experts
LD = 12  # leading dense layers in an MoE model
MLA = 13  # 1 for multi-head latent attention
KV_LORA = 14
Q_LORA = 15
QK_NOPE = 16
QK_ROPE = 17
V_HD = 18
TIE = 19  # tied embeddings

# Quantization
W_BYTES = 20  # bytes per weight of the linear layers (scales included)
A_BYTES = 21  # bytes per activation element (fp16/bf16 = 2)
KV_BYTES = 22  # bytes per KV-cache element
PEAK_GEMM = 23  # FLOP/s of the tensor-core dtype GEMMs run at
DEQUANT = 24  # extra compute fraction for weight-only dequantization

# GPU
BW = 25  # HBM bytes/s
MEM = 26  # device memory bytes
PEAK_FP16 = 27  # fp16 tensor-core FLOP/s (attention runs here)

# Parallelism
TP = 28
PP = 29

# Efficiency factors (fitted; see simplan/catalog/efficiency.toml)
ETA_C = 30  # GEMM compute efficiency at large M
M_HALF = 31  # tokens at which GEMM compute efficiency is half its max
ETA_M = 32  # GEMM memory efficiency
T0_GEMM = 33  # per-GEMM fixed time, s
ETA_ELEM = 34
T0_ELEM = 35
ETA_ATT_DEC = 36
ETA_ATT_PRE = 37
T0_ATT = 38
AR_ALPHA = 39  # all-reduce latency, s
AR_BW = 40  # all-reduce bus bandwidth, bytes/s
T_ITER = 41  # fixed per-iteration overhead (scheduler, sampling, launches), s
P2P_BW = 42  # pipeline-stage send bandwidth, bytes/s
P2P_ALPHA = 43  # pipeline-stage send latency, s

# Engine memory knobs
MEM_UTIL = 44  # gpu_memory_utilization
MAX_BATCHED_TOKENS = 45
MAX_NUM_SEQS = 46
RESERVE_FIXED = 47  # bytes per GPU outside weights/activations/KV (CUDA context, graphs, NCCL)
BLOCK = 48  # KV block size in tokens
M_HALF_16 = 49  # M_HALF of 16-bit cuBLAS-style GEMMs (LM head, router); M_HALF is the
# value for the quantized linear layers, smaller for weight-only kernels with 16-row tiles

NCFG = 50
