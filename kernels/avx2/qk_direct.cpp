// Q·Kᵀ with Q and K rows read in place (the direct K/V path): dot products
// along D instead of the packed kernel's outer products, so K needs no
// transpose. A tile of R rows x K keys keeps R x K ymm accumulators over D
// in 8-float steps (3 x 4: 12 accumulators + 3 Q vectors + 1 K vector = all
// 16 ymm registers), then one transposing hadd tree turns each row's K
// accumulators into K scalars.
//
// Loop order: keys outermost, in groups of K; each group's K rows come from
// memory once, for the first row tile, and from L1 for the others (Q, a
// row block of a few strips, stays in L1 throughout). A few rows (decode)
// are bound by memory and read K key after key instead (x86/few_rows.hpp,
// which the set's FewRowKernels::qk takes for up to kFewRowsMax rows with
// the stream settings of the CPU's row in kernels/tuning.hpp).
// fp16/bf16 K rows are widened as each vector is loaded (load8).
#include "kernels/x86/intrinsics.hpp"

#include <algorithm>
#include <cstdint>

#include "kernels/x86/few_rows.hpp"
#include "kernels/x86/lanes.hpp"
#include "kernels/avx2/ops.hpp"

namespace attnrt::kernels::avx2 {
using namespace x86;  // the 256-bit helpers shared with the avx512 folder
namespace {

// Lanes j of the result: the sum of the 8 lanes of v[j], j < 4.
inline __m128 sum_lanes_4(__m256 v0, __m256 v1, __m256 v2, __m256 v3) {
  const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(v0, v1), _mm256_hadd_ps(v2, v3));
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

// S[R x K] = alpha * Q[R x d]·K[K x d]ᵀ; if Paced, meanwhile `pf_rows` K
// rows from pf (row stride pf_ld) are prefetched, one cache line of each
// per 16 floats of d, so that the prefetches spread evenly over the FMAs. The last
// d % 8 columns are added after the accumulators are reduced, so that the
// main loop's accumulators never leave registers (a masked step among them
// needs one register more than a 3 x 4 tile has).
template <int R, int K, bool Paced, class T>
inline void qk_tile(int d, const float* q, std::int64_t ldq, const T* k, std::int64_t ldk,
                    float alpha, float* s, std::int64_t lds, const T* pf, std::int64_t pf_ld,
                    int pf_rows) {
  constexpr int kQuads = (K + 3) / 4;  // keys in fours: one __m128 of sums each
  __m256 acc[R][K];
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < K; ++j) acc[i][j] = _mm256_setzero_ps();
  const auto step = [&](int x) {
    __m256 qv[R];
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) qv[i] = _mm256_loadu_ps(q + i * ldq + x);
#pragma GCC unroll 8
    for (int j = 0; j < K; ++j) {
      const __m256 kv = load8(k + j * ldk + x);
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i) acc[i][j] = _mm256_fmadd_ps(qv[i], kv, acc[i][j]);
    }
  };
  int x = 0;
  if constexpr (Paced) {
    for (; x + 16 <= d; x += 16) {
      for (int j = 0; j < pf_rows; ++j)
        _mm_prefetch(reinterpret_cast<const char*>(pf + j * pf_ld + x), _MM_HINT_T0);
      step(x);
      step(x + 8);
    }
  }
  for (; x + 8 <= d; x += 8) step(x);
  const auto quad = [](const __m256* v, int n) {  // sums of v[0..n), n <= 4
    const __m256 z = _mm256_setzero_ps();
    return sum_lanes_4(v[0], n > 1 ? v[1] : z, n > 2 ? v[2] : z, n > 3 ? v[3] : z);
  };
  __m128 sum[R][kQuads];
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
    for (int g = 0; g < kQuads; ++g) sum[i][g] = quad(acc[i] + 4 * g, K - 4 * g);
  if (x < d) {
    const __m256i mask = first_lanes(d - x);
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      const __m256 qv = _mm256_maskload_ps(q + i * ldq + x, mask);
      __m256 t[K];
#pragma GCC unroll 8
      for (int j = 0; j < K; ++j) t[j] = _mm256_mul_ps(qv, load_tail(k + j * ldk + x, d - x, mask));
#pragma GCC unroll 2
      for (int g = 0; g < kQuads; ++g) sum[i][g] = _mm_add_ps(sum[i][g], quad(t + 4 * g, K - 4 * g));
    }
  }
  const __m128 scale = _mm_set1_ps(alpha);
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 2
    for (int g = 0; g < kQuads; ++g) {
      const __m128 v = _mm_mul_ps(sum[i][g], scale);
      float* out = s + i * lds + 4 * g;
      if (K - 4 * g >= 4) {
        _mm_storeu_ps(out, v);
      } else {
        alignas(16) float t[4];
        _mm_store_ps(t, v);
        for (int j = 0; j < K - 4 * g; ++j) out[j] = t[j];
      }
    }
}

