#!/usr/bin/env python3
"""Side-by-side report of fp8fuse-bench --json and torch_peers.py --json
taken in the same run on the same GPU.

  python3 tools/bench/compare.py bench.json peers.json > report.md

Ratios are peer time / fp8fuse time (above 1: fp8fuse is faster); '% copy'
is the operation's fewest bytes over its time, against the 1 GiB
device-to-device copy measured by the peer script in the same run.
"""
import json
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def index(records):
    out = {}
    for r in records:
        if "op" not in r:
            continue
        key = (r["op"], r["backend"], r["mode"], r["m"])
        out[key] = r
    return out


def main():
    bench, peers = load(sys.argv[1]), load(sys.argv[2])
    info = [r for r in bench + peers if "backend_info" in r]
    b, p = index(bench), index(peers)
    copy = [r for r in peers if r.get("op") == "copy"]
    copy_bw = copy[0]["gb_per_s"] if copy else None
    ours = next((r["backend"] for r in bench if r.get("op") and r["backend"] != "cpu"), "hip")

    print("# fp8fuse (HIP backend) vs PyTorch, same GPU, same run\n")
    for r in info:
        print(f"- {r['backend_info']}: {r.get('device', '')} {r.get('torch', '')}")
    if copy_bw:
        print(f"- device-to-device copy (1 GiB, torch): {copy_bw:.0f} GB/s (read + write)")
    print("\nTimes are medians in µs; ×peer = peer time / fp8fuse time (>1: fp8fuse faster).\n")

    goals = []
    modes = (("gpu", "kernel time: GPU busy and L2 flushed before each call (launch hidden)"),
             ("call", "per call, back-to-back calls from the host (host overhead included)"),
             ("graph", "per call, calls captured in a device graph and replayed"))
    for op in ("add_norm_quant", "quant"):
        ms = sorted({k[3] for k in b if k[0] == op and k[1] == ours})
        if not ms:
            continue
        h = next(r["h"] for r in bench if r.get("op") == op)
        worst_small = {}
        worst_bw, worst_ratio = 1e9, {}
        for mode, what in modes:
            if not any(k[0] == op and k[2] == mode for k in b):
                continue
            print(f"## {op}, {mode} (H = {h}, bf16 in, e4m3fn out): {what}\n")
            print("| M | fp8fuse µs | eager µs | compile µs | ×eager | ×compile | fp8fuse % copy"
                  " | compile % copy |")
            print("|---:" * 8 + "|")
            for m in ms:
                o = b.get((op, ours, mode, m))
                e = p.get((op, "torch-eager", mode, m))
                c = p.get((op, "torch-compile", mode, m))

                def t(r):
                    return f"{r['median_us']:.2f}" if r else "-"

                def ratio(peer, mine):
                    return f"{peer['median_us'] / mine['median_us']:.2f}" if peer and mine else "-"

                def pct(r):
                    return f"{100 * r['gb_per_s'] / copy_bw:.1f}" if r and copy_bw else "-"
                print(f"| {m} | {t(o)} | {t(e)} | {t(c)} | {ratio(e, o)} | {ratio(c, o)} |"
                      f" {pct(o)} | {pct(c)} |")
                if o and m <= 128:
                    worst_small[mode] = max(worst_small.get(mode, 0.0), o["median_us"])
                if o and mode == "gpu" and m >= 4096 and copy_bw:
                    worst_bw = min(worst_bw, 100 * o["gb_per_s"] / copy_bw)
                if o and c:
                    worst_ratio[mode] = min(worst_ratio.get(mode, 1e9),
                                            c["median_us"] / o["median_us"])
            print()
        if op == "add_norm_quant":
            for mode in worst_small:
                goals.append((f"≤ 5 µs per call at M ≤ 128 ({mode})",
                              f"worst {worst_small[mode]:.2f} µs", worst_small[mode] <= 5.0))
            if worst_bw < 1e9:
                goals.append(("≥ 93 % of copy bandwidth at M ≥ 4096 (gpu: cold L2)",
                              f"worst {worst_bw:.1f} %", worst_bw >= 93.0))
            for mode in worst_ratio:
                goals.append((f"≥ 1.0× torch.compile at every M ({mode})",
                              f"worst {worst_ratio[mode]:.2f}×", worst_ratio[mode] >= 1.0))

    gm = sorted({k[3] for k in b if k[0] == "gemm" and k[1] == ours})
    if gm:
        g0 = next(r for r in bench if r.get("op") == "gemm")
        print(f"## PTPC GEMM (N = {g0['n']}, K = {g0['k']}, e4m3fn, bf16 out): fp8fuse's"
              " first (vector-unit) kernel vs torch._scaled_mm (row-wise scales)\n")
        print("| M | fp8fuse gpu | scaled_mm gpu | fp8fuse TF/s | scaled_mm TF/s | ×scaled_mm |")
        print("|---:" * 6 + "|")
        for m in gm:
            o = b.get(("gemm", ours, "gpu", m))
            s = p.get(("gemm", "torch-scaled_mm", "gpu", m))

            def tf(r):
                return f"{r['flops'] / (r['median_us'] * 1e-6) / 1e12:.1f}" if r else "-"
            print(f"| {m} | {o['median_us']:.1f} | {s['median_us'] if s else float('nan'):.1f} |"
                  f" {tf(o)} | {tf(s)} | {s['median_us'] / o['median_us'] if s else float('nan'):.3f} |")
        print()

    if goals:
        print("## Goals (issue 5)\n")
        for what, val, ok in goals:
            print(f"- {'PASS' if ok else 'MISS'}: {what}: {val}")


if __name__ == "__main__":
    main()
