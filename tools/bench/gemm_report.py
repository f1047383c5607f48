#!/usr/bin/env python3
"""PTPC GEMM report: fp8fuse-bench and torch_peers.py JSON files (any number,
one pair per weight shape) -> a Markdown table per timing mode, fp8fuse
against torch._scaled_mm (row-wise scales) at each (N, K, M), and the
issue-6 goals.

usage: gemm_report.py FILE.json...
Weight bandwidth = N * K fp8 bytes / time (the bytes a decode GEMM must read).
"""
import json
import sys

SHAPES = {(14336, 5120): "qkv", (5120, 12288): "o_proj/down", (24576, 5120): "gate_up"}


def load_all(paths):
    recs = []
    for p in paths:
        with open(p) as f:
            recs += [r for r in json.load(f) if r.get("op") in ("gemm", "decode_step")]
    return recs


def main():
    recs = load_all(sys.argv[1:])
    steps = [r for r in recs if r["op"] == "decode_step" and "/" not in r["backend"]]
    # hip/<variant> steps (run-gpu.sh GEMM_PATHS: nopdl, tok8, ...)
    step_vars = sorted({r["backend"] for r in recs
                        if r["op"] == "decode_step" and "/" in r["backend"]})
    var_idx = {(r["backend"], r["mode"], r["n"], r["k"], r["m"]): r for r in recs
               if r["op"] == "decode_step" and r["backend"] in step_vars}
    recs = [r for r in recs if r["op"] == "gemm"]
    peer = "torch-scaled_mm"
    # hip/<path>: runs with FP8F_HIP_GEMM=<path> (run-gpu.sh GEMM_PATHS)
    forced = sorted({r["backend"] for r in recs if "/" in r["backend"]})
    ours = {r["backend"] for r in recs if r["backend"] != peer and "/" not in r["backend"]}
    ours = sorted(ours)[0] if ours else "hip"
    idx = {(r["backend"], r["mode"], r["n"], r["k"], r["m"]): r for r in recs}
    shapes = sorted({(r["n"], r["k"]) for r in recs})
    goals = []
    print("# PTPC GEMM: fp8fuse vs torch._scaled_mm (row-wise scales), same GPU, same run\n")
    print("×scaled_mm = scaled_mm time / fp8fuse time (> 1: fp8fuse faster); TB/s = fp8 "
          "weight bytes / time.\n")
    for mode in ("gpu", "graph", "call"):
        print(f"## mode {mode}\n")
        print("| shape | N x K | M | fp8fuse µs | scaled_mm µs | ×scaled_mm | fp8fuse TB/s "
              "| scaled_mm TB/s | fp8fuse TF/s | scaled_mm TF/s |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n, k in shapes:
            for m in sorted({r["m"] for r in recs if r["n"] == n and r["k"] == k}):
                o = idx.get((ours, mode, n, k, m))
                s = idx.get((peer, mode, n, k, m))

                def us(r):
                    return f"{r['median_us']:.2f}" if r else "-"

                def tbs(r):
                    return f"{n * k / (r['median_us'] * 1e-6) / 1e12:.2f}" if r else "-"

                def tfs(r):
                    return f"{2.0 * m * n * k / (r['median_us'] * 1e-6) / 1e12:.0f}" if r else "-"
                ratio = s["median_us"] / o["median_us"] if o and s else None
                rs = f"{ratio:.2f}" if ratio else "-"
                print(f"| {SHAPES.get((n, k), '')} | {n} x {k} | {m} | {us(o)} | {us(s)} | {rs} | "
                      f"{tbs(o)} | {tbs(s)} | {tfs(o)} | {tfs(s)} |")
                if mode == "gpu" and o:
                    bw = n * k / (o["median_us"] * 1e-6) / 1e12
                    if m <= 16:
                        goals.append((f"{n}x{k} M={m}: ≥ 2.5 TB/s", f"{bw:.2f} TB/s", bw >= 2.5))
                        if ratio:
                            goals.append((f"{n}x{k} M={m}: ≥ 1.3× scaled_mm", f"{ratio:.2f}×",
                                          ratio >= 1.3))
                    elif m <= 128 and ratio:
                        goals.append((f"{n}x{k} M={m}: ≥ 1.0× scaled_mm", f"{ratio:.2f}×",
                                      ratio >= 1.0))
                    elif m >= 1024 and ratio:
                        goals.append((f"{n}x{k} M={m}: ≥ 1.0× scaled_mm", f"{ratio:.2f}×",
                                      ratio >= 1.0))
        print()
    if forced:
        print("## Each GEMM path forced (FP8F_HIP_GEMM), gpu mode: µs (×scaled_mm)\n")
        print("| N x K | M | heuristic | " + " | ".join(forced) + " | scaled_mm |")
        print("|---|---:|---:|" + "---:|" * len(forced) + "---:|")
        for n, k in shapes:
            for m in sorted({r["m"] for r in recs if r["n"] == n and r["k"] == k
                             and r["backend"] in forced}):
                s = idx.get((peer, "gpu", n, k, m))

                def cell(b):
                    r = idx.get((b, "gpu", n, k, m))
                    if not r:
                        return "-"
                    x = f" ({s['median_us'] / r['median_us']:.2f}×)" if s else ""
                    return f"{r['median_us']:.2f}{x}"
                peer_us = f"{s['median_us']:.2f}" if s else "-"
                print(f"| {n} x {k} | {m} | {cell(ours)} | "
                      + " | ".join(cell(b) for b in forced) + f" | {peer_us} |")
        print()
    if steps:
        sidx = {(r["mode"], r["n"], r["k"], r["m"]): r for r in steps}
        print("## Decode step (fp8f_prepare_linear: add + RMSNorm + quant + GEMM) vs "
              "`_scaled_mm` alone\n")
        print("| mode | N x K | M | step µs | " + "".join(f"step µs, {v} | " for v in step_vars)
              + "scaled_mm µs | scaled_mm / step |")
        print("|---|---|---:|---:|" + "---:|" * len(step_vars) + "---:|---:|")
        for (mode, n, k, m), r in sorted(sidx.items()):
            s = idx.get((peer, mode, n, k, m))
            ratio = s["median_us"] / r["median_us"] if s else None
            var_cells = "".join(
                f"{var_idx[(v, mode, n, k, m)]['median_us']:.2f} | "
                if (v, mode, n, k, m) in var_idx else "- | " for v in step_vars)
            print(f"| {mode} | {n} x {k} | {m} | {r['median_us']:.2f} | {var_cells}"
                  f"{s['median_us'] if s else float('nan'):.2f} | "
                  f"{ratio if ratio else float('nan'):.2f} |")
            if mode == "gpu" and ratio and m <= 16:
                goals.append((f"{n}x{k} M={m}: decode step ≤ _scaled_mm alone",
                              f"{ratio:.2f}×", ratio >= 1.0))
        print()
    if goals:
        print("## Goals (issue 6, gpu mode)\n")
        print("| goal | measured | met |")
        print("|---|---|---|")
        for g, v, met in goals:
            print(f"| {g} | {v} | {'yes' if met else 'no'} |")


if __name__ == "__main__":
    main()
