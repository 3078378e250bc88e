// Q·Kᵀ with Q and K rows read in place (the direct K/V path): dot products
// along D instead of the packed kernel's outer products, so K needs no
// transpose. A tile of R rows x 8 keys keeps R x 8 zmm accumulators over D
// in 16-float steps (3 x 8: 24 accumulators + 3 Q vectors + 1 K vector = 28
// of the 32 zmm; 11 loads per 24 FMAs: llvm-mca, skylake-avx512, estimates
// 12.0 cycles per step, the FMA bound), then one transposing reduction tree
// per row (sum_lanes_8: 16 shuffles and 8 adds) turns its 8 accumulators
// into 8 scores stored with one masked store.
//
// Loop order: keys outermost, in groups of 8; each group's K rows come from
// memory once, for the first row tile, and from L1 for the others (Q, a row
// block of a few strips, stays in L1 throughout). The last group of a key
// count that is not a multiple of 8 reads its last key again in place of
// the missing ones and stores only the real scores, so every group runs the
// same 8-chain code (no latency-bound key-at-a-time tail). A few rows
// (decode) are bound by memory and read K key after key on 256-bit vectors
// instead (kernels/avx2/few_rows.hpp).
#include "kernels/avx512/intrinsics.hpp"

#include <algorithm>
#include <cstdint>

#include "kernels/avx2/few_rows.hpp"
#include "kernels/avx512/broadcast_fma.hpp"
#include "kernels/avx512/convert.hpp"
#include "kernels/avx512/ops.hpp"

namespace attnrt::kernels::avx512 {
namespace {

constexpr int kKeys = 8;  // keys per group: 8 accumulator chains cover the FMA latency

// Lane j < 8 of the result: the sum of the 16 lanes of v[j] (lanes 8-15
// are left over, not zero).
inline __m512 sum_lanes_8(const __m512 (&v)[kKeys]) {
  // 1: 256-bit halves of each pair added: x[i] holds 8 partial sums of
  //    v[2i] in its low half and of v[2i + 1] in its high half.
  __m512 x[4];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i)
    x[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44),
                         _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xee));
  // 2: 128-bit lane L of y[g] holds 4 partial sums of v[4g + L].
  __m512 y[2];
#pragma GCC unroll 2
  for (int g = 0; g < 2; ++g)
    y[g] = _mm512_add_ps(_mm512_shuffle_f32x4(x[2 * g], x[2 * g + 1], 0x88),
                         _mm512_shuffle_f32x4(x[2 * g], x[2 * g + 1], 0xdd));
  // 3: lane L of z: 2 partial sums of v[L], then 2 of v[4 + L].
  const __m512 z = _mm512_add_ps(_mm512_shuffle_ps(y[0], y[1], 0x44), _mm512_shuffle_ps(y[0], y[1], 0xee));
  // 4: lane L of t: [v[L], v[L], v[4 + L], v[4 + L]]; gathered in key order.
  const __m512 t = _mm512_add_ps(z, _mm512_shuffle_ps(z, z, 0xb1));
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_permutexvar_ps(order, t);
}

// S[R x n] = alpha * Q[R x d]·K[n x d]ᵀ for the group of keys at k[0..8)
// (rows of the user's K; n <= 8 of them are real, the rest repeat one).
// Meanwhile `pf_rows` K rows from pf (row stride pf_ld) are prefetched, one
// cache line of each per 16-float step of d, so that the prefetches spread
// evenly over the FMAs.
template <int R>
inline void qk_tile(int d, const float* q, std::int64_t ldq, const float* const (&k)[kKeys], int n,
                    float alpha, float* s, std::int64_t lds, const float* pf, std::int64_t pf_ld,
                    int pf_rows) {
  // (Every loop over the tile fully unrolled, so GCC keeps it in registers.)
  __m512 acc[R][kKeys];
#pragma GCC unroll 3
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < kKeys; ++j) acc[i][j] = _mm512_setzero_ps();
  const auto step = [&](int x, __mmask16 lanes) {
    __m512 qv[R];
#pragma GCC unroll 3
    for (int i = 0; i < R; ++i) qv[i] = _mm512_maskz_loadu_ps(lanes, q + i * ldq + x);
#pragma GCC unroll 8
    for (int j = 0; j < kKeys; ++j) {
      const __m512 kv = in_register(_mm512_maskz_loadu_ps(lanes, k[j] + x));
#pragma GCC unroll 3
      for (int i = 0; i < R; ++i) acc[i][j] = _mm512_fmadd_ps(qv[i], kv, acc[i][j]);
    }
  };
  int x = 0;
  for (; x + 16 <= d; x += 16) {
    for (int j = 0; j < pf_rows; ++j)
      _mm_prefetch(reinterpret_cast<const char*>(pf + j * pf_ld + x), _MM_HINT_T0);
    step(x, 0xffff);
  }
  if (x < d) step(x, first16(d - x));  // lanes past d read nothing and add 0
  const __m512 scale = _mm512_set1_ps(alpha);
