// In-register transposes of 8-lane fp32 blocks, for packing panels and for
// writing the P panel: rows of the user's matrix become k-columns of a panel.
#pragma once

#include <immintrin.h>

namespace attnrt::kernels::avx2 {

// r[0..7] hold rows; afterwards r[j] holds column j.
static inline void transpose8x8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// Six rows r[0..5] -> eight columns c[0..7] whose lanes 0..5 are the rows
// (lanes 6, 7 are left over, not zero). Cheaper than the 8x8 transpose:
// rows 4-5 need no second shuffle stage.
static inline void transpose6x8(const __m256 r[6], __m256 c[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
  // Columns 0/4 of rows 4-5 are lanes 0-1 of t4 (each 128-bit half), columns 1/5 lanes 2-3.
  const __m256 v1 = _mm256_shuffle_ps(t4, t4, 0xee), v3 = _mm256_shuffle_ps(t5, t5, 0xee);
  c[0] = _mm256_permute2f128_ps(u0, t4, 0x20);
  c[1] = _mm256_permute2f128_ps(u1, v1, 0x20);
  c[2] = _mm256_permute2f128_ps(u2, t5, 0x20);
  c[3] = _mm256_permute2f128_ps(u3, v3, 0x20);
  c[4] = _mm256_permute2f128_ps(u0, t4, 0x31);
  c[5] = _mm256_permute2f128_ps(u1, v1, 0x31);
  c[6] = _mm256_permute2f128_ps(u2, t5, 0x31);
  c[7] = _mm256_permute2f128_ps(u3, v3, 0x31);
}

// Stores lanes 0..5 of v (one column of a 6-row panel) without touching the
// two floats after them.
static inline void store6(float* dst, __m256 v) {
  _mm_storeu_ps(dst, _mm256_castps256_ps128(v));
  _mm_storel_pi(reinterpret_cast<__m64*>(dst + 4), _mm256_extractf128_ps(v, 1));
}

// Stores columns c[0..n) of a 6-row panel at dst (column j at dst + 6j).
// All but the last are written as whole vectors whose two extra lanes land
// on the next column and are overwritten by it; stores retire in program
// order, so only the last column needs the narrow store.
static inline void store_columns6(float* dst, const __m256 c[8], int n) {
  for (int j = 0; j + 1 < n; ++j) _mm256_storeu_ps(dst + 6 * j, c[j]);
  store6(dst + 6 * (n - 1), c[n - 1]);
}

}  // namespace attnrt::kernels::avx2
