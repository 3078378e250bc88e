#!/usr/bin/env python3
"""llvm-mca estimates of the avx512 fp32 kernels' inner loops (estimated, not
measured: this project's CI machine may lack AVX-512).

The kernels are compiled together (bench/mca/avx512_region.cpp, GCC, the
avx512 sets' flags), each inlined into its own mca_entry_<name>; the inner
loop with the most FMAs inside it (a loop of one basic block: a label, then
instructions up to the jump back to it) goes
through llvm-mca for two Intel models (the kernels' in-page variants, which
kernels/tuning.hpp gives Intel CPUs). One line per
kernel and model:

    <kernel>@<model> <cycles per iteration (exp2: per element; one-row P·V: per key)> <% of FMA bound>

The FMA bound is (FMAs in the loop) / 2 cycles: two 512-bit FMA pipes. Note
that llvm-mca 19's sapphirerapids model issues 512-bit FMAs on port 0 only,
so its FMA-bound loops come out at most 50% there; skylake-avx512 uses both
pipes. Every load is assumed to hit L1. The models can be wrong where it
matters: they gave the GEMM with the A broadcast folded into each FMA the
same cycles as with a register broadcast, while an Ice Lake-SP ran the
folded form at half the speed (kernels/avx512/broadcast_fma.hpp). Measure
with attnrt-gbench where the CPU has AVX-512.

  avx512_estimate.py                print the table
  avx512_estimate.py --write FILE   record it
  avx512_estimate.py --check FILE   also fail (exit 1) if a kernel is slower than its record
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from estimate import ROOT, check, fmt, mca, tool  # noqa: E402

FLAGS = ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mfma", "-mf16c"]  # kernels/CMakeLists.txt
MODELS = ["skylake-avx512", "sapphirerapids"]
# name: (call, elements per iteration: 0 = report cycles per iteration, else per
# element: exp2's elements, one-row P·V's keys)
KERNELS = {
    "qk_fp32_14x2": ("gemm_fp32_14x2<Epilogue::scale_store>(k, a, b, kNr, kNr, 0.5f, c, ld)", 0),
    "pv_fp32_14x2_direct": ("gemm_fp32_14x2<Epilogue::accumulate, false, true>(k, a, b, ld, kNv, 1.0f, c, ld, b + kPrefetchRows * ld)", 0),
    "qk_fp32_direct_12x2": ("qk_fp32_12x2_direct<false, float>(12, 8, k, a, ld, b, ld, 0.5f, c, ld, RowsAfter::none())", 0),
    "qk_fp32_few_rows_1": ("x86::qk_few_rows<kStreamAvx512InPage>(1, 8, k, a, ld, b, ld, 0.5f, c, ld, RowsAfter::none())", 0),
    # (one row: the loop with the most FMAs is the two-stream one, two keys an iteration)
    "pv_fp32_direct_rows_1": ("pv_fp32_14x2_direct_rows<x86::Prefetch::l1, float>(1, k, a, b, ld, 128, c, ld, true, RowsAfter::none())", 2),
    "pv_fp32_direct_rows_12": ("pv_fp32_14x2_direct_rows<x86::Prefetch::l1, float>(12, k, a, b, ld, 128, c, ld, true, RowsAfter::none())", 0),
    # bf16 K and V rows widened as loaded (a GQA group of 4 query heads, S4's 12 rows)
    "qk_bf16_direct_4x2": ("qk_fp32_12x2_direct<false, Bf16>(4, 8, k, a, ld, b, ld, 0.5f, c, ld, RowsAfter::none())", 0),
    "qk_bf16_direct_12x2": ("qk_fp32_12x2_direct<false, Bf16>(12, 8, k, a, ld, b, ld, 0.5f, c, ld, RowsAfter::none())", 0),
    "pv_bf16_direct_rows_4": ("pv_fp32_14x2_direct_rows<x86::Prefetch::l1, Bf16>(4, k, a, b, ld, 128, c, ld, true, RowsAfter::none())", 0),
    "pv_bf16_direct_rows_12": ("pv_fp32_14x2_direct_rows<x86::Prefetch::l1, Bf16>(12, k, a, b, ld, 128, c, ld, true, RowsAfter::none())", 0),
    "exp2_rows_accurate": ("exp2_rows_impl<Exp2Precision::accurate>(b, ld, kMr, k, m, sum, c)", 16),
    "exp2_rows_fast": ("exp2_rows_impl<Exp2Precision::fast>(b, ld, kMr, k, m, sum, c)", 16),
}
FMA = re.compile(r"^\s*vfn?m(add|sub)\d+ps\s")


def compile_entries(cxx, names, tmp, tag):
    """Compiles the kernels `names` in one file (one ATTNRT_MCA_ENTRY each);
    returns the assembly's lines."""
    src, asm = os.path.join(tmp, f"entries{tag}.cpp"), os.path.join(tmp, f"entries{tag}.s")
    with open(src, "w") as f:
        f.write('#include "bench/mca/avx512_region.cpp"\n')
        f.writelines(f"ATTNRT_MCA_ENTRY({n}, {KERNELS[n][0]})\n" for n in names)
    subprocess.run([cxx, "-std=c++20", "-O3", "-DNDEBUG", *FLAGS, "-ffp-contract=fast", "-fno-trapping-math",
                    "-I", ROOT, "-S", src, "-o", asm], check=True)
    return open(asm).readlines()


