"""python -m attnrt.bench: attnrt through Python on the target shapes
(bench/shapes/targets.txt, the set attnrt-bench times) against
torch.nn.functional.scaled_dot_product_attention when torch is installed,
and a numpy float32 softmax(Q·Kᵀ)·V, whose largest difference from attnrt's
output is printed (no tolerance: the checks against the double reference
are the test suite's); one and two threads, float32 and bfloat16, GFLOP/s
and attnrt's ratio, in one run.

python -m attnrt.bench --overhead: the calling overhead, a B1 H1 M1 N1 D64
call from Python against the same call timed from C++ (median of many).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

import attnrt

try:
    import torch
except ImportError:  # the table leaves torch's columns empty
    torch = None

TARGETS = os.path.join(os.path.dirname(__file__), "targets.txt")


def read_shapes(path: str) -> List[Dict]:
    """NAME TARGET OPTIONS lines of attnrt-bench's shape files."""
    shapes = []
    with open(path) as f:
        for line in f:
            words = shlex.split(line, comments=True)
            if not words:
                continue
            s = dict(name=words[0], batch=1, heads=1, kv_heads=0, q_len=1, kv_len=1, head_dim=64,
                     causal=False, dtype=None)
            opts = iter(words[2:])
            for opt in opts:
                key = opt.lstrip("-").replace("-", "_")
                if key == "causal":
                    s["causal"] = True
                elif key == "dtype":
                    s["dtype"] = {"bf16": "bfloat16", "fp32": "float32"}[next(opts)]
                elif key in s:
                    s[key] = int(next(opts))
            s["kv_heads"] = s["kv_heads"] or s["heads"]
            shapes.append(s)
    return shapes


def flops(s: Dict) -> float:
    """4 · visible (query, key) pairs · D, causal top-left as both sides run it."""
    m, n = s["q_len"], s["kv_len"]
    pairs = sum(min(i + 1, n) for i in range(m)) if s["causal"] else m * n
    return 4.0 * s["batch"] * s["heads"] * pairs * s["head_dim"]


def median_seconds(fns: List[Callable[[], object]], reps: int, budget: float,
                   quiet: float = 0.0) -> List[float]:
    """Median seconds per call of each callable. Rounds of: for each callable
    in turn, `quiet` seconds of sleep, then a block of back-to-back calls
    (about 0.1 s of them, 1 to 20), each timed. The libraries take turns, so a
    change of load on a shared machine falls on both sides alike, and each has
    the cores to itself: the sleep outlasts the other library's workers
    spinning after its last call (libgomp's, TBB's), which would otherwise
    take a core from the first calls of the next block."""
    block = []
    for fn in fns:  # warm-up (pools, packing buffers, first-touch pages), block size
        fn()
        t0 = time.perf_counter()
        fn()
        block.append(max(1, min(20, int(0.1 / max(time.perf_counter() - t0, 1e-9)))))
    times: List[List[float]] = [[] for _ in fns]
    start, rounds = time.perf_counter(), 0
    while rounds < reps or (rounds < 3 * reps and time.perf_counter() - start < budget):
        for fn, t, n in zip(fns, times, block):
            if quiet > 0:
                time.sleep(quiet)
            for _ in range(n):
                t0 = time.perf_counter()
                fn()
                t.append(time.perf_counter() - t0)
        rounds += 1
    return [statistics.median(t) for t in times]


def cpu_sample() -> Optional[Tuple[float, float, float]]:
    """(wall s, CPU s the whole machine has been busy, CPU s of this process),
    or None where /proc/stat is missing (not Linux)."""
    try:
        with open("/proc/stat") as f:
            jiffies = [int(x) for x in f.readline().split()[1:9]]
        import resource

        mine = resource.getrusage(resource.RUSAGE_SELF)
    except (OSError, ImportError):
        return None
    busy = (sum(jiffies) - jiffies[3] - jiffies[4]) / os.sysconf("SC_CLK_TCK")  # not idle, iowait
    return time.perf_counter(), busy, mine.ru_utime + mine.ru_stime


def others_share(before: Optional[Tuple[float, float, float]]) -> str:
    """The share of the machine's cores other processes used since `before`:
    a figure is only worth its ratio when this stays near 0."""
    after = cpu_sample()
    if before is None or after is None:
        return "-"
    wall, busy, mine = (a - b for a, b in zip(after, before))
    share = max(0.0, busy - mine) / ((os.cpu_count() or 1) * wall)
    return f"{100 * min(share, 1.0):.0f}%"  # clock ticks round: keep it within 0-100%


def numpy_attention(q, k, v, causal: bool) -> np.ndarray:
    """float32 softmax(Q·Kᵀ/sqrt(D))·V on numpy's BLAS (GQA by head groups)."""
    group = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    s = np.matmul(q, np.swapaxes(k, -1, -2)) * np.float32(1 / np.sqrt(q.shape[-1]))
    if causal:
        m, n = s.shape[-2:]
        s[..., np.arange(n)[None, :] > np.arange(m)[:, None]] = -np.inf
    s = np.exp(s - s.max(axis=-1, keepdims=True))
    return np.matmul(s / s.sum(axis=-1, keepdims=True), v)