#pragma GCC unroll 3
  for (int i = 0; i < R; ++i) _mm512_mask_storeu_ps(s + i * lds, first16(n), _mm512_mul_ps(sum_lanes_8(acc[i]), scale));
}

// Key groups ahead whose rows are prefetched: K rows are ldk apart, and a
// group reads 8 of them side by side, a pattern the hardware prefetchers
// follow late (the avx2 set's distance).
constexpr int kPrefetchGroups = 2;

// All `rows` rows against one group of keys: row tiles of 3, then the rest.
// The K rows at pf (`pf_keys` of them, a later group) are shared out among
// the row tiles and prefetched paced through their FMAs: a burst of 128
// prefetches (8 rows of D = 256) waits on the line fill buffers and stalls
// the loads behind it (M12 N32768 D256 on Ice Lake-SP: the burst held Q·Kᵀ
// at twice P·V's time for the same bytes).
inline void qk_key_group(int rows, int d, const float* q, std::int64_t ldq,
                         const float* const (&group)[kKeys], int n, float alpha, float* s,
                         std::int64_t lds, const float* pf, std::int64_t ldk, int pf_keys) {
  const int tiles = (rows + 2) / 3;
  const auto share = [&](int t) { return t < pf_keys ? (pf_keys - t + tiles - 1) / tiles : 0; };
  int i = 0, t = 0;
  for (; i + 3 <= rows; i += 3, ++t)
    qk_tile<3>(d, q + i * ldq, ldq, group, n, alpha, s + i * lds, lds, pf + t * ldk, tiles * ldk, share(t));
  if (rows - i == 2)
    qk_tile<2>(d, q + i * ldq, ldq, group, n, alpha, s + i * lds, lds, pf + t * ldk, tiles * ldk, share(t));
  if (rows - i == 1)
    qk_tile<1>(d, q + i * ldq, ldq, group, n, alpha, s + i * lds, lds, pf + t * ldk, tiles * ldk, share(t));
}

void qk_keys(int rows, int keys, int d, const float* q, std::int64_t ldq, const float* k,
             std::int64_t ldk, float alpha, float* s, std::int64_t lds) {
  for (int j0 = 0; j0 < keys; j0 += kKeys) {
    const int n = std::min(kKeys, keys - j0);
    const int ahead = j0 + kPrefetchGroups * kKeys;
    const int pf_keys = std::clamp(keys - ahead, 0, kKeys);
    const float* group[kKeys];
    for (int j = 0; j < kKeys; ++j) group[j] = k + (j0 + std::min(j, n - 1)) * ldk;
    qk_key_group(rows, d, q, ldq, group, n, alpha, s + j0, lds, k + ahead * ldk, ldk, pf_keys);
  }
}

}  // namespace

void qk_fp32_direct(int rows, int keys, int d, const float* q, std::int64_t ldq, const float* k,
                    std::int64_t ldk, float alpha, float* s, std::int64_t lds) {
  if (rows <= avx2::kFewRowsMax)
    avx2::qk_few_rows<avx2::kZen4Stream>(rows, keys, d, q, ldq, k, ldk, alpha, s, lds);
  else
    qk_keys(rows, keys, d, q, ldq, k, ldk, alpha, s, lds);
}

}  // namespace attnrt::kernels::avx512
