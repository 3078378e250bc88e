// The fp32 GEMM micro-kernel of the avx512 sets: C[14 x 32] from an A panel
// of k columns in blocks of 16 ([14][16] row-major each, the last
// [14][k % 16]; kernel_set.hpp, a_block) and B rows [k][32] (row stride
// ldb), 28 zmm accumulators. One body serves Q·Kᵀ, P·V init and P·V
// accumulate through the epilogue parameter, and both B sources: packed
// panels (ldb = kNr, a constant once inlined) and the user's V rows read in
// place (the direct path: ldb = V's row stride, and MaskedB for the last
// Dv % 32 columns, whose B lanes past b_cols load as 0 so that C's padding
// columns come out 0; B elements of TB, fp16/bf16 V rows widened as each
// vector is loaded).
//
// Per k step: two B loads, 14 A broadcasts into a register (one per row,
// see broadcast_fma.hpp) and 28 FMAs: 16 loads per 14 FMA cycles, within
// two loads per cycle; 28 accumulators + 2 B + 1 broadcast registers of 32.
// Within a block the 14 broadcast offsets are the constants i * 64 bytes from one pointer that
// steps 4 bytes, so the A blocks cost the loop nothing (the old [k][14]
// panel stepped it 56 bytes) and spare exp2_rows and pack_q a 16x16
// transpose each. Panels are laid out so B rows are 64-byte aligned in the
// pipelines' workspace; unaligned-load instructions are used so a caller's
// unaligned panel (or V row) is slow rather than a crash.
#pragma once

#include "kernels/avx512/intrinsics.hpp"

#include <cstdint>

#include "kernels/avx512/broadcast_fma.hpp"
#include "kernels/avx512/convert.hpp"
#include "kernels/avx512/epilogue.hpp"
#include "kernels/avx512/ops.hpp"

