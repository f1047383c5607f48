#!/usr/bin/env python3
"""PyTorch peers of fp8fuse-bench, timed the same way on the same GPU.

  python3 tools/bench/torch_peers.py [--m LIST] [--h 5120] [--gemm-m LIST]
                                     [--n 6144] [--k 5120] [--json FILE]

Peers (bf16 in, e4m3fn out):
  add_norm_quant  eager:   h = x + r; y = rmsnorm(h) * w; amax; scale; q = (y / scale).to(fp8)
                  compile: the same function under torch.compile (default mode, static shapes)
  quant           eager / compile: amax; scale; q of x alone
  gemm            torch._scaled_mm with row-wise scales (scale_a M x 1, scale_b 1 x N)
  copy            a 1 GiB device-to-device copy: the bandwidth ceiling (bytes read + written)

Timing as in fp8fuse-bench: 'gpu' = events around one call after a large
operation that keeps the GPU busy and flushes the L2 (launch overhead
hidden); 'call' = events around a batch of back-to-back calls / batch size
(host overhead included where it dominates); 'graph' = the batch captured
in a CUDA graph and replayed, per call (no host overhead); rotating buffer sets over
>= 192 MB; warm-up, then the median and the 10th / 90th percentiles.
Bytes are counted with fp8fuse-bench's formulas (fewest bytes) so GB/s compare.
"""
import argparse
import json
import sys
import time

import torch

FMAX = 448.0


def add_norm_quant(x, r, w, eps: float = 1e-6):
    h = x + r
    hf = h.float()
    y = hf * torch.rsqrt(hf.pow(2).mean(-1, keepdim=True) + eps) * w.float()
    amax = y.abs().amax(-1, keepdim=True)
    scale = (amax / FMAX).clamp(min=1.0 / (FMAX * 512))
    q = (y / scale).clamp(-FMAX, FMAX).to(torch.float8_e4m3fn)
    return q, scale, h


def quant(x):
    xf = x.float()
    amax = xf.abs().amax(-1, keepdim=True)
    scale = (amax / FMAX).clamp(min=1.0 / (FMAX * 512))
    q = (xf / scale).clamp(-FMAX, FMAX).to(torch.float8_e4m3fn)
    return q, scale


def stats(v):
    v = sorted(v)
    n = len(v)
    med = v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])
    return med, v[int(0.1 * (n - 1))], v[int(0.9 * (n - 1) + 0.5)]


class Timer:
    def __init__(self, reps, warmup, batch):
        self.reps, self.warmup, self.batch = reps, warmup, batch
        # 1 GiB: its zeroing (~0.4 ms) outlasts torch.compile's host overhead per call
        self.flush_buf = torch.empty(256 << 20, dtype=torch.float32, device="cuda")
        self.e0 = torch.cuda.Event(enable_timing=True)
        self.e1 = torch.cuda.Event(enable_timing=True)

    def _reps_for(self, est_s):
        r = self.reps
        if est_s > 0 and est_s * r > 1.5:
            r = int(1.5 / est_s)
        return max(r, 10)

    def run(self, fn, nsets):
        """fn(i) runs one call on buffer set i % nsets; returns {mode: (med, p10, p90, reps)}."""
        for i in range(self.warmup):
            fn(i % nsets)
        torch.cuda.synchronize()
        self.e0.record()
        for i in range(5):
            fn(i % nsets)
        self.e1.record()
        self.e1.synchronize()
        est = self.e0.elapsed_time(self.e1) * 1e-3 / 5
        out = {}
        for mode, batch in (("gpu", 1), ("call", self.batch)):
            reps = self._reps_for(est * batch + (450e-6 if mode == "gpu" else 0))
            t = []
            for r in range(reps):
                if mode == "gpu":
                    self.flush_buf.zero_()
                self.e0.record()
                for b in range(batch):
                    fn((r * batch + b) % nsets)
                self.e1.record()
                self.e1.synchronize()
                t.append(self.e0.elapsed_time(self.e1) * 1e3 / batch)
            med, p10, p90 = stats(t)
            out[mode] = (med, p10, p90, reps)
        out["graph"] = self.run_graph(fn, nsets, est)
        return out

    def run_graph(self, fn, nsets, est):
        """Per call in a CUDA graph of `batch` captured calls, replayed."""
        g = torch.cuda.CUDAGraph()
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for i in range(3):
                fn(i % nsets)
        torch.cuda.current_stream().wait_stream(s)
        with torch.cuda.graph(g):
            for b in range(self.batch):
                fn(b % nsets)
        for _ in range(3):
            g.replay()
        reps = self._reps_for(est * self.batch)
        t = []
        for _ in range(reps):
            self.e0.record()
            g.replay()
            self.e1.record()
            self.e1.synchronize()
            t.append(self.e0.elapsed_time(self.e1) * 1e3 / self.batch)
        med, p10, p90 = stats(t)
        del g
        return (med, p10, p90, reps)


