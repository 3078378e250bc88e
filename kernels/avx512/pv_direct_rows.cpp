// P·V of a strip's real rows (1 to 14) with V read in place: the avx512
// set's KernelSet::pv_direct_rows.
//
// Five rows or more (a skinny block, or a GQA group of 8 query heads) take
// the 14x2 micro-kernel cut to the real rows, 16 keys across all columns
// per pass as pv_direct_init does: a 12-row strip no longer pays for 14
// rows of FMAs (Zen 5 probe, M12 D256, V from DRAM: 30 against 33 ns per
// key; S4 below). Fewer rows (decode: one row, or a small GQA group) are
// bound by memory:
//
// One row takes the 256-bit loop shared with the avx2 set
// (kernels/avx2/few_rows.hpp): O in L1, updated key after key. Two to four
// rows would load and store O once per row and key that way, and on Zen 4
// four rows ran at 0.44 of a plain read of V (from DRAM, probe, medians of
// 11 alternating runs), three at 0.54, two at 0.69. Here O stays in
// registers over all the call's keys instead, two rows and 128 columns
// (2 x 8 zmm accumulators) per pass, V rows read whole in address order:
// four rows in two passes 0.74, three (two, then one) 0.76, two 0.87; the
// second pass reads the call's V block (nb keys) from L2. One row this way
// measured 0.72 against the L1 loop's 0.81, so it keeps that.
#include "kernels/avx512/intrinsics.hpp"

#include <algorithm>
#include <cstdint>

#include "kernels/avx2/few_rows.hpp"
#include "kernels/avx512/broadcast_fma.hpp"
#include "kernels/avx512/convert.hpp"
#include "kernels/avx512/gemm_fp32.hpp"
#include "kernels/avx512/ops.hpp"

namespace attnrt::kernels::avx512 {
namespace {

constexpr int kPassRows = 2;     // rows of O per pass
constexpr int kPassVectors = 8;  // 16-column vectors of O per pass (W <= this)

// O[r][0..cols) (+)= P·V over kp keys for the R rows of P from row r0,
// cols <= 16 W, O's R x W vectors in registers throughout (lanes past cols
// neither read nor written).
template <int R, int W>
void pass(int kp, const float* pa, int r0, const float* v, std::int64_t ldv, int cols, float* o,
          std::int64_t ldo, bool accumulate) {
  constexpr auto entry = avx2::a_panel_entry<kMr, kABlock>;  // (no template commas in macro arguments: SIMDe)
  __mmask16 lanes[W];
#pragma GCC unroll 8
  for (int c = 0; c < W; ++c) lanes[c] = first16(cols - 16 * c);
  __m512 acc[R][W];
#pragma GCC unroll 2
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < W; ++c)
      acc[r][c] = accumulate ? _mm512_maskz_loadu_ps(lanes[c], o + r * ldo + 16 * c) : _mm512_setzero_ps();
  for (int k = 0; k < kp; ++k) {
    const float* row = v + k * ldv;
    __m512 p[R];
#pragma GCC unroll 2
    for (int r = 0; r < R; ++r) p[r] = in_register(_mm512_set1_ps(pa[entry(r0 + r, k, kp)]));
#pragma GCC unroll 8
    for (int c = 0; c < W; ++c) {
      const __m512 x = _mm512_maskz_loadu_ps(lanes[c], row + 16 * c);
#pragma GCC unroll 2
      for (int r = 0; r < R; ++r) acc[r][c] = _mm512_fmadd_ps(p[r], x, acc[r][c]);
    }
  }
#pragma GCC unroll 2
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < W; ++c) _mm512_mask_storeu_ps(o + r * ldo + 16 * c, lanes[c], acc[r][c]);
}

// A pass of R rows over cols <= 16 kPassVectors columns: half the
// accumulators where half the columns do (D = 64).
template <int R>
void pass(int kp, const float* pa, int r0, const float* v, std::int64_t ldv, int cols, float* o,
          std::int64_t ldo, bool accumulate) {
  if (cols <= 8 * kPassVectors)
    pass<R, kPassVectors / 2>(kp, pa, r0, v, ldv, cols, o, ldo, accumulate);
  else
    pass<R, kPassVectors>(kp, pa, r0, v, ldv, cols, o, ldo, accumulate);
}