def loops(asm, name):
    """The one-block loops inside mca_entry_<name>, each a list of instruction lines."""
    entry = f"mca_entry_{name}"
    found, label, body, in_entry = [], None, [], False
    for line in asm:
        text = line.strip()
        if line.startswith(entry + ":"):
            in_entry = True
        elif not in_entry or not text or text.startswith(("#", "//", ".p2align", ".cfi")):
            continue
        elif text.startswith(".size") and entry in text:
            break
        elif re.match(r"^\.L\w+:$", text):
            label, body = text[:-1], []
        elif label:
            body.append(line)
            if text.startswith("j"):  # the block ends: a loop if it jumps back to its label
                if text.split()[-1] == label:
                    found.append(body)
                label = None
    if not found:
        sys.exit(f"avx512_estimate.py: {name}: no loop in {entry}")
    return found


def estimates():
    """{kernel@model: (cycles per iteration or element, % of FMA bound)}"""
    cxx = tool("g++")
    mca_bin = tool("llvm-mca-19", "llvm-mca-18", "llvm-mca-17", "llvm-mca-16", "llvm-mca-15", "llvm-mca")

    def kernel_rows(asm, name, elems, tmp):
        # Tails (rows, keys, columns) are loops too: the main one has the most FMAs.
        body = max(loops(asm, name), key=lambda b: sum(1 for l in b if FMA.match(l)))
        fmas = sum(1 for l in body if FMA.match(l))
        out = {}
        for model in MODELS:
            per_iter = mca(mca_bin, body, tmp, f"{name}.{model}", (f"-mcpu={model}",))
            out[f"{name}@{model}"] = (per_iter / elems if elems else per_iter, 100.0 * (fmas / 2) / per_iter)
        return out

    # The kernel sources are most of each compile's time: one compile per
    # core, each of a share of the kernels (a compile per kernel took 12x).
    workers = min(os.cpu_count() or 1, len(KERNELS))
    shares = [list(KERNELS)[i::workers] for i in range(workers)]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=workers) as pool:
        asm = {}
        for share, lines in zip(shares, pool.map(lambda i: compile_entries(cxx, shares[i], tmp, i), range(workers))):
            asm.update({n: lines for n in share})
        rows = {}
        for name, (_, elems) in KERNELS.items():  # rows kept in KERNELS' order
            rows.update(kernel_rows(asm[name], name, elems, tmp))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", metavar="FILE")
    ap.add_argument("--write", metavar="FILE")
    args = ap.parse_args()
    rows = estimates()
    lines = [fmt(n, v, p) for n, (v, p) in rows.items()]
    print("\n".join(lines))
    if args.write:
        with open(args.write, "w") as f:
            f.write("# llvm-mca estimates of the avx512 kernels (bench/mca/avx512_estimate.py): kernel@model,\n"
                    "# cycles per iteration (exp2: per element; one-row P·V: per key), % of FMA bound. Estimated, not measured.\n")
            f.write("\n".join(lines) + "\n")
    return check(rows, args.check) if args.check else 0


if __name__ == "__main__":
    sys.exit(main())