// All `rows` rows against one group of K keys: row tiles of 3, then the
// rest. The K rows at pf (`pf_keys` of them, a later group) are prefetched
// meanwhile, shared out among the row tiles: K rows are ldk apart and a
// group reads K of them side by side, a pattern the hardware prefetchers
// follow late, and prefetches paced through the FMAs keep lines in flight
// without stalling the loads as a burst of them does.
template <int K, bool Paced, class T>
inline void qk_key_group(int rows, int d, const float* q, std::int64_t ldq, const T* k,
                         std::int64_t ldk, float alpha, float* s, std::int64_t lds,
                         const T* pf, int pf_keys) {
  const int tiles = (rows + 2) / 3;
  auto share = [&](int t, const T** p) {  // rows t, t + tiles, ... of the K ahead
    *p = pf + t * ldk;
    return t < pf_keys ? (pf_keys - t + tiles - 1) / tiles : 0;
  };
  int i = 0, t = 0;
  const T* p = nullptr;
  for (; i + 3 <= rows; i += 3, ++t) {
    const int n = share(t, &p);
    qk_tile<3, K, Paced>(d, q + i * ldq, ldq, k, ldk, alpha, s + i * lds, lds, p, tiles * ldk, n);
  }
  if (rows - i == 2) {
    const int n = share(t, &p);
    qk_tile<2, K, Paced>(d, q + i * ldq, ldq, k, ldk, alpha, s + i * lds, lds, p, tiles * ldk, n);
  }
  if (rows - i == 1) {
    const int n = share(t, &p);
    qk_tile<1, K, Paced>(d, q + i * ldq, ldq, k, ldk, alpha, s + i * lds, lds, p, tiles * ldk, n);
  }
}

// Key groups ahead whose rows are prefetched (measured on the Zen VM, M12
// N32768 D256: 2 as good as any of 1..8).
constexpr int kPrefetchGroups = 2;

template <int K, class T>
inline void qk_keys(int rows, int keys, int d, const float* q, std::int64_t ldq, const T* k,
                    std::int64_t ldk, float alpha, float* s, std::int64_t lds) {
  int j = 0;
  for (; j + K <= keys; j += K) {
    // (Within the call only: past a page's end the prefetches would be no
    // use; rows_ahead.hpp.)
    const int ahead = j + kPrefetchGroups * K;
    const int pf_keys = std::min(K, std::max(0, keys - ahead));
    qk_key_group<K, true>(rows, d, q, ldq, k + j * ldk, ldk, alpha, s + j, lds, k + ahead * ldk,
                          pf_keys);
  }
  for (; j < keys; ++j) qk_key_group<1, false>(rows, d, q, ldq, k + j * ldk, ldk, alpha, s + j, lds, k, 0);
}

}  // namespace

template <class T>
void qk_fp32_3x4_direct(int rows, int keys, int d, const float* q, std::int64_t ldq, const void* k_rows,
                        std::int64_t ldk, float alpha, float* s, std::int64_t lds, RowsAfter) {
  qk_keys<4>(rows, keys, d, q, ldq, static_cast<const T*>(k_rows), ldk, alpha, s, lds);
}
#define ATTNRT_QK_DIRECT(T) template void qk_fp32_3x4_direct<T>(int, int, int, const float*, std::int64_t, const void*, std::int64_t, float, float*, std::int64_t, RowsAfter);
ATTNRT_QK_DIRECT(float)
ATTNRT_QK_DIRECT(Fp16)
ATTNRT_QK_DIRECT(Bf16)
ATTNRT_QK_DIRECT(I8)
ATTNRT_QK_DIRECT(E4m3)
ATTNRT_QK_DIRECT(E5m2)
#undef ATTNRT_QK_DIRECT

}  // namespace attnrt::kernels::avx2