def nsets_for(set_bytes):
    return max(1, min(32, (192 << 20) // max(set_bytes, 1)))


def record(results, op, backend, mode, m, h, n, k, res, nbytes, flops=0.0, note=""):
    med, p10, p90, reps = res
    results.append({"op": op, "backend": backend, "mode": mode, "m": m, "h": h, "n": n,
                    "k": k, "dtype": "bf16", "fp8": "e4m3fn", "median_us": med,
                    "p10_us": p10, "p90_us": p90, "reps": reps, "bytes": nbytes,
                    "flops": flops, "gb_per_s": nbytes / (med * 1e-6) / 1e9 if med > 0 else 0,
                    "cfg": note})
    shape = f"{m}x{n}x{k}" if op == "gemm" else f"{m}x{h}"
    extra = f" {flops / (med * 1e-6) / 1e12:8.2f} TF/s" if flops else ""
    print(f"{op:15s} {backend:15s} {mode:5s} {shape:18s} {med:10.2f} {p10:10.2f} {p90:10.2f} "
          f"{nbytes / (med * 1e-6) / 1e9:9.1f}{extra}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--m", default="1,2,4,8,16,32,64,128,256,512,1024,2048,4096,8192,16384")
    ap.add_argument("--gemm-m", default="1,16,128,1024,4096")
    ap.add_argument("--h", type=int, default=5120)
    ap.add_argument("--n", type=int, default=6144)
    ap.add_argument("--k", type=int, default=5120)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--ops", default="copy,add_norm_quant,quant,gemm")
    ap.add_argument("--json", default="")
    ap.add_argument("--bias", action="store_true", help="GEMM with a bf16 bias, as qkv has")
    a = ap.parse_args()
    ops = a.ops.split(",")
    ms = [int(v) for v in a.m.split(",") if v]
    gms = [int(v) for v in a.gemm_m.split(",") if v]
    dev = torch.device("cuda")
    torch.manual_seed(0)
    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, 256)
    props = torch.cuda.get_device_properties(0)
    info = {"backend_info": "torch", "device": f"{props.name}, {props.multi_processor_count} SMs",
            "torch": torch.__version__, "cuda": torch.version.cuda}
    print(f"# torch {torch.__version__} (CUDA {torch.version.cuda}) on {props.name}", flush=True)
    print(f"{'op':15s} {'peer':15s} {'mode':5s} {'shape':18s} {'median_us':>10s} {'p10_us':>10s} "
          f"{'p90_us':>10s} {'GB/s':>9s}", flush=True)
    timer = Timer(a.reps, a.warmup, a.batch)
    results = [info]
    H = a.h

    if "copy" in ops:
        n = 1 << 30
        src = torch.empty(n, dtype=torch.uint8, device=dev).random_(0, 255)
        dst = torch.empty_like(src)
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        for _ in range(3):
            dst.copy_(src)
        t = []
        for _ in range(30):
            e0.record()
            dst.copy_(src)
            e1.record()
            e1.synchronize()
            t.append(e0.elapsed_time(e1) * 1e3)
        med, p10, p90 = stats(t)
        results.append({"op": "copy", "backend": "torch", "mode": "gpu", "m": 0, "h": 0,
                        "n": 0, "k": 0, "bytes": 2.0 * n, "median_us": med, "p10_us": p10,
                        "p90_us": p90, "reps": 30, "gb_per_s": 2.0 * n / (med * 1e-6) / 1e9})
        print(f"copy            torch           gpu   1 GiB              {med:10.2f} {p10:10.2f} "
              f"{p90:10.2f} {2.0 * n / (med * 1e-6) / 1e9:9.1f}", flush=True)
        del src, dst

    compiled_anq = torch.compile(add_norm_quant, dynamic=False)
    compiled_q = torch.compile(quant, dynamic=False)
    w = (torch.rand(H, device=dev) + 0.5).to(torch.bfloat16)
    for op in ("add_norm_quant", "quant"):
        if op not in ops:
            continue
        for m in ms:
            es = 2
            if op == "add_norm_quant":
                sb = m * H * (2 * es + 1) + 4 * m
                nbytes = m * H * (3.0 * es + 1.0) + 4.0 * m + H * es
            else:
                sb = m * H * (es + 1) + 4 * m
                nbytes = m * H * (es + 1.0) + 4.0 * m
            ns = nsets_for(sb)
            xs = [(torch.rand(m, H, device=dev) * 4 - 2).to(torch.bfloat16) for _ in range(ns)]
            rs = [(torch.rand(m, H, device=dev) * 4 - 2).to(torch.bfloat16) for _ in range(ns)] \
                if op == "add_norm_quant" else None
            for name, f in (("torch-eager", add_norm_quant if op == "add_norm_quant" else quant),
                            ("torch-compile",
                             compiled_anq if op == "add_norm_quant" else compiled_q)):
                if op == "add_norm_quant":
                    def fn(i, f=f):
                        return f(xs[i], rs[i], w)
                else:
                    def fn(i, f=f):
                        return f(xs[i])
                t0 = time.time()
                fn(0)  # compiles
                torch.cuda.synchronize()
                note = f"first call {time.time() - t0:.1f} s" if name == "torch-compile" else ""
                res = timer.run(fn, ns)
                for mode in ("gpu", "call", "graph"):
                    record(results, op, name, mode, m, H, 0, 0, res[mode], nbytes, note=note)
            del xs, rs

    if "gemm" in ops:
        N, K = a.n, a.k
        wq = (torch.randn(N, K, device=dev) * 100).clamp(-448, 448).to(torch.float8_e4m3fn)
        sw = (torch.rand(1, N, device=dev) * 1e-3 + 1e-3).float()
        bias = (torch.rand(N, device=dev) * 2 - 1).to(torch.bfloat16) if a.bias else None
        for m in gms:
            ns = nsets_for(m * K + m * N * 2)
            qa = [(torch.randn(m, K, device=dev) * 100).clamp(-448, 448).to(torch.float8_e4m3fn)
                  for _ in range(ns)]
            sa = [(torch.rand(m, 1, device=dev) + 0.5).float() for _ in range(ns)]
            nbytes = m * K + 4.0 * m + N * K + 4.0 * N + m * N * 2.0

            def fn(i):
                return torch._scaled_mm(qa[i], wq.t(), scale_a=sa[i], scale_b=sw, bias=bias,
                                        out_dtype=torch.bfloat16)
            try:
                res = timer.run(fn, ns)
            except Exception as e:  # e.g. M not a multiple of 16 on some versions
                print(f"gemm M={m}: torch._scaled_mm failed: {e}", file=sys.stderr, flush=True)
                continue
            for mode in ("gpu", "call", "graph"):
                record(results, "gemm", "torch-scaled_mm", mode, m, 0, N, K, res[mode], nbytes,
                       flops=2.0 * m * N * K)
            del qa, sa

    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
