// In-register transpose of a 16x16 block of 32-bit elements (fp32 values, or
// bf16 pairs seen as one 32-bit element): rows of the user's matrix become
// k-columns of a panel.
#pragma once

#include "kernels/avx512/intrinsics.hpp"

namespace attnrt::kernels::avx512 {

// r[0..15] hold rows; afterwards r[j] holds column j.
static inline void transpose16x16(__m512 r[16]) {
  // 1: pairs of rows interleaved per 128-bit lane (columns 4L, 4L+1 / 4L+2, 4L+3).
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  // 2: u[4g + k], lane L = rows 4g..4g+3 of column 4L + k.
  __m512 u[16];
  for (int g = 0; g < 16; g += 4) {
    const __m512d a = _mm512_castps_pd(t[g]), b = _mm512_castps_pd(t[g + 1]);
    const __m512d c = _mm512_castps_pd(t[g + 2]), d = _mm512_castps_pd(t[g + 3]);
    u[g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // 3 and 4: gather lane L of the four row groups into column 4L + k.
  for (int k = 0; k < 4; ++k) {
    const __m512 a = _mm512_shuffle_f32x4(u[k], u[4 + k], 0x88);       // g0 L0, g0 L2, g1 L0, g1 L2
    const __m512 b = _mm512_shuffle_f32x4(u[k], u[4 + k], 0xdd);       // g0 L1, g0 L3, g1 L1, g1 L3
    const __m512 c = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0x88);  // g2 ..., g3 ...
    const __m512 d = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0xdd);
    r[k] = _mm512_shuffle_f32x4(a, c, 0x88);       // lane 0 of every group
    r[k + 8] = _mm512_shuffle_f32x4(a, c, 0xdd);   // lane 2
    r[k + 4] = _mm512_shuffle_f32x4(b, d, 0x88);   // lane 1
    r[k + 12] = _mm512_shuffle_f32x4(b, d, 0xdd);  // lane 3
  }
}

}  // namespace attnrt::kernels::avx512
