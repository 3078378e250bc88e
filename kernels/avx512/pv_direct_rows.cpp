// P·V of a strip's real rows (1 to 14) with V read in place: the avx512
// set's FewRowKernels::pv_rows. One row takes pv_row.hpp's loop, every
// other count the 14x2 micro-kernel cut to the real rows (gemm_fp32.hpp,
// Rows), 16 keys across all columns per pass, V rows read in address order
// with the next pass's rows prefetched; fp16/bf16 rows widened as each
// vector is loaded.
//
// Measured on Zen 5 (full-width 512-bit FMAs), attnrt-ab, 10-12 pairs,
// against what served these rows before: a 12-row strip (S4, B1 H2 M12
// N32768 D256) 1.061x over the full 14-row tile (probe, V from DRAM: 30
// against 33 ns per key); GQA decode B4 H32 M1 N4096 D128 with 4 and 2
// rows per KV head (H32/8, H32/16) 1.473x and 1.370x over passes holding
// two rows by 128 columns of O in registers (Zen 4's choice there: 0.74 and
// 0.87 of a plain read of V); one row (decode, S5) 1.027x over the 256-bit
// loop of kernels/x86/few_rows.hpp that Zen 4 preferred (since replaced by
// pv_row.hpp, which keeps the row's O in registers).
#include "kernels/avx512/intrinsics.hpp"

#include <algorithm>
#include <cstdint>

#include "kernels/avx512/gemm_fp32.hpp"
#include "kernels/avx512/ops.hpp"
#include "kernels/avx512/pv_row.hpp"
#include "kernels/rows_ahead.hpp"

