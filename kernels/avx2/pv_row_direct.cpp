// P·V for a few query rows (decode: one row, or the query heads of a GQA
// group stacked) with V read in place: O[r][0..dv) is updated once per
// group of four keys, so V is read row after row (one stream the hardware
// prefetchers follow) and every FMA does useful work, where the 6-row
// micro-kernel would compute rows of padding and read V one 16-column slice
// of 16 rows per call.
//
// Per group of four keys and 8 columns: four V loads, then per row one O
// load and store and four FMAs; the rows x dv / 8 column vectors are
// independent chains. Measured on the Zen VM (V from DRAM, D128, against
// the 6x16 direct tile at 16 keys per call): one row streams V at the read
// loop's speed (the tile: about half), four rows 7.6-10.0 GB/s against
// 5.9-8.2.
#include <immintrin.h>

#include <cstdint>

#include "kernels/avx2/lanes.hpp"
#include "kernels/avx2/ops.hpp"

namespace attnrt::kernels::avx2 {
namespace {

// O[r][0..dv) (+)= Σ_j p[r][j]·V[j][0..dv) for the G keys of one group and
// rows r < R (O rows ldo apart).
template <int R, int G>
inline void add_keys(const __m256 (&p)[R][G], const float* v, std::int64_t ldv, int dv, float* o,
                     std::int64_t ldo, bool first) {
  const auto columns = [&](int c, __m256i mask, bool full) {
    __m256 vj[G];
#pragma GCC unroll 4
    for (int j = 0; j < G; ++j) vj[j] = full ? _mm256_loadu_ps(v + j * ldv + c) : _mm256_maskload_ps(v + j * ldv + c, mask);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      float* out = o + r * ldo + c;
      __m256 x = first ? _mm256_setzero_ps() : full ? _mm256_loadu_ps(out) : _mm256_maskload_ps(out, mask);
#pragma GCC unroll 4
      for (int j = 0; j < G; ++j) x = _mm256_fmadd_ps(p[r][j], vj[j], x);
      if (full)
        _mm256_storeu_ps(out, x);
      else
        _mm256_maskstore_ps(out, mask, x);
    }
  };
  int c = 0;
  for (; c + 8 <= dv; c += 8) columns(c, _mm256_setzero_si256(), true);
  if (c < dv) columns(c, first_lanes(dv - c), false);
}

// Row r's entry for key k in an A panel of kp keys (ops.hpp, kABlock):
// blocks of kABlock keys, each [kMr][w] with w = kABlock but for the last.
inline int entry(int r, int k, int kp) {
  const int block = k / kABlock * kABlock;
  const int w = kp - block < kABlock ? kp - block : kABlock;
  return block * kMr + r * w + k % kABlock;
}

template <int R>
void rows_direct(int kp, const float* pa, const float* v, std::int64_t ldv, int dv, float* o,
                 std::int64_t ldo, bool accumulate) {
  bool first = !accumulate;
  int k = 0;
  for (; k + 4 <= kp; k += 4, first = false) {
    for (int j = 0; j < 4; ++j)  // (prefetches never fault, past the last key too)
      for (int c = 0; c < dv; c += 16)
        _mm_prefetch(reinterpret_cast<const char*>(v + (k + kDirectRowsAhead + j) * ldv + c), _MM_HINT_T0);
    __m256 p[R][4];
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < 4; ++j) p[r][j] = _mm256_broadcast_ss(pa + entry(r, k + j, kp));
    add_keys<R, 4>(p, v + k * ldv, ldv, dv, o, ldo, first);
  }
  for (; k < kp; ++k, first = false) {
    __m256 p[R][1];
    for (int r = 0; r < R; ++r) p[r][0] = _mm256_broadcast_ss(pa + entry(r, k, kp));
    add_keys<R, 1>(p, v + k * ldv, ldv, dv, o, ldo, first);
  }
  if (first)  // no keys: init still means O = 0
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < dv; ++c) o[r * ldo + c] = 0.0f;
}

}  // namespace

void pv_fp32_rows_direct(int rows, int kp, const void* a, const float* v, std::int64_t ldv, int dv,
                         float* o, std::int64_t ldo, bool accumulate) {
  const float* pa = static_cast<const float*>(a);
  switch (rows) {
    case 1: return rows_direct<1>(kp, pa, v, ldv, dv, o, ldo, accumulate);
    case 2: return rows_direct<2>(kp, pa, v, ldv, dv, o, ldo, accumulate);
    case 3: return rows_direct<3>(kp, pa, v, ldv, dv, o, ldo, accumulate);
    default: return rows_direct<kDirectRowsMax>(kp, pa, v, ldv, dv, o, ldo, accumulate);
  }
}

}  // namespace attnrt::kernels::avx2
