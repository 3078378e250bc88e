#!/usr/bin/env python3
"""Per-key llvm-mca A64FX estimates (estimated, not measured) of the direct
K/V path against the packed one, from the loops of estimate.py's kernels
and each call's fixed cost (the whole call as one region less its loop
copies, as --model charges it). Loads hit L1; the K/V stream from memory is
not counted (a few rows are bound by it: 40 GB/s is 25.6 cycles per fp32
D=128 row at 2.0 GHz).

  Q·Kᵀ direct per key = (steps x loop + tile's fixed cost) / 8 keys
                        + Q packing / keys per call (224, S4's chunk)
                        + fp16: widening the K row (D / 32 loop steps)
  Q·Kᵀ packed per key = D x gather packing per element + strips x D x
                        loop / (tile keys)
  P·V direct per key  = slices x (loop + fixed cost / 32 keys per call)
                        (few rows: 4-vector column chunks the same way)
% of FMA bound: the useful FMAs (rows x D / 16 lanes / 2 pipes) over it.
"""
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import estimate  # noqa: E402
import model  # noqa: E402

VL = estimate.VL
KEYS_PER_CALL = 224
PV_KEYS_PER_CALL = model.PV_KEYS  # kernels/pipelines/strip.hpp, kDirectPvKeys (a strip alone)
QK = "qk_quad_tile<{g}>({rows}, k, static_cast<const float*>(a), static_cast<const float*>(b), ld, 8, 0.5f, c, ld)"
PACK = "pack_q_quads<{g}>(static_cast<const float*>(a), ld, {rows}, k, c)"
PV = {"8x3": "gemm_fp32_8x3_rows<Store::accumulate, false, RowLoad>(k, static_cast<const float*>(a), static_cast<const {t}*>(b), ld, svptrue_b32(), svptrue_b32(), svptrue_b32(), 1.0f, c, ld)",
      "12x2": "gemm_12x2_rows<float, Store::accumulate, false, RowLoad>(k, static_cast<const float*>(a), static_cast<const {t}*>(b), ld, svptrue_b32(), svptrue_b32(), 1.0f, c, ld)"}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        measure = estimate.measurer(tmp)

        def loop_and_fixed(name, call):
            # As model.py's Direct: less every loop copy the whole region
            # holds (a peeled last step, a tail step), counted by FMAs.
            loop, lines = measure(name, call)
            whole, wlines = measure(name, call, whole=True, iterations=100)
            copies = max(1, round(model.fmas(wlines) / model.fmas(lines)))
            return loop, max(whole - copies * loop, 0.0)

        widen = measure("widen", estimate.KERNELS["widen_fp16_to_fp32"][0])[0]  # per 2 vectors
        gather = estimate.mca  # (for the name only)
        pack_k = None
        print("# Q·Kᵀ direct, cycles per key (estimated)")
        print("rows D dtype cycles/key %FMA-bound")
        tiles = {}
        for g in (1, 2, 3):
            rows = 4 * g
            loop, fixed = loop_and_fixed(f"qk{g}", QK.format(g=g, rows=rows))
            pack, _ = measure(f"pack{g}", PACK.format(g=g, rows=rows))
            tiles[g] = (loop, fixed, pack)
        direct = {}
        for d in (128, 256):
            for dtype in ("fp32", "fp16"):
                for rows in (1, 4, 8, 12):
                    g = math.ceil(rows / 4)
                    loop, fixed, pack = tiles[g]
                    steps = d / (8 if g == 1 else 4)
                    per_key = (steps * loop + fixed) / 8 + (d / 4) * pack / KEYS_PER_CALL
                    if dtype == "fp16":
                        per_key += d / (2 * VL) * widen
                    bound = rows * d / VL / 2
                    direct[(rows, d, dtype)] = per_key
                    print(f"{rows} {d} {dtype} {per_key:.1f} {100 * bound / per_key:.1f}")
        for g, (loop, fixed, pack) in tiles.items():
            print(f"# tile of {g} row vector(s): loop {loop:.2f}, fixed {fixed:.1f} per 8 keys, Q packing {pack:.2f} per quad")
        print("# P·V direct, cycles per key (estimated; the tiles compute all mr rows)")
        print("tile dv dtype rows cycles/key %FMA-bound(rows)")
        for tile, mr, width in (("8x3", 8, 3), ("12x2", 12, 2)):
            for dtype, t in (("fp32", "float"), ("fp16", "Fp16")):
                loop, fixed = loop_and_fixed(f"pv{tile}{dtype}", PV[tile].format(t=t))
                for dv in (128, 256):
                    slices = math.ceil(dv / (width * VL))
                    per_key = slices * (loop + fixed / PV_KEYS_PER_CALL)
                    for rows in (1, 4, 8, 12):
                        if rows > mr:
                            continue
                        bound = rows * dv / VL / 2
                        print(f"{tile} {dv} {dtype} {rows} {per_key:.1f} {100 * bound / per_key:.1f}")
        print("# P·V direct on a strip's 1-4 real rows (pv_fp32_4x4_direct_rows), cycles per key (estimated)")
        print("rows dv dtype cycles/key %FMA-bound(rows)")
        for dtype, t in (("fp32", "float"), ("fp16", "Fp16")):
            for rows in (1, 4):
                call = f"pv_rows_4x4<{rows}>(k, static_cast<const float*>(a), 8, static_cast<const {t}*>(b), ld, 0, 64, c, ld, true, RowsAfter{{}}, kStreamSveA64fx.bytes_ahead)"
                loop, fixed = loop_and_fixed(f"pvr{rows}{dtype}", call)
                for dv in (128, 256):
                    per_key = math.ceil(dv / (4 * VL)) * (loop + fixed / PV_KEYS_PER_CALL)
                    print(f"{rows} {dv} {dtype} {per_key:.1f} {100 * rows * dv / VL / 2 / per_key:.1f}")
        print("# S4 (M=12 N=32768 D=256) Q·Kᵀ per key: packed (gather + tiles) against direct (estimated)")
        pack_el = measure("packk", estimate.KERNELS["pack_k_fp16_to_fp32"][0])[0] / VL
        for name, strips, tile_keys in (("sve512 8x3 (2 strips of 8)", 2, 3 * VL), ("12x2 (1 strip of 12)", 1, 2 * VL)):
            qk = strips * 256 * 12.022 / tile_keys
            for label, gather in (("A", pack_el), ("B", 8.0 / VL)):
                packed = 256 * gather + qk
                print(f"packed {name}, reading {label}: gather {256 * gather:.1f} + Q·Kᵀ {qk:.1f} = {packed:.1f}")
        for dtype in ("fp32", "fp16"):
            print(f"direct 12 rows {dtype}: {direct[(12, 256, dtype)]:.1f}")


if __name__ == "__main__":
    main()
