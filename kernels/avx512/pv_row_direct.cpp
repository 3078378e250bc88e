// P·V for one query row (decode) with V read in place: O[0][0..dv) is
// updated once per group of eight keys, so V is read row after row (one
// stream the hardware prefetchers follow) and every FMA does useful work,
// where the 14-row micro-kernel would compute thirteen rows of padding and
// read V one 32-column slice of every row per call.
//
// Per group of eight keys and 16 columns: eight V loads, one O load and
// store, eight FMAs (eight rather than the avx2 set's four keys: AVX-512
// cores load two vectors per FMA pair at most, so O's load and store weigh
// more); the dv / 16 column vectors are independent chains.
#include "kernels/avx512/intrinsics.hpp"

#include <cstdint>

#include "kernels/avx512/convert.hpp"
#include "kernels/avx512/ops.hpp"

namespace attnrt::kernels::avx512 {
namespace {

constexpr int kGroup = 8;

// V rows prefetched ahead of the group in use: the loop is bound by memory,
// and the hardware prefetchers alone keep too few lines in flight (the
// distance measured on the avx2 set).
constexpr int kRowsAhead = 8;

// O[0..dv) (+)= Σ_j p[j]·V[j][0..dv) for the G keys of one group.
template <int G>
inline void add_keys(const __m512 (&p)[G], const float* v, std::int64_t ldv, int dv, float* o,
                     bool first) {
  const auto columns = [&](int c, __mmask16 lanes) {  // O[c, c + 16), lanes past dv untouched
    __m512 x = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(lanes, o + c);
#pragma GCC unroll 8
    for (int j = 0; j < G; ++j) x = _mm512_fmadd_ps(p[j], _mm512_maskz_loadu_ps(lanes, v + j * ldv + c), x);
    _mm512_mask_storeu_ps(o + c, lanes, x);
  };
  int c = 0;
  for (; c + 16 <= dv; c += 16) columns(c, 0xffff);
  if (c < dv) columns(c, first16(dv - c));
}

// Row 0's entry for key k in an A panel (ops.hpp, kABlock): the first row
// of the key's block, whatever that block's width.
inline int row0(int k) { return k / kABlock * kABlock * kMr + k % kABlock; }

}  // namespace

void pv_fp32_row_direct(int /*rows*/, int kp, const void* a, const float* v, std::int64_t ldv,
                        int dv, float* o, std::int64_t /*ldo*/, bool accumulate) {
  const float* pa = static_cast<const float*>(a);  // row 0 of the A panel
  bool first = !accumulate;
  int k = 0;
  for (; k + kGroup <= kp; k += kGroup, first = false) {
    for (int j = 0; j < kGroup; ++j)  // (prefetches never fault, past the last key too)
      for (int c = 0; c < dv; c += 16)
        _mm_prefetch(reinterpret_cast<const char*>(v + (k + kRowsAhead + j) * ldv + c), _MM_HINT_T0);
    __m512 p[kGroup];
    for (int j = 0; j < kGroup; ++j) p[j] = _mm512_set1_ps(pa[row0(k + j)]);
    add_keys<kGroup>(p, v + k * ldv, ldv, dv, o, first);
  }
  for (; k < kp; ++k, first = false) {
    const __m512 p[1] = {_mm512_set1_ps(pa[row0(k)])};
    add_keys<1>(p, v + k * ldv, ldv, dv, o, first);
  }
  if (first)  // no keys: init still means O = 0
    for (int c = 0; c < dv; ++c) o[c] = 0.0f;
}

}  // namespace attnrt::kernels::avx512