def run_table(args) -> None:
    shapes = [s for s in read_shapes(args.shapes) if not args.only or s["name"] in args.only]
    rng = np.random.default_rng(0)
    print(f"attnrt {attnrt.__version__}, torch {torch.__version__ if torch else 'absent'}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| shape | dtype | threads | attnrt GFLOP/s | torch SDPA GFLOP/s | attnrt / torch "
          "| numpy GFLOP/s | max error vs numpy | others' CPU |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s in shapes:
        b, h, hk, m, n, d = (s[x] for x in ("batch", "heads", "kv_heads", "q_len", "kv_len", "head_dim"))
        q32 = rng.standard_normal((b, h, m, d), np.float32)
        k32 = rng.standard_normal((b, hk, n, d), np.float32)
        v32 = rng.standard_normal((b, hk, n, d), np.float32)
        ref_secs: Optional[float] = None
        ref = None
        if not args.no_numpy:
            ref_secs = median_seconds([lambda: numpy_attention(q32, k32, v32, s["causal"])], 1, 0,
                                      args.quiet)[0]
            ref = numpy_attention(q32, k32, v32, s["causal"])
        for dtype in [s["dtype"]] if s["dtype"] else args.dtypes:  # S2-bf16: bf16 only
            tdt = {"float32": torch.float32, "bfloat16": torch.bfloat16} if torch else {}
            if torch:  # torch tensors serve both sides: the same memory for each
                q, k, v = (torch.from_numpy(x).to(tdt[dtype]) for x in (q32, k32, v32))
            elif dtype == "float32":
                q, k, v = q32, k32, v32
            elif attnrt._np_bf16 is not None:
                q, k, v = (x.astype(attnrt._np_bf16) for x in (q32, k32, v32))
            else:
                print(f"| {s['name']} | {dtype} | - | needs torch or ml_dtypes | | | | | |")
                continue
            out = attnrt.attention(q, k, v)  # an output buffer of the right kind
            for threads in args.threads:
                rt = attnrt.Runtime(threads=threads)
                calls = [lambda: attnrt.attention(q, k, v, causal=s["causal"], causal_align="top_left",
                                                  out=out, runtime=rt)]
                if torch:
                    kx, vx = (x.repeat_interleave(h // hk, 1) for x in (k, v)) if h != hk else (k, v)
                    torch.set_num_threads(threads)
                    sdpa = torch.nn.functional.scaled_dot_product_attention
                    calls.append(lambda: sdpa(q, kx, vx, is_causal=s["causal"]))
                before = cpu_sample()
                secs, tsecs = (median_seconds(calls, args.reps, args.budget, args.quiet) + [None])[:2]
                err = ""
                if ref is not None:
                    err = f"{np.abs(np.asarray(out.float() if torch else out, np.float32) - ref).max():.1e}"
                gf = lambda t: f"{flops(s) / t * 1e-9:.1f}" if t else "-"
                ratio = f"{tsecs / secs:.2f}" if tsecs else "-"
                print(f"| {s['name']} | {dtype} | {threads} | {gf(secs)} | {gf(tsecs)} | {ratio} "
                      f"| {gf(ref_secs)} | {err} | {others_share(before)} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")


def run_overhead(args) -> None:
    """Interleaved rounds: C++ median, then Python median, of the same call."""
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 1, 1, 64), np.float32) for _ in range(3))
    out = np.empty_like(q)
    rt = attnrt.Runtime(threads=1)
    cpp, py = [], []
    ns = time.perf_counter_ns
    before = cpu_sample()
    for _ in range(args.rounds):
        cpp.append(attnrt._attnrt.time_forward_ns(q, k, v, out, rt, args.calls))
        samples = []
        for _ in range(args.calls):
            t0 = ns()
            attnrt.attention(q, k, v, out=out, runtime=rt)
            samples.append(ns() - t0)
        py.append(statistics.median(samples))
    c, p = statistics.median(cpp), statistics.median(py)
    print(f"B1 H1 M1 N1 D64 float32, 1 thread, {args.rounds} rounds x {args.calls} calls, "
          f"load average {os.getloadavg()[0]:.2f}, others' CPU {others_share(before)}")
    print(f"C++ attnrt_runtime_forward: median {c / 1000:.2f} us")
    print(f"Python attnrt.attention(q, k, v, out=o, runtime=r): median {p / 1000:.2f} us")
    print(f"overhead: {(p - c) / 1000:.2f} us ({'within' if p - c <= 5000 else 'over'} 5 us)")


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m attnrt.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--overhead", action="store_true", help="time the calling overhead instead")
    ap.add_argument("--shapes", default=TARGETS, help="attnrt-bench shape file (default: the targets)")
    ap.add_argument("--only", nargs="*", default=[], help="shape names to run (default: all)")
    ap.add_argument("--dtypes", nargs="*", default=["float32", "bfloat16"])
    ap.add_argument("--threads", nargs="*", type=int, default=[1, 2])
    ap.add_argument("--reps", type=int, default=3, help="rounds per figure (at least)")
    ap.add_argument("--budget", type=float, default=2.0, help="seconds to add rounds up to 3x reps")
    ap.add_argument("--quiet", type=float, default=0.2,
                    help="seconds of sleep before each library's block of calls (0: none)")
    ap.add_argument("--no-numpy", action="store_true", help="skip the numpy column and check")
    ap.add_argument("--rounds", type=int, default=21, help="--overhead: interleaved rounds")
    ap.add_argument("--calls", type=int, default=2000, help="--overhead: calls per round and side")
    args = ap.parse_args(argv)
    if args.overhead:
        run_overhead(args)
    else:
        run_table(args)


if __name__ == "__main__":
    main()