// The last w < kNv columns of O (+)= P·V over `keys` keys: the kernel
// writes whole vectors, and nothing of O past dv may be written, so the
// tile goes through a buffer (dv % kNv != 0 only: rare head dims).
template <int R>
void tail_columns(int keys, const float* a, const float* v, std::int64_t ldv, int w, float* o,
                  std::int64_t ldo, bool add) {
  alignas(64) float tile[R * kNv] = {};
  if (add)
    for (int r = 0; r < R; ++r) std::copy(o + r * ldo, o + r * ldo + w, tile + r * kNv);
  if (add)
    gemm_fp32_14x2<Epilogue::accumulate, true, true, R>(keys, a, v, ldv, w, 1.0f, tile, kNv);
  else
    gemm_fp32_14x2<Epilogue::store, true, true, R>(keys, a, v, ldv, w, 1.0f, tile, kNv);
  for (int r = 0; r < R; ++r) std::copy(tile + r * kNv, tile + r * kNv + w, o + r * ldo);
}

// R >= 5 rows: the micro-kernel's R x 32 tiles, kABlock keys (one block of
// the A panel) across all dv columns per pass, so V rows are read row after
// row and the next block's rows prefetched (kPrefetchRows).
template <int R>
void tile_rows(int kp, const float* pa, const float* v, std::int64_t ldv, int dv, float* o,
               std::int64_t ldo, bool accumulate) {
  if (kp == 0 && !accumulate)  // no keys: O = 0
    for (int r = 0; r < R; ++r) std::fill(o + r * ldo, o + r * ldo + dv, 0.0f);
  for (int k0 = 0; k0 < kp; k0 += kABlock) {
    const int keys = std::min(kABlock, kp - k0);
    const float* a = pa + k0 * kMr;
    const float* rows = v + k0 * ldv;
    const bool add = accumulate || k0 > 0;
    int c = 0;
    for (; c + kNv <= dv; c += kNv) {
      if (add)
        gemm_fp32_14x2<Epilogue::accumulate, false, true, R>(keys, a, rows + c, ldv, kNv, 1.0f, o + c, ldo);
      else
        gemm_fp32_14x2<Epilogue::store, false, true, R>(keys, a, rows + c, ldv, kNv, 1.0f, o + c, ldo);
    }
    if (c < dv) tail_columns<R>(keys, a, rows + c, ldv, dv - c, o + c, ldo, add);
  }
}

}  // namespace

void pv_fp32_direct_rows(int rows, int kp, const void* a, const float* v, std::int64_t ldv, int dv,
                         float* o, std::int64_t ldo, bool accumulate) {
  const float* pa = static_cast<const float*>(a);
  switch (rows) {
    case 1: return avx2::pv_few_rows<avx2::kZen4Stream, kMr, kABlock>(rows, kp, a, v, ldv, dv, o, ldo, accumulate);
    case 2: case 3: case 4: break;
    case 5: return tile_rows<5>(kp, pa, v, ldv, dv, o, ldo, accumulate);
    case 6: return tile_rows<6>(kp, pa, v, ldv, dv, o, ldo, accumulate);
    case 7: return tile_rows<7>(kp, pa, v, ldv, dv, o, ldo, accumulate);
    case 8: return tile_rows<8>(kp, pa, v, ldv, dv, o, ldo, accumulate);
    case 9: return tile_rows<9>(kp, pa, v, ldv, dv, o, ldo, accumulate);
    case 10: return tile_rows<10>(kp, pa, v, ldv, dv, o, ldo, accumulate);
    case 11: return tile_rows<11>(kp, pa, v, ldv, dv, o, ldo, accumulate);
    case 12: return tile_rows<12>(kp, pa, v, ldv, dv, o, ldo, accumulate);
    case 13: return tile_rows<13>(kp, pa, v, ldv, dv, o, ldo, accumulate);
    default: return tile_rows<kMr>(kp, pa, v, ldv, dv, o, ldo, accumulate);
  }
  constexpr int kPassCols = 16 * kPassVectors;
  for (int r0 = 0; r0 < rows; r0 += kPassRows)
    for (int c0 = 0; c0 < dv; c0 += kPassCols) {
      const int cols = std::min(kPassCols, dv - c0);
      float* out = o + r0 * ldo + c0;
      if (rows - r0 >= kPassRows)
        pass<kPassRows>(kp, pa, r0, v + c0, ldv, cols, out, ldo, accumulate);
      else
        pass<1>(kp, pa, r0, v + c0, ldv, cols, out, ldo, accumulate);
    }
}

}  // namespace attnrt::kernels::avx512
