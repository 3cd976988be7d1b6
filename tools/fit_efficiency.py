#!/usr/bin/env python3
"""Fit simplan's roofline efficiency factors to the Vidur operator profiles.

Dev tool, not part of the package.  Reads the measured per-operator GPU timings
published with Vidur (github.com/microsoft/vidur @ 7d47513, MIT; measured with
sarathi-serve, fp16) from ``--profiling DIR`` (default ``../shared/profiling/vidur``
relative to the repository root) and writes ``simulator/catalog/efficiency.toml``.
The CSVs themselves never enter the repository.  Deterministic: no randomness,
fixed starting points, outputs rounded to 4 significant digits.

Model (all times in seconds, fp16 = 2 bytes/element, one GPU of a TP group of size tp)
-------------------------------------------------------------------------------------
Peaks: a100 (80GB SXM) P = 312e12 FLOP/s, BW = 2039e9 B/s;
       h100 (SXM)      P = 989.4e12 FLOP/s, BW = 3350e9 B/s.
d = n_embd / n_head (head_dim), I = n_expanded_embd, g = 2 if use_gated_mlp else 1,
M = num_tokens.

(a) GEMM ops, t = max(F / (P * eta_c(M)), B / (BW * eta_m)) + t0
        F = 2*M*K*N,  B = 2*(K*N + M*K + M*N),  eta_c(M) = eta_c_max * M / (M + m_half)
    attn_pre_proj  : K = n_embd,       N = (n_head + 2*n_kv_head)*d / tp
    attn_post_proj : K = n_head*d/tp,  N = n_embd
    mlp_up_proj    : K = n_embd,       N = g*I / tp
    mlp_down_proj  : K = I/tp,         N = n_embd
    (tp shards N of the column-parallel ops and K of the row-parallel ops; checked
    against the data: the script prints t(tp)*tp/t(1), ~1 for every GEMM.)
    One (eta_c_max, m_half, eta_m, t0) per GPU family, fitted jointly over all GEMM
    rows of all models and TP degrees by least squares on log(time).  m_half is kept
    only if it lowers the RMS log error by >= 10 % relative to a constant eta_c
    (else m_half = 0, i.e. eta_c(M) = eta_c_max).

(b) Element-wise ops, t = bytes / (BW * eta_elem) + t0_elem, bytes = 2*(read + write):
    input_layernorm, post_attention_layernorm : read M*n_embd,        write M*n_embd
    attn_rope (in place on q and k)           : read M*(n_head+n_kv_head)*d/tp,
                                                write the same
    mlp_act (SiLU-and-mul if gated)           : read M*g*I/tp,        write M*I/tp
    add (residual)                            : read 2*M*n_embd,      write M*n_embd
    (layernorm and add are not sharded by tp; the data confirm it.)
    One (eta_elem, t0_elem) per family, log least squares.  `emb` is only reported,
    predicted with the same parameters and bytes = 2*(M*n_embd + M*n_embd); not fitted.

(c) All-reduce (NCCL, message `size` bytes, n = num_workers):
        t = alpha + 2*(n-1)/n * size / bus_bw
    Fitted per (family, topology) on intra-node rows only (devices_per_node >= n);
    cross-node rows (devices_per_node < n, only in a100_dgx) are excluded and reported.
    *_dgx (NVSwitch): one (alpha, bus_bw) over all n.  *_pairwise_nvlink: the n=2 fit
    (an NVLink-bridged pair) gives the main keys; n=4 spans two pairs (no NVLink between
    pairs) and is clearly slower, so it is stored separately (allreduce_pairwise_4gpu_*).

(d) Attention (A100 only, Llama-2-70B TP2: 32 q heads and 4 kv heads per GPU, d = 128):
        decode : t = kv_bytes / (BW * eta_attn_decode) + t0_attn,
                 kv_bytes = 2 (K,V) * batch_size * kv_cache_size * kv_heads_per_gpu * d * 2
                 (kv_cache_size is the per-sequence context length: checked against
                 the alternative "total over the batch", which fits far worse)
        prefill: t = flops / (P * eta_max * L / (L + L_half)) + t0_attn,
                 flops = 4 * chunk * L * q_heads_per_gpu * d, L = kv_cache_size + chunk/2
                 (the mean context a query attends to: flash attention's efficiency grows
                 with it, 0.1-0.37 of peak over L = 100-4,000 in these profiles)
    eta_max is not fitted: the profiles stop at 4,096 tokens of context, which leaves the
    asymptote free (a free fit gives 0.38 and efficiency flat beyond 8k tokens).
    It is set to FA2_PEAK_SHARE, the low end of the 50-73% of A100 peak FlashAttention-2
    reaches (Dao 2023, arXiv:2307.08691, abstract). The other three are fitted jointly
    by log least squares. h100 has no attention profile: it reuses the A100 efficiencies
    and overhead (an assumption, flagged in the TOML).

Fit quality: |pred/measured - 1| (median, p90, count) per family and op kind.
Times are the `median` column of each profile (ms in the CSV, converted to s).
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_PROFILING = (REPO / ".." / "shared" / "profiling" / "vidur").resolve()
DEFAULT_OUT = REPO / "simulator" / "catalog" / "efficiency.toml"

#: The catalog id of the GPU each family's profiles were taken on.
FIT_GPU = {"a100": "a100-sxm4-80gb", "h100": "h100-sxm"}
PEAKS = {  # dense fp16 tensor-core FLOP/s, HBM B/s
    "a100": (312e12, 2039e9),
    "h100": (989.4e12, 3350e9),
}
FAMILIES = ("a100", "h100")
GEMM_OPS = ("attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_down_proj")
ELEM_OPS = ("input_layernorm", "post_attention_layernorm", "attn_rope", "mlp_act", "add")
ALL_OPS = ("emb",) + ELEM_OPS[:2] + GEMM_OPS + ELEM_OPS[2:]
SOURCE = "github.com/microsoft/vidur @ 7d47513"
AS_OF = "2026-11-22"
M_HALF_KEEP_GAIN = 0.10  # keep m_half only if RMS log error drops by >= 10 %


# --------------------------------------------------------------------------- loading
def load_compute(root: pathlib.Path) -> pd.DataFrame:
    """Long table: family, model, tp, M, shape columns, op, t (s). Duplicate
    (model, tp, M) measurements are averaged."""
    frames = []
    for fam in FAMILIES:
        for f in sorted((root / "compute" / fam).glob("*/*/mlp.csv")):
            d = pd.read_csv(f)
            model = f"{f.parent.parent.name}/{f.parent.name}"
            for op in ALL_OPS:
                col = f"time_stats.{op}.median"
                if col not in d:
                    continue
                x = d[
                    [
                        "n_head",
                        "n_kv_head",
                        "n_embd",
                        "n_expanded_embd",
                        "use_gated_mlp",
                        "num_tokens",
                        "num_tensor_parallel_workers",
                    ]
                ].copy()
                x["t"] = d[col].astype(float) * 1e-3
                x["op"] = op
                x["model"] = model
                x["family"] = fam
                frames.append(x)
    df = pd.concat(frames, ignore_index=True)
    df = df.rename(columns={"num_tokens": "M", "num_tensor_parallel_workers": "tp"})
    df["use_gated_mlp"] = df["use_gated_mlp"].astype(str).str.lower().eq("true")
    keys = [
        "family",
        "model",
        "op",
        "tp",
        "M",
        "n_head",
        "n_kv_head",
        "n_embd",
        "n_expanded_embd",
        "use_gated_mlp",
    ]
    df = df.dropna(subset=["t"])
    df = df[df["t"] > 0].groupby(keys, as_index=False, sort=True)["t"].mean()
    return df


def load_allreduce(root: pathlib.Path) -> pd.DataFrame:
    frames = []
    for d in sorted((root / "network").iterdir()):
        f = d / "all_reduce.csv"
        if not f.exists():
            continue
        fam, topo = d.name.split("_", 1)
        x = pd.read_csv(f)
        x = x[["num_workers", "size", "devices_per_node", "max_devices_per_node"]].assign(
            t=pd.read_csv(f)["time_stats.all_reduce.median"].astype(float) * 1e-3,
            family=fam,
            topo="dgx" if topo == "dgx" else "pairwise",
        )
        frames.append(x)
    return (
        pd.concat(frames, ignore_index=True)
        .sort_values(
            ["family", "topo", "num_workers", "devices_per_node", "size"], kind="mergesort"
        )
        .reset_index(drop=True)
    )


def load_attention(root: pathlib.Path) -> pd.DataFrame:
    d = pd.read_csv(root / "attention_a100_llama2_70b_tp2" / "attention.csv")
    tp = d["num_tensor_parallel_workers"].astype(int)
    head_dim = d["n_embd"] // d["n_q_head"]
    out = pd.DataFrame(
        {
            "prefill": d["is_prefill"].astype(str).str.lower().eq("true"),
            "batch": d["batch_size"].astype(float),
            "kv": d["kv_cache_size"].astype(float),
            "chunk": d["prefill_chunk_size"].astype(float),
            "qh": (d["n_q_head"] // tp).astype(float),
            "kvh": (d["n_kv_head"] // tp).astype(float),
            "d": head_dim.astype(float),
        }
    )
    out["t"] = (
        np.where(
            out["prefill"], d["time_stats.attn_prefill.median"], d["time_stats.attn_decode.median"]
        ).astype(float)
        * 1e-3
    )
    out = out[np.isfinite(out["t"]) & (out["t"] > 0)].reset_index(drop=True)
    return out


# --------------------------------------------------------------------------- shapes
def gemm_kn(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    h, kvh, e, inner = (
        df[c].to_numpy(float) for c in ("n_head", "n_kv_head", "n_embd", "n_expanded_embd")
    )
    tp = df["tp"].to_numpy(float)
    g = np.where(df["use_gated_mlp"].to_numpy(), 2.0, 1.0)
    d = e / h
    op = df["op"].to_numpy()
    K = np.select(
        [op == "attn_pre_proj", op == "attn_post_proj", op == "mlp_up_proj", op == "mlp_down_proj"],
        [e, h * d / tp, e, inner / tp],
        np.nan,
    )
    N = np.select(
        [op == "attn_pre_proj", op == "attn_post_proj", op == "mlp_up_proj", op == "mlp_down_proj"],
        [(h + 2 * kvh) * d / tp, e, g * inner / tp, e],
        np.nan,
    )
    return K, N


def elem_bytes(df: pd.DataFrame) -> np.ndarray:
    h, kvh, e, inner = (
        df[c].to_numpy(float) for c in ("n_head", "n_kv_head", "n_embd", "n_expanded_embd")
    )
    tp = df["tp"].to_numpy(float)
    M = df["M"].to_numpy(float)
    gated = df["use_gated_mlp"].to_numpy()
    d = e / h
    op = df["op"].to_numpy()
    rope = M * (h + kvh) * d / tp
    read = np.select(
        [
            np.isin(op, ["input_layernorm", "post_attention_layernorm", "emb"]),
            op == "attn_rope",
            op == "mlp_act",
            op == "add",
        ],
        [M * e, rope, M * np.where(gated, 2.0, 1.0) * inner / tp, 2 * M * e],
        np.nan,
    )
    write = np.select(
        [
            np.isin(op, ["input_layernorm", "post_attention_layernorm", "emb"]),
            op == "attn_rope",
            op == "mlp_act",
            op == "add",
        ],
        [M * e, rope, M * inner / tp, M * e],
        np.nan,
    )
    return 2.0 * (read + write)


# --------------------------------------------------------------------------- models
def gemm_time(p, M, K, N, P, BW):
    eta_c_max, m_half, eta_m, t0 = p
    F = 2.0 * M * K * N
    B = 2.0 * (K * N + M * K + M * N)
    eta_c = eta_c_max * M / (M + m_half)
    return np.maximum(F / (P * eta_c), B / (BW * eta_m)) + t0


def fit_log(fun, x0s, lo, hi, t_meas):
    """Least squares on log(pred) - log(meas) from several fixed starts; best wins."""
    best = None
    y = np.log(t_meas)
    for x0 in x0s:
        r = least_squares(
            lambda x: np.log(fun(x)) - y,
            x0,
            bounds=(lo, hi),
            method="trf",
            x_scale="jac",
            max_nfev=20000,
            xtol=1e-12,
            ftol=1e-12,
            gtol=1e-12,
        )
        if best is None or r.cost < best.cost - 1e-15:
            best = r
    return best.x, math.sqrt(2 * best.cost / len(y))


def fit_gemm(g: pd.DataFrame, fam: str):
    P, BW = PEAKS[fam]
    K, N = gemm_kn(g)
    M = g["M"].to_numpy(float)
    t = g["t"].to_numpy()
    us = 1e-6
    # parameters: eta_c_max, m_half (tokens), eta_m, t0 (microseconds)
    full = lambda x: gemm_time((x[0], x[1], x[2], x[3] * us), M, K, N, P, BW)
    x_full, rms_full = fit_log(
        full,
        [[0.7, 30.0, 0.8, 5.0], [0.9, 200.0, 0.6, 10.0], [0.5, 1.0, 0.9, 2.0]],
        [1e-3, 0.0, 1e-3, 0.0],
        [1.5, 1e5, 1.5, 1e3],
        t,
    )
    const = lambda x: gemm_time((x[0], 0.0, x[1], x[2] * us), M, K, N, P, BW)
    x_c, rms_c = fit_log(
        const,
        [[0.7, 0.8, 5.0], [0.9, 0.6, 10.0], [0.5, 0.9, 2.0]],
        [1e-3, 1e-3, 0.0],
        [1.5, 1.5, 1e3],
        t,
    )
    keep = rms_full <= (1 - M_HALF_KEEP_GAIN) * rms_c
    params = (
        (x_full[0], x_full[1], x_full[2], x_full[3] * us)
        if keep
        else (x_c[0], 0.0, x_c[1], x_c[2] * us)
    )
    info = dict(
        rms_log_mhalf=rms_full,
        rms_log_const=rms_c,
        kept_m_half=bool(keep),
        const_params=(x_c[0], 0.0, x_c[1], x_c[2] * us),
        full_params=(x_full[0], x_full[1], x_full[2], x_full[3] * us),
    )
    pred = gemm_time(params, M, K, N, P, BW)
    return params, pred, info


def fit_elem(g: pd.DataFrame, fam: str):
    _, BW = PEAKS[fam]
    b = elem_bytes(g)
    t = g["t"].to_numpy()
    fun = lambda x: b / (BW * x[0]) + x[1] * 1e-6
    x, rms = fit_log(fun, [[0.5, 3.0], [0.9, 1.0], [0.2, 8.0]], [1e-3, 0.0], [1.5, 1e3], t)
    return (x[0], x[1] * 1e-6), rms


def ar_time(p, n, size):
    alpha, bw_gbs = p
    return alpha + 2.0 * (n - 1) / n * size / (bw_gbs * 1e9)


def fit_ar(g: pd.DataFrame):
    n = g["num_workers"].to_numpy(float)
    s = g["size"].to_numpy(float)
    fun = lambda x: ar_time((x[0] * 1e-6, x[1]), n, s)
    x, rms = fit_log(
        fun, [[20.0, 100.0], [5.0, 300.0], [50.0, 20.0]], [0.0, 0.1], [1e4, 2e4], g["t"].to_numpy()
    )
    return (x[0] * 1e-6, x[1]), rms


#: Prefill attention's efficiency at long context, as a share of the fp16 peak: the low
#: end of FlashAttention-2's "50-73% of the theoretical maximum FLOPs/s on A100" (Tri Dao,
#: FlashAttention-2, arXiv:2307.08691, 2023, abstract).
FA2_PEAK_SHARE = 0.50


def attn_time(p, a: pd.DataFrame, P, BW, kv_per_sequence=True):
    eta_dec, eta_max, t0, l_half = p
    kv_tokens = a["batch"] * a["kv"] if kv_per_sequence else a["kv"]
    kv_bytes = 2.0 * kv_tokens * a["kvh"] * a["d"] * 2.0
    ctx = a["kv"] + a["chunk"] / 2.0
    flops = 4.0 * a["chunk"] * ctx * a["qh"] * a["d"]
    eta_pre = eta_max * ctx / (ctx + l_half)
    return np.where(a["prefill"], flops / (P * eta_pre), kv_bytes / (BW * eta_dec)) + t0


def fit_attn(a: pd.DataFrame, kv_per_sequence=True):
    """(eta_dec, eta_max, t0_s, l_half_tokens), eta_max fixed at FA2_PEAK_SHARE."""
    P, BW = PEAKS["a100"]
    fun = lambda x: attn_time((x[0], FA2_PEAK_SHARE, x[1] * 1e-6, x[2]), a, P, BW, kv_per_sequence)
    x, rms = fit_log(
        fun,
        [[0.7, 15.0, 1000.0], [0.3, 5.0, 3000.0]],
        [1e-4, 0.0, 0.0],
        [1.5, 1e3, 1e6],
        a["t"].to_numpy(),
    )
    return (x[0], FA2_PEAK_SHARE, x[1] * 1e-6, x[2]), rms


# --------------------------------------------------------------------------- reporting
def err_stats(pred, meas):
    e = np.abs(np.asarray(pred) / np.asarray(meas) - 1.0)
    return float(np.median(e)), float(np.quantile(e, 0.9)), int(e.size)


def sig(x: float, n: int = 4) -> float:
    if x == 0 or not np.isfinite(x):
        return float(x)
    return float(f"{x:.{n - 1}e}")


def fmt(x) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, str):
        return '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'
    v = sig(float(x))
    return repr(v) if (v == 0 or 1e-4 <= abs(v) < 1e6) else f"{v:.3e}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profiling", type=pathlib.Path, default=DEFAULT_PROFILING)
    ap.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    root = args.profiling.resolve()
    pd.set_option("display.width", 200)

    comp = load_compute(root)
    ar = load_allreduce(root)
    att = load_attention(root)

    table = []  # (family, kind, median, p90, n)
    out = {fam: {} for fam in FAMILIES}
    all_err = {fam: [] for fam in FAMILIES}

    def record(fam, kind, pred, meas, fitted=True):
        med, p90, n = err_stats(pred, meas)
        table.append((fam, kind, med, p90, n))
        if fitted:
            all_err[fam].append(np.abs(np.asarray(pred) / np.asarray(meas) - 1.0))

    # ---- shape-convention check: t(tp) * tp / t(1) at large M
    print(
        "TP scaling check: median over models and M >= 1024 of t(tp)*tp/t(tp=1)"
        " (1 = time scales as 1/tp; tp = not sharded)"
    )
    big = comp[comp["M"] >= 1024]
    base = big[big["tp"] == 1].set_index(["family", "model", "op", "M"])["t"]
    x = big.join(base.rename("t1"), on=["family", "model", "op", "M"])
    x["r"] = x["t"] * x["tp"] / x["t1"]
    print(
        x.pivot_table(index=["family", "op"], columns="tp", values="r", aggfunc="median")
        .round(2)
        .to_string()
    )
    print()

    # ---- (a) GEMM, (b) element-wise
    for fam in FAMILIES:
        c = comp[comp["family"] == fam]
        g = c[c["op"].isin(GEMM_OPS)].reset_index(drop=True)
        p, pred, info = fit_gemm(g, fam)
        print(
            f"[{fam}] GEMM rows={len(g)}  RMS log err: with m_half {info['rms_log_mhalf']:.4f}"
            f" {tuple(sig(v) for v in info['full_params'])}, constant eta_c"
            f" {info['rms_log_const']:.4f} {tuple(sig(v) for v in info['const_params'])}"
            f" -> m_half {'kept' if info['kept_m_half'] else 'dropped'}"
        )
        for op in GEMM_OPS:
            m = (g["op"] == op).to_numpy()
            record(fam, op, pred[m], g["t"].to_numpy()[m])
        record(fam, "gemm (all)", pred, g["t"].to_numpy(), fitted=False)
        gm = err_stats(pred, g["t"].to_numpy())
        out[fam].update(
            gemm_compute_efficiency_max=p[0],
            gemm_m_half_tokens=p[1],
            gemm_memory_efficiency=p[2],
            gemm_overhead_s=p[3],
            gemm_fit_rows=len(g),
            gemm_fit_median_abs_rel_error=gm[0],
            gemm_fit_p90_abs_rel_error=gm[1],
        )

        e = c[c["op"].isin(ELEM_OPS)].reset_index(drop=True)
        pe, rms = fit_elem(e, fam)
        _, BW = PEAKS[fam]
        epred = elem_bytes(e) / (BW * pe[0]) + pe[1]
        print(
            f"[{fam}] element-wise rows={len(e)} RMS log err {rms:.4f}"
            f" eta_elem={sig(pe[0])} t0={sig(pe[1])}"
        )
        implied = []
        for op in ELEM_OPS:
            m = (e["op"] == op).to_numpy()
            record(fam, op, epred[m], e["t"].to_numpy()[m])
            # per-op effective bandwidth efficiency at large M (diagnostic only)
            mm = m & (e["M"].to_numpy() >= 2048)
            eff = elem_bytes(e[mm]) / (BW * (e["t"].to_numpy()[mm] - pe[1]))
            implied.append(f"{op}={np.median(eff):.2f}")
        print(
            f"[{fam}] element-wise implied efficiency per op at M>=2048 (diagnostic): "
            + ", ".join(implied)
        )
        record(fam, "elementwise (all)", epred, e["t"].to_numpy(), fitted=False)
        em = err_stats(epred, e["t"].to_numpy())
        out[fam].update(
            elementwise_memory_efficiency=pe[0],
            elementwise_overhead_s=pe[1],
            elementwise_fit_rows=len(e),
            elementwise_fit_median_abs_rel_error=em[0],
            elementwise_fit_p90_abs_rel_error=em[1],
        )
        emb = c[c["op"] == "emb"].reset_index(drop=True)
        if len(emb):
            record(
                fam,
                "emb (not fitted)",
                elem_bytes(emb) / (BW * pe[0]) + pe[1],
                emb["t"].to_numpy(),
                fitted=False,
            )

    # ---- (d) attention (A100 only)
    pa, rms_a = fit_attn(att, kv_per_sequence=True)
    pa_alt, rms_alt = fit_attn(att, kv_per_sequence=False)
    print(
        f"\n[a100] attention rows={len(att)}: kv_cache_size per sequence RMS log err"
        f" {rms_a:.4f} {tuple(sig(float(v)) for v in pa)}; as total over batch {rms_alt:.4f}"
        f" {tuple(sig(float(v)) for v in pa_alt)} -> per sequence"
        + ("" if rms_a < rms_alt else "  (WARNING: alternative fits better)")
    )
    P, BW = PEAKS["a100"]
    # diagnostic only (not stored): how much of the causal chunk x chunk block the
    # prefill kernel effectively pays for, flops = 4*chunk*(kv + c*chunk)*qh*d
    pre = att[att["prefill"]]
    for c in (0.5, 1.0):
        fl = 4.0 * pre["chunk"] * (pre["kv"] + c * pre["chunk"]) * pre["qh"] * pre["d"]
        xc, rc = fit_log(
            lambda x: fl / (P * x[0]) + x[1] * 1e-6,
            [[0.3, 15.0]],
            [1e-4, 0.0],
            [1.5, 1e3],
            pre["t"].to_numpy(),
        )
        print(
            f"[a100] prefill-only diagnostic, c={c}: eta={sig(xc[0])} t0={sig(xc[1] * 1e-6)}"
            f" RMS log err {rc:.4f}"
        )
    apred = attn_time(pa, att, P, BW)
    for kind, m in (("attn_decode", ~att["prefill"]), ("attn_prefill", att["prefill"])):
        m = m.to_numpy()
        record("a100", kind, apred[m], att["t"].to_numpy()[m])
    am = err_stats(apred, att["t"].to_numpy())
    for fam in FAMILIES:
        out[fam].update(
            attention_decode_memory_efficiency=pa[0],
            attention_prefill_compute_efficiency_max=pa[1],
            attention_prefill_half_context_tokens=pa[3],
            attention_overhead_s=pa[2],
        )
    out["a100"].update(
        attention_fit_rows=len(att),
        attention_fit_median_abs_rel_error=am[0],
        attention_fit_p90_abs_rel_error=am[1],
    )
    out["h100"]["attention_note"] = (
        "no H100 attention profile: A100 efficiencies and overhead reused (assumption)"
    )

    # ---- (c) all-reduce
    print()
    cross = ar[ar["devices_per_node"] < ar["num_workers"]]
    intra = ar[ar["devices_per_node"] >= ar["num_workers"]]
    for (fam, topo, n, dpn), g in cross.groupby(
        ["family", "topo", "num_workers", "devices_per_node"]
    ):
        pc, rmsc = fit_ar(g)
        print(
            f"[{fam}] {topo} n={n} devices_per_node={dpn}: CROSS-NODE, excluded"
            f" ({len(g)} rows); its own fit alpha={sig(pc[0])} s bus_bw={sig(pc[1])} GB/s"
            f" RMS log err {rmsc:.3f}"
        )
    for (fam, topo), g in intra.groupby(["family", "topo"]):
        for n, gn in g.groupby("num_workers"):
            pn, rmsn = fit_ar(gn)
            print(
                f"[{fam}] {topo} n={n}: per-n fit alpha={sig(pn[0])} s"
                f" bus_bw={sig(pn[1])} GB/s RMS log err {rmsn:.3f} ({len(gn)} rows)"
            )
        if topo == "dgx":
            parts = [("allreduce", g)]
        else:
            parts = [
                ("allreduce_pairwise", g[g["num_workers"] == 2]),
                ("allreduce_pairwise_4gpu", g[g["num_workers"] == 4]),
            ]
        for prefix, gp in parts:
            if not len(gp):
                continue
            pp, rmsp = fit_ar(gp)
            pred = ar_time(pp, gp["num_workers"].to_numpy(float), gp["size"].to_numpy(float))
            ns = "/".join(str(v) for v in sorted(gp["num_workers"].unique()))
            print(
                f"[{fam}] {prefix} (n={ns}): alpha={sig(pp[0])} s bus_bw={sig(pp[1])} GB/s"
                f" RMS log err {rmsp:.3f}"
            )
            record(fam, f"{prefix} n={ns}", pred, gp["t"].to_numpy())
            st = err_stats(pred, gp["t"].to_numpy())
            out[fam].update(
                {
                    f"{prefix}_latency_s": pp[0],
                    f"{prefix}_bus_bandwidth_gb_per_s": pp[1],
                    f"{prefix}_fit_median_abs_rel_error": st[0],
                    f"{prefix}_fit_p90_abs_rel_error": st[1],
                }
            )
    out["a100"]["allreduce_cross_node_rows_excluded"] = len(cross)

    # ---- fit-quality table
    print("\nFit quality |pred/measured - 1|")
    tab = pd.DataFrame(table, columns=["family", "op kind", "median", "p90", "count"])
    print(tab.to_string(index=False, float_format=lambda v: f"{v:.3f}"))

    # ---- TOML
    order = [
        "gemm_compute_efficiency_max",
        "gemm_m_half_tokens",
        "gemm_memory_efficiency",
        "gemm_overhead_s",
        "elementwise_memory_efficiency",
        "elementwise_overhead_s",
        "attention_decode_memory_efficiency",
        "attention_prefill_compute_efficiency_max",
        "attention_prefill_half_context_tokens",
        "attention_overhead_s",
        "allreduce_latency_s",
        "allreduce_bus_bandwidth_gb_per_s",
        "allreduce_pairwise_latency_s",
        "allreduce_pairwise_bus_bandwidth_gb_per_s",
        "allreduce_pairwise_4gpu_latency_s",
        "allreduce_pairwise_4gpu_bus_bandwidth_gb_per_s",
    ]
    comments = {
        "gemm_m_half_tokens": "eta_c(M) = max * M / (M + m_half)",
        "attention_prefill_compute_efficiency_max": "FlashAttention-2 paper: 50-73% of A100 peak",
        "attention_prefill_half_context_tokens": "eta(L) = max * L / (L + half), L = mean context",
        "allreduce_latency_s": "NVSwitch (dgx) topology, intra-node",
        "allreduce_pairwise_latency_s": "NVLink-bridged pair (n = 2)",
        "allreduce_pairwise_4gpu_latency_s": "4 GPUs = 2 NVLink pairs, no NVLink across",
    }
    src_desc = {
        "a100": "A100 80GB SXM: 7 models x TP 1/2/4/8 mlp.csv; Llama-2-70B TP2 attention.csv;"
        " a100_dgx and a100_pairwise_nvlink all_reduce.csv",
        "h100": "H100 SXM: 5 models x TP 1/2/4/8 mlp.csv; h100_dgx and h100_pairwise_nvlink"
        " all_reduce.csv; attention reuses the A100 fit",
    }
    lines = [
        "# Efficiency factors for simplan's roofline model, fitted by tools/fit_efficiency.py",
        f"# to the Vidur operator profiles ({SOURCE}, MIT; measured with sarathi-serve, fp16).",
        "# Peaks used: a100 312e12 FLOP/s, 2039e9 B/s; h100 989.4e12 FLOP/s, 3350e9 B/s.",
        "# Formulas: see the docstring of tools/fit_efficiency.py. Errors are |pred/measured - 1|.",
        "# Generated file: rerun the tool rather than editing by hand.",
    ]
    for fam in FAMILIES:
        o = out[fam]
        errs = np.concatenate(all_err[fam])
        lines.append("")
        lines.append(f"[{fam}]")
        for k in order:
            if k in o:
                c = f"  # {comments[k]}" if k in comments else ""
                lines.append(f"{k} = {fmt(o[k])}{c}")
        lines.append(f"fit_rows = {errs.size}")
        lines.append(f"fit_median_abs_rel_error = {fmt(float(np.median(errs)))}")
        lines.append(f"fit_p90_abs_rel_error = {fmt(float(np.quantile(errs, 0.9)))}")
        # the profiled GPU (its catalog peaks are PEAKS): other GPUs scale
        # gemm_m_half_tokens by their ridge point over its
        lines.append(f"fit_gpu = {fmt(FIT_GPU[fam])}")
        for k in sorted(o):
            if k not in order:
                lines.append(f"{k} = {fmt(o[k])}")
        lines.append(
            f"source = {fmt(f'Fitted by tools/fit_efficiency.py to {SOURCE} profiling data ({src_desc[fam]})')}"
        )
        lines.append(f"as_of = {fmt(AS_OF)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
