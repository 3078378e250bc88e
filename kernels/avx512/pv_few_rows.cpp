// P·V for a few query rows (decode: one row, or the query heads of a GQA
// group stacked) with V read in place: the avx512 set's
// KernelSet::pv_direct_rows.
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

}  // namespace

void pv_fp32_few_rows(int rows, int kp, const void* a, const float* v, std::int64_t ldv, int dv,
                      float* o, std::int64_t ldo, bool accumulate) {
  if (rows == 1)
    return avx2::pv_few_rows<avx2::kZen4Stream, kMr, kABlock>(rows, kp, a, v, ldv, dv, o, ldo, accumulate);
  const float* pa = static_cast<const float*>(a);
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
