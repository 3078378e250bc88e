// P·V for one query row (decode) with V read in place: O[0][0..dv) is
// updated once per group of four keys, so V is read row after row (one
// stream the hardware prefetchers follow) and every FMA does useful work,
// where the 6-row micro-kernel would compute five rows of padding and read
// V one 16-column slice of every row per call.
//
// Per group of four keys and 8 columns: four V loads, one O load and store,
// four FMAs; the dv / 8 column vectors are independent chains.
#include <immintrin.h>

#include <cstdint>

#include "kernels/avx2/lanes.hpp"
#include "kernels/avx2/ops.hpp"

namespace attnrt::kernels::avx2 {
namespace {

// V rows prefetched ahead of the group in use: the loop is bound by memory,
// and the hardware prefetchers alone keep too few lines in flight (measured
// on the Zen VM, B4 H32 M1 N4096 D128: about 12% fewer cycles per call than
// none; 16 rows ahead was no better).
constexpr int kRowsAhead = 8;

// O[0..dv) (+)= Σ_j p[j]·V[j][0..dv) for the G keys of one group.
template <int G>
inline void add_keys(const __m256 (&p)[G], const float* v, std::int64_t ldv, int dv, float* o,
                     bool first) {
  int c = 0;
  for (; c + 8 <= dv; c += 8) {
    __m256 x = first ? _mm256_setzero_ps() : _mm256_loadu_ps(o + c);
    for (int j = 0; j < G; ++j) x = _mm256_fmadd_ps(p[j], _mm256_loadu_ps(v + j * ldv + c), x);
    _mm256_storeu_ps(o + c, x);
  }
  if (c < dv) {
    const __m256i mask = first_lanes(dv - c);
    __m256 x = first ? _mm256_setzero_ps() : _mm256_maskload_ps(o + c, mask);
    for (int j = 0; j < G; ++j) x = _mm256_fmadd_ps(p[j], _mm256_maskload_ps(v + j * ldv + c, mask), x);
    _mm256_maskstore_ps(o + c, mask, x);
  }
}

// Row 0's entry for key k in an A panel (ops.hpp, kABlock): the first row
// of the key's block, whatever that block's width.
inline int row0(int k) { return k / kABlock * kABlock * kMr + k % kABlock; }

}  // namespace

void pv_fp32_row_direct(int kp, const void* a, const float* v, std::int64_t ldv, int dv, float* o,
                        bool accumulate) {
  const float* pa = static_cast<const float*>(a);  // row 0 of the A panel
  bool first = !accumulate;
  int k = 0;
  for (; k + 4 <= kp; k += 4, first = false) {
    for (int j = 0; j < 4; ++j)  // (prefetches never fault, past the last key too)
      for (int c = 0; c < dv; c += 16)
        _mm_prefetch(reinterpret_cast<const char*>(v + (k + kRowsAhead + j) * ldv + c), _MM_HINT_T0);
    const __m256 p[4] = {_mm256_broadcast_ss(pa + row0(k)), _mm256_broadcast_ss(pa + row0(k + 1)),
                         _mm256_broadcast_ss(pa + row0(k + 2)), _mm256_broadcast_ss(pa + row0(k + 3))};
    add_keys<4>(p, v + k * ldv, ldv, dv, o, first);
  }
  for (; k < kp; ++k, first = false) {
    const __m256 p[1] = {_mm256_broadcast_ss(pa + row0(k))};
    add_keys<1>(p, v + k * ldv, ldv, dv, o, first);
  }
  if (first)  // no keys: init still means O = 0
    for (int c = 0; c < dv; ++c) o[c] = 0.0f;
}

}  // namespace attnrt::kernels::avx2
