#!/usr/bin/env python3
"""llvm-mca A64FX estimates of the SVE kernels' inner loops (estimated, not measured).

Each kernel of kernels/sve (the A64FX build) is compiled alone with
-DATTNRT_MCA_MARKERS (bench/mca/region.cpp); the marked inner loop is run
through `llvm-mca -mcpu=a64fx` (FMLA latency 9, two FP pipes, loads assumed
to hit L1). One line per kernel:

    <kernel> <cycles per iteration> <% of FMA-issue bound>

The FMA-issue bound of a loop is (its FMLA/FMAD count) / 2 cycles: A64FX
issues one FMA per FP pipe per cycle. exp2 lines give cycles per element
instead, and no bound.

  estimate.py                  print the table
  estimate.py --check FILE     also fail (exit 1) if a kernel is slower than its record
  estimate.py --write FILE     record the table
  estimate.py --model          add whole forward passes of S1-S6 (bench/mca/model.py)
  estimate.py --model --check-model FILE
                               also fail if a row of that table fell below its record
                               (bench/mca/a64fx_model.txt) or a 1-core target is missed
  estimate.py --model --write-model FILE   record the table's rows

--model prints, for S1-S6 at fp32 accurate and fp16 fast, on 1 core and on
48 (4 CMGs), ESTIMATED GFLOP/s, % of peak, the bound and where the time
goes. Its assumptions:
  - 2.0 GHz; peak 64 FLOP/cycle fp32, 128 fp16 per core.
  - Compute: every loop the pipeline runs (llvm-mca, loads hit L1) times
    its trip count, plus each call's fixed cost (the whole call as an
    llvm-mca region less its loop copies), 10 cycles of glue per kernel
    call and 20 per scalar exp2f of fold_max (both assumed).
  - The plan: plan.cpp's rules for the sve512 sets, mirrored in Python
    (two_pass for M <= 16 and N >= 1024, else online; default blocks,
    two_pass's stage half a core's L2 share), and the K/V path strip.cpp's
    direct_kv takes per row block: direct (K/V rows read in place) for
    M <= 16, but where the set's fast P·V path runs (fp16 fast) only for
    M <= 4 (few-row blocks, fp32 P); fp16 fast on whole strips packs.
  - Memory: K and V read from HBM by packing (again by each row block
    unless a head's K/V fits half the CMG's L2) or in place by the direct
    kernels, Q read and O written once; 40 GB/s for one core, 210 GB/s per
    CMG (17.5 per core when 12 share it), 830 GB/s for 4 CMGs: the low
    ends of published figures.
  - Per phase max(compute, memory); phases summed. Packing is its own
    phase; a direct chunk's K stream overlaps its Q·Kᵀ, its V stream its
    exp2 + P·V (the loads are the kernels' own; the optimistic end).
  - 48 cores: scheduler/partition.cpp's cuts mirrored (2 parts per worker,
    split-KV pieces where a cut falls inside a line); the slowest worker,
    and no less than the HBM and per-CMG bytes over their bandwidths.
  - Reading A: llvm-mca as is. Reading B: 8 cycles per 16-lane gather
    and call epilogues not overlapped with the next call.
  - Then: the targets, a sensitivity (direct stream not overlapped),
    what-ifs, and a before/after table of issue 19's changes.
  - Left out (each only adds time: an upper bound): L2 misses of S,
    packed panels and V rows, Q packing, normalize, masks, split-KV
    merges, thread start and synchronization, and the direct kernels'
    PRFMs of the next rows issued between Q·Kᵀ tiles and between the
    whole-strip P·V's column passes (the few-row P·V's are in its loop).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model  # noqa: E402  (bench/mca/model.py)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VL = 16  # fp32 lanes of A64FX

GEMM_ARGS = "k, static_cast<const float*>(a), static_cast<const float*>(b)"
# name: (call, kind, elements per iteration)
KERNELS = {
    "qk_fp32_8x3": (f"gemm_fp32_8x3_body<Store::scaled, false>({GEMM_ARGS}, 0.5f, c, ld)", "gemm", 0),
    "pv_fp32_8x3": (f"gemm_fp32_8x3_body<Store::accumulate, false>({GEMM_ARGS}, 1.0f, c, ld)", "gemm", 0),
    "pv_fp32_8x3_retouch": (f"gemm_fp32_8x3_body<Store::accumulate, true>({GEMM_ARGS}, 1.0f, c, ld)", "gemm", 0),
    "qk_fp32_12x2": (f"gemm_12x2_body<float, Store::scaled, false, 2>({GEMM_ARGS}, 0.5f, c, ld)", "gemm", 0),
    "pv_fp32_12x2": (f"gemm_12x2_body<float, Store::accumulate, false, 2>({GEMM_ARGS}, 1.0f, c, ld)", "gemm", 0),
    "pv_fp32_12x2_retouch": (f"gemm_12x2_body<float, Store::accumulate, true, 2>({GEMM_ARGS}, 1.0f, c, ld)", "gemm", 0),
    "pv_fp16_12x2_mixed": (f"gemm_12x2_body<float, Store::accumulate, false, 4>({GEMM_ARGS}, 1.0f, c, ld)", "gemm", 0),
    "pv_fp16_12x2_noepi": ("gemm_12x2_body<float16_t, Store::accumulate, false, 2>(k, static_cast<const float16_t*>(a), static_cast<const float16_t*>(b), 1.0f, c, ld)", "gemm", 0),
    "pv_fp16_12x2_noepi_retouch": ("gemm_12x2_body<float16_t, Store::accumulate, true, 2>(k, static_cast<const float16_t*>(a), static_cast<const float16_t*>(b), 1.0f, c, ld)", "gemm", 0),
    "qk_fp16_12x2_fast": ("gemm_12x2_body<float16_t, Store::scaled, false, 2, kQkFp16Flush, Widen::pairs>(k, static_cast<const float16_t*>(a), static_cast<const float16_t*>(b), 0.5f, c, ld)", "gemm", 0),
    "qk_fp16_12x2_fast_retouch": ("gemm_12x2_body<float16_t, Store::scaled, true, 2, kQkFp16Flush, Widen::pairs>(k, static_cast<const float16_t*>(a), static_cast<const float16_t*>(b), 0.5f, c, ld)", "gemm", 0),
    "exp2_fast_fp32_8": ("exp2_rows_impl<8, ColType::f32, false>(c, ld, k, m, sum, const_cast<void*>(b))", "exp2", 8 * VL),
    "exp2_accurate_fp32_8": ("exp2_rows_impl<8, ColType::f32, true>(c, ld, k, m, sum, const_cast<void*>(b))", "exp2", 8 * VL),
    "exp2_fast_fp32_12": ("exp2_rows_impl<12, ColType::f32, false>(c, ld, k, m, sum, const_cast<void*>(b))", "exp2", 12 * VL),
    "exp2_accurate_fp32_12": ("exp2_rows_impl<12, ColType::f32, true>(c, ld, k, m, sum, const_cast<void*>(b))", "exp2", 12 * VL),
    "exp2_fast_fp16_12": ("exp2_rows_impl<12, ColType::f16, false>(c, ld, k, m, sum, const_cast<void*>(b))", "exp2", 12 * VL),
    # The direct K/V path: Q·Kᵀ on packed Q quads x 8 K rows in place (G row
    # vectors: 4, 8, 12 rows at 512 bits), P·V on V rows in place.
    "qk_fp32_4x8_direct": ("qk_quad_tile<1>(4, k, static_cast<const float*>(a), static_cast<const float*>(b), ld, 8, 0.5f, c, ld)", "gemm", 0),
    "qk_fp32_8x8_direct": ("qk_quad_tile<2>(8, k, static_cast<const float*>(a), static_cast<const float*>(b), ld, 8, 0.5f, c, ld)", "gemm", 0),
    "qk_fp32_12x8_direct": ("qk_quad_tile<3>(12, k, static_cast<const float*>(a), static_cast<const float*>(b), ld, 8, 0.5f, c, ld)", "gemm", 0),
    "pv_fp32_8x3_direct": ("pv_fp32_8x3_direct<float, Store::accumulate>(k, a, b, ld, 48, c, ld, RowsAfter{})", "gemm", 0),
    "pv_fp32_12x2_direct": ("pv_fp32_12x2_direct<float, Store::accumulate, 2>(k, a, b, ld, 32, c, ld, RowsAfter{})", "gemm", 0),
    "pv_fp16_12x2_direct": ("pv_fp32_12x2_direct<Fp16, Store::accumulate, 4>(k, a, b, ld, 64, c, ld, RowsAfter{})", "gemm", 0),
    "pv_bf16_8x3_direct": ("pv_fp32_8x3_direct<Bf16, Store::accumulate>(k, a, b, ld, 48, c, ld, RowsAfter{})", "gemm", 0),
    "pv_fp32_1x4_direct_rows": ("pv_rows_4x4<1>(k, static_cast<const float*>(a), 8, static_cast<const float*>(b), ld, 0, 64, c, ld, true, RowsAfter{}, kStreamSveA64fx.bytes_ahead)", "gemm", 0),
    "pv_fp32_4x4_direct_rows": ("pv_rows_4x4<4>(k, static_cast<const float*>(a), 8, static_cast<const float*>(b), ld, 0, 64, c, ld, true, RowsAfter{}, kStreamSveA64fx.bytes_ahead)", "gemm", 0),
    "pv_fp16_4x4_direct_rows": ("pv_rows_4x4<4>(k, static_cast<const float*>(a), 12, static_cast<const Fp16*>(b), ld, 0, 64, c, ld, true, RowsAfter{}, kStreamSveA64fx.bytes_ahead)", "gemm", 0),
    "widen_fp16_to_fp32": ("widen_rows<Fp16>(a, ld, 8, k, c)", "elem", 2 * VL),
    # The other loops of the pipeline, for --model (cycles per element).
    "row_max_12": ("row_max<12>(c, ld, 12, k, sum)", "elem", 2 * VL),
    "rescale_12": ("rescale<12>(c, ld, k, m)", "elem", VL),
    "pack_k_fp16_to_fp32": ("pack_b_keys<Fp16, 2>(a, ld, k, 256, c)", "elem", VL),
    "pack_k_fp16_pairs": ("pack_b_key_pairs<2>(a, ld, k, 256, c)", "elem", 2 * VL),
    "pack_v_fp16_to_fp32": ("pack_b_values<Fp16, float, 4>(a, ld, k, 256, c)", "elem", 4 * VL),
    "pack_v_fp16_to_fp16": ("pack_b_values<Fp16, Fp16, 4>(a, ld, k, 256, c)", "elem", 4 * VL),
}
FMA = re.compile(r"^\s*(fmla|fmad|fmls|fmsb|fnmla|fnmad)\s")


def tool(*names):
    for n in names:
        if shutil.which(n):
            return n
    sys.exit(f"estimate.py: none of {names} found (apt-get install g++-aarch64-linux-gnu llvm-19)")


def region(cxx, name, call, tmp, whole=False):
    """The marked loop of a kernel call; whole: the whole call (see region.cpp)."""
    src = os.path.join(ROOT, "bench", "mca", "region.cpp")
    asm = os.path.join(tmp, name + ".s")
    mode = "-DATTNRT_MCA_WHOLE" if whole else "-DATTNRT_MCA_MARKERS"
    cmd = [cxx, "-std=c++20", "-O3", "-DNDEBUG", "-mcpu=a64fx", "-msve-vector-bits=512",
           mode, f"-DATTNRT_MCA_CALL={call}", "-I", ROOT, "-S", src, "-o", asm]
    subprocess.run(cmd, check=True)
    lines, inside, count = [], False, 0
    for line in open(asm):
        if "LLVM-MCA-BEGIN" in line:
            inside, count = True, count + 1
            lines.append("# LLVM-MCA-BEGIN\n")
        elif "LLVM-MCA-END" in line:
            inside = False
            lines.append("# LLVM-MCA-END\n")
        elif inside and not line.lstrip().startswith(("#", "//", ".")):
            lines.append(line)
    if count < 1:
        sys.exit(f"estimate.py: {name}: no marked loop")
    # Loops over rows may be unrolled into copies of the same marked loop: keep the first.
    return lines[: lines.index("# LLVM-MCA-END\n") + 1]


def mca(mca_bin, lines, tmp, name, target=("-mtriple=aarch64", "-mcpu=a64fx"), iterations=1000):
    path = os.path.join(tmp, name + ".loop.s")
    open(path, "w").writelines(lines)
    out = subprocess.run([mca_bin, *target, f"-iterations={iterations}", path],
                         check=True, capture_output=True, text=True).stdout
    cycles = int(re.search(r"Total Cycles:\s+(\d+)", out).group(1))
    iters = int(re.search(r"Iterations:\s+(\d+)", out).group(1))
    return cycles / iters


def tools():
    return (tool("aarch64-linux-gnu-g++"),
            tool("llvm-mca-19", "llvm-mca-18", "llvm-mca-17", "llvm-mca-16", "llvm-mca-15", "llvm-mca-14", "llvm-mca"))


def measurer(tmp):
    """measure(name, call, whole=False, iterations=1000) -> (cycles per
    iteration of the region, its instruction lines), for the model."""
    cxx, mca_bin = tools()

    def measure(name, call, whole=False, iterations=1000):
        tag = f"{name}.{'whole' if whole else 'loop'}.{iterations}"
        lines = region(cxx, tag, call, tmp, whole)
        return mca(mca_bin, lines, tmp, tag, iterations=iterations), lines
    return measure


def estimates():
    """{kernel: (cycles per iteration or element, % of FMA bound or None)},
    a compile and an llvm-mca run per kernel, as many at once as there are cores."""
    cxx, mca_bin = tools()

    def row(tmp, name, call, kind, elems):
        lines = region(cxx, name, call, tmp)
        per_iter = mca(mca_bin, lines, tmp, name)
        if kind == "gemm":
            fmas = sum(1 for l in lines if FMA.match(l))
            return name, (per_iter, 100.0 * (fmas / 2) / per_iter)
        return name, (per_iter / elems, None)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return dict(pool.map(lambda k: row(tmp, k[0], *k[1]), KERNELS.items()))


def fmt(name, value, pct):
    return f"{name} {value:.3f} {'-' if pct is None else f'{pct:.1f}'}"


def read_records(path):
    rec = {}
    for line in open(path):
        f = line.split()
        if f and not f[0].startswith("#"):
            rec[f[0]] = float(f[1])
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", metavar="FILE")
    ap.add_argument("--write", metavar="FILE")
    ap.add_argument("--model", action="store_true")
    ap.add_argument("--check-model", metavar="FILE")
    ap.add_argument("--write-model", metavar="FILE")
    args = ap.parse_args()
    if (args.check_model or args.write_model) and not args.model:
        ap.error("--check-model and --write-model go with --model")
    status = 0
    # The kernels' estimates are compiled while the model is (its report prints first).
    with ThreadPoolExecutor(max_workers=1) as side:
        kernel_rows = side.submit(estimates)
        if args.model:
            with tempfile.TemporaryDirectory() as tmp:
                results = model.report(measurer(tmp))
        rows = kernel_rows.result()
    lines = [fmt(n, v, p) for n, (v, p) in rows.items()]
    print("\n".join(lines))
    if args.model:
        if args.write_model:
            with open(args.write_model, "w") as f:
                f.write("# ESTIMATED A64FX forward passes (bench/mca/estimate.py --model): shape, dtype,\n"
                        "# cores, % of peak by reading A and B. Estimated, not measured.\n")
                f.write("\n".join(model.model_lines(results)) + "\n")
        if args.check_model:
            for b in model.check_model(results, args.check_model):
                print("model worse than record:", b)
                status = 1
    if args.write:
        with open(args.write, "w") as f:
            f.write("# llvm-mca -mcpu=a64fx estimates (bench/mca/estimate.py): kernel, cycles per\n"
                    "# iteration (exp2: per element), % of FMA-issue bound. Estimated, not measured.\n")
            f.write("\n".join(lines) + "\n")
    if args.check:
        status |= check(rows, args.check)
    return status


def check(rows, path):
    """1 (and a line each) if a kernel of rows ({name: (value, pct)}) is
    slower than its record in path, or has none; else 0."""
    rec, worse = read_records(path), []
    for n, (v, _) in rows.items():
        if n not in rec:
            worse.append(f"{n}: no record")
        elif v > rec[n] * 1.005:
            worse.append(f"{n}: {v:.3f} > record {rec[n]:.3f}")
    for w in worse:
        print("worse than record:", w)
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