namespace attnrt::kernels::avx512 {
namespace {

// The last w < kNv columns of O (+)= P·V over `keys` keys (B rows at
// v(p)): the kernel writes whole vectors, and nothing of O past dv may be
// written, so the tile goes through a buffer (dv % kNv != 0 only: rare
// head dims), which starts as O's columns or zeros.
template <int R, bool PfIntoL2, class T, class RowOf>
void tail_columns(int keys, const float* a, RowOf v, int w, float* o, std::int64_t ldo, bool add,
                  std::intptr_t pf_off) {
  alignas(64) float tile[R * kNv] = {};
  if (add)
    for (int r = 0; r < R; ++r) std::copy(o + r * ldo, o + r * ldo + w, tile + r * kNv);
  gemm_fp32_14x2_rows<Epilogue::accumulate, true, true, R, T, PfIntoL2>(keys, a, v, w, 1.0f, tile, kNv, pf_off);
  for (int r = 0; r < R; ++r) std::copy(tile + r * kNv, tile + r * kNv + w, o + r * ldo);
}

// The `keys` rows from `ahead` on prefetched, dv columns each: a block
// ahead that the tiles' own prefetches (one offset from each row they read)
// cannot reach, such as one that straddles pieces (pages of fewer keys
// than a block).
template <bool IntoL2, class T>
void prefetch_rows(RowWalk<T> ahead, int keys, int dv) {
  for (int i = 0; i < keys; ++i, ahead.step()) x86::prefetch_lines<IntoL2>(ahead.row(), dv);
}

// Rows a tile prefetches ahead: kPrefetchRowsOf<T>, but twice as many
// 2- and 4-byte rows where the CPU's row leaves dense ones to the hardware
// (RowsAfter::by_hardware: Zen 4). Zen 4 VM, attnrt-ab S5 with 8 KV heads
// (four rows a call), 12-16 pairs: bf16 1.035 (two threads 1.020), fp16
// 1.022, fp32 1.016 (1.037); int8 rows 0.981, four times as far 1.009
// (fp32) and 1.020 (bf16), none at all 0.73 and 0.84.
template <class T>
int tile_rows_ahead(RowsAfter next) {
  return sizeof(T) > 1 && next.by_hardware ? 2 * kPrefetchRowsOf<T> : kPrefetchRowsOf<T>;
}

// R rows: the micro-kernel's R x 32 tiles, kABlock keys (one block of
// the A panel) across all dv columns per pass, so V rows are read row after
// row and the rows tile_rows_ahead on prefetched: past the call's rows
// where they follow in memory, or in next's runs. A spanning call's blocks
// read their rows in place, listed (gemm_fp32.hpp's ListedRows), whether
// one piece holds them or several (pages of fewer keys than a block, or a
// call starting inside one).
template <int R, bool IntoL2, class T>
void tile_rows(int kp, const float* pa, const T* v, std::int64_t ldv, int dv, float* o,
               std::int64_t ldo, bool accumulate, RowsAfter next) {
  if (kp == 0 && !accumulate)  // no keys: O = 0
    for (int r = 0; r < R; ++r) std::fill(o + r * ldo, o + r * ldo + dv, 0.0f);
  const int own = rows_in_place(kp, next);
  RowWalk<T> row(v, ldv, own, next), ahead(v, ldv, own, next, tile_rows_ahead<T>(next));
  for (int k0 = 0; k0 < kp; k0 += kABlock) {
    const int keys = std::min(kABlock, kp - k0);
    const float* a = pa + k0 * kMr;
    const bool add = accumulate || k0 > 0;
    // The block ahead prefetched by the tiles, at one offset from each row
    // they read, where both blocks lie whole in pieces of one stride; else
    // here, row by row.
    const bool whole = row.rows_left() >= keys;
    const bool in_tiles = whole && ahead.rows_left() >= keys && ahead.ld() == row.ld();
    if (!in_tiles) prefetch_rows<IntoL2>(ahead, keys, dv);
    const std::intptr_t pf_off =
        in_tiles ? reinterpret_cast<std::intptr_t>(ahead.row()) - reinterpret_cast<std::intptr_t>(row.row()) : 0;
    // Every kNv columns of the block, B rows as rows_of(c) gives them.
    const auto columns = [&](auto rows_of, std::intptr_t pf) {
      for (int c = 0; c < dv; c += kNv) {
        const auto v_c = rows_of(c);
        if (dv - c < kNv)
          tail_columns<R, IntoL2, T>(keys, a, v_c, dv - c, o + c, ldo, add, pf);
        else if (add)
          gemm_fp32_14x2_rows<Epilogue::accumulate, false, true, R, T, IntoL2>(keys, a, v_c, kNv, 1.0f, o + c, ldo, pf);
        else
          gemm_fp32_14x2_rows<Epilogue::store, false, true, R, T, IntoL2>(keys, a, v_c, kNv, 1.0f, o + c, ldo, pf);
      }
    };
    if (whole) {
      columns([&](int c) { return StridedRows<T>{row.row() + c, row.ld()}; }, pf_off);
    } else {
      // Rows in several pieces, listed and read in place (a pointer load a
      // key, which whole blocks spare: S4's 12-row tiles ran 0.94x so).
      // Copying such a block first, as before, cost GQA decode in pages of
      // 4 or 8 keys 1.15-1.2x; zeroing O to take the adding kernel alone
      // here (half the code) ~1.1x in pages of 4 (see the commit).
      const T* listed[kABlock];
      RowWalk<T> at = row;
      for (int i = 0; i < keys; ++i, at.step()) listed[i] = at.row();
      columns([&](int c) { return ListedRows<T>{listed, c}; }, 0);
    }
    row.skip(keys);
    ahead.skip(keys);
  }
}

}  // namespace

template <x86::Prefetch P, class T>
void pv_fp32_14x2_direct_rows(int rows, int kp, const void* a, const void* v, std::int64_t ldv, int dv,
                              float* o, std::int64_t ldo, bool accumulate, RowsAfter next) {
  const float* pa = static_cast<const float*>(a);
  const T* vt = static_cast<const T*>(v);
  if (rows == 1) return pv_one_row<P>(kp, pa, vt, ldv, dv, o, accumulate, next);
  with_rows(rows, [&]<int R>() {  // (the tiles prefetch into L1 or L2 only: two builds, not three)
    if constexpr (R > 1) tile_rows<R, P == x86::Prefetch::l2>(kp, pa, vt, ldv, dv, o, ldo, accumulate, next);
  });
}
#define ATTNRT_PV_DIRECT_ROWS_TO(P, T)                                                                          \
  template void pv_fp32_14x2_direct_rows<x86::Prefetch::P, T>(int, int, const void*, const void*, std::int64_t, \
                                                              int, float*, std::int64_t, bool, RowsAfter);
#define ATTNRT_PV_DIRECT_ROWS(T)     \
  ATTNRT_PV_DIRECT_ROWS_TO(l1, T)    \
  ATTNRT_PV_DIRECT_ROWS_TO(l2, T)    \
  ATTNRT_PV_DIRECT_ROWS_TO(l1_and_l2, T)
// fp8's instantiations are compiled in a unit of their own (pv_direct_rows_fp8.cpp):
// GCC's inlining and register allocation in one unit depend on all it
// instantiates, and beside them the fp16 tiles came out slower (S5 with 8
// KV heads, fp16, 1 thread: 0.93x, attnrt-ab, Zen 5).
#if !ATTNRT_AVX512_FP8_UNIT
ATTNRT_PV_DIRECT_ROWS(float)
ATTNRT_PV_DIRECT_ROWS(Fp16)
ATTNRT_PV_DIRECT_ROWS(Bf16)
ATTNRT_PV_DIRECT_ROWS(I8)
#else
ATTNRT_PV_DIRECT_ROWS(E4m3)
ATTNRT_PV_DIRECT_ROWS(E5m2)
#endif
#undef ATTNRT_PV_DIRECT_ROWS

}  // namespace attnrt::kernels::avx512