namespace attnrt::kernels::avx512 {

// How far ahead (in k steps) B rows read in place are prefetched: V rows are
// a row stride apart, a stride the hardware prefetchers pick up late. The
// pipelines hand the direct P·V 16 keys per call to strips taking turns
// (strips_pv), 32 to a strip alone (strip_pv), so this is the next call's
// rows or the call's second half, as on avx2.
inline constexpr int kPrefetchRows = 16;

// B rows of T read in place kPrefetchRows ahead: int8 rows 4x as many, the
// same bytes ahead as fp32's.
template <class T>
inline constexpr int kPrefetchRowsOf = sizeof(T) == 1 ? 4 * kPrefetchRows : kPrefetchRows;

// Where B row p is: b + p·ldb (panels, or V rows of one run), or, for V
// rows of a block that straddles page pieces, one pointer per row (the
// block's rows listed, plus a column offset): read in place either way, in
// the same order, so the sums are the same bit for bit.
template <class TB>
struct StridedRows {
  const TB* b;
  std::int64_t ld;
  const TB* operator()(int p) const { return b + p * ld; }
};
template <class TB>
struct ListedRows {
  const TB* const* rows;
  int col;
  const TB* operator()(int p) const { return rows[p] + col; }
};

// Rows < kMr: only the first Rows rows of the A panel are read and of C
// written (P·V of a strip's real rows, FewRowKernels::pv_rows).
// InPlaceB: B rows read in place, and with B row p the lines pf_off bytes
// on prefetched (gemm_fp32_14x2: row p at pf, ldb apart): the rows
// kPrefetchRowsOf<TB> ahead, wherever they are (a paged cache's next page),
// or B's own (no traffic); into L1, or only L2 with PfIntoL2
// (StreamParams::into_l2).
template <Epilogue E, bool MaskedB = false, bool InPlaceB = false, int Rows = kMr, class TB = float,
          bool PfIntoL2 = false, class RowOf = StridedRows<TB>>
static inline void gemm_fp32_14x2_rows(int k, const float* __restrict a, RowOf row_of, int b_cols, float alpha,
                                       float* __restrict c, std::int64_t ldc, std::intptr_t pf_off = 0) {
  [[maybe_unused]] __mmask16 mask0 = 0, mask1 = 0;
  if constexpr (MaskedB) {
    mask0 = first16(b_cols);
    mask1 = first16(b_cols - 16);
  }
  __m512 acc[Rows][2];
  for (int i = 0; i < Rows; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  // Column `col` of a block of width w: row i at col[i * w]; B row p at row_of(p).
  const auto step = [&](const float* col, int w, int p) {
    const TB* row = row_of(p);
    if constexpr (InPlaceB) {  // the 64-byte lines (two of fp32) of pf's row p
#pragma GCC unroll 2
      for (unsigned x = 0; x < 32 * sizeof(TB); x += 64)
        _mm_prefetch(reinterpret_cast<const char*>(row) + pf_off + x, PfIntoL2 ? _MM_HINT_T1 : _MM_HINT_T0);
    }
    __m512 b0, b1;
    if constexpr (MaskedB) {
      b0 = load16_lanes(row, mask0);
      b1 = load16_lanes(row + 16, mask1);
    } else {  // (a constant full mask compiles to a plain load)
      b0 = load16_lanes(row, 0xffff);
      b1 = load16_lanes(row + 16, 0xffff);
    }
#pragma GCC unroll 14
    for (int i = 0; i < Rows; ++i) {
      const __m512 x = broadcast(col + i * w);
      acc[i][0] = _mm512_fmadd_ps(x, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(x, b1, acc[i][1]);
    }
  };
  // Not unrolled: 28 independent multiply-adds per step already hide the
  // latency, and unrolling made GCC 12 spill accumulators.
  int p = 0;
#pragma GCC unroll 1
  for (; p + kABlock <= k; p += kABlock) {
#pragma GCC unroll 1
    for (int j = 0; j < kABlock; ++j) step(a + p * kMr + j, kABlock, p + j);
  }
#pragma GCC unroll 1
  for (int j = 0, w = k - p; j < w; ++j) step(a + p * kMr + j, w, p + j);
  store_tile<E>(acc, alpha, c, ldc);
}

// B rows at b, ldb apart; with InPlaceB, pf's row p prefetched as B row p
// is read: one invariant byte offset from it (base + index addressing:
// stepping a second pointer per row cost decode 2%).
template <Epilogue E, bool MaskedB = false, bool InPlaceB = false, int Rows = kMr, class TB = float,
          bool PfIntoL2 = false>
static inline void gemm_fp32_14x2(int k, const float* __restrict a, const TB* __restrict b,
                                  std::int64_t ldb, int b_cols, float alpha, float* __restrict c,
                                  std::int64_t ldc, const TB* pf = nullptr) {
  const std::intptr_t pf_off = reinterpret_cast<std::intptr_t>(pf) - reinterpret_cast<std::intptr_t>(b);
  gemm_fp32_14x2_rows<E, MaskedB, InPlaceB, Rows, TB, PfIntoL2>(k, a, StridedRows<TB>{b, ldb}, b_cols, alpha, c,
                                                                 ldc, pf_off);
}

// f.template operator()<R>() for R = rows, 1 <= rows <= kMr: the Rows of
// gemm_fp32_14x2 that a strip's real rows take.
template <class F>
static inline void with_rows(int rows, F&& f) {
  switch (rows) {
    case 1: return f.template operator()<1>();
    case 2: return f.template operator()<2>();
    case 3: return f.template operator()<3>();
    case 4: return f.template operator()<4>();
    case 5: return f.template operator()<5>();
    case 6: return f.template operator()<6>();
    case 7: return f.template operator()<7>();
    case 8: return f.template operator()<8>();
    case 9: return f.template operator()<9>();
    case 10: return f.template operator()<10>();
    case 11: return f.template operator()<11>();
    case 12: return f.template operator()<12>();
    case 13: return f.template operator()<13>();
    default: return f.template operator()<kMr>();
  }
}

}  // namespace attnrt::kernels::avx512
