// fp32 / fp16 / bf16 <-> fp32 vectors of 8 lanes (AVX2, F16C). The scalar
// versions in kernels/convert.hpp handle tails and are the reference these
// match: round to nearest even, NaN stays NaN.
#pragma once

#include "kernels/x86/intrinsics.hpp"

#include <cstdint>
#include <type_traits>

#include "kernels/convert.hpp"

namespace attnrt::kernels::x86 {

// 8 consecutive elements widened to fp32.
static inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
static inline __m256 load8(const Fp16* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
static inline __m256 load8(const I8* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
// fp8 through fp16, whose conversion is exact for every code: an E5M2 code
// is the top byte of the fp16 of its value; an E4M3 code's 7 magnitude
// bits shifted into fp16's exponent and mantissa give its value / 2^8
// (normal and subnormal alike), and S.1111.111 is NaN.
static inline __m256 load8(const E5m2* p) {
  const __m128i c = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  return _mm256_cvtph_ps(_mm_slli_epi16(c, 8));
}
static inline __m256 load8(const E4m3* p) {
  // Sign-extended, a code's bit 7 fills its word's top byte: shifted left
  // by 7 and bit 14 cleared, S.EEEE.MMM lands in fp16's sign, exponent and
  // mantissa as above. NaN (S.1111.111) is set to all ones: an fp16 NaN.
  const __m128i w = _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  const __m128i h = _mm_and_si128(_mm_slli_epi16(w, 7), _mm_set1_epi16(static_cast<short>(0xbf80)));
  const __m128i mag = _mm_and_si128(h, _mm_set1_epi16(0x3f80));
  const __m128i fp16 = _mm_or_si128(h, _mm_cmpeq_epi16(mag, _mm_set1_epi16(0x3f80)));
  return _mm256_mul_ps(_mm256_cvtph_ps(fp16), _mm256_set1_ps(256.0f));
}
static inline __m256 load8(const Bf16* p) {
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

// The first n (< 8) elements widened, zeros after; reads only those n.
template <class T>
static inline __m256 load_partial(const T* p, int n) {
  T buf[8] = {};
  for (int i = 0; i < n; ++i) buf[i] = p[i];
  return load8(buf);
}

// Element [i] of a row of n elements as 8 lanes, zero-padded past n.
template <class T>
static inline __m256 load_upto8(const T* p, int n) {
  return n >= 8 ? load8(p) : load_partial(p, n);
}

// The first n elements widened (all 8 for n >= 8, none for n <= 0), zeros
// after; reads only those. mask: lanes [0, n) (first_lanes), for fp32's
// masked load. A tail of 9-15 columns passes n >= 8 for its first vector.
template <class T>
static inline __m256 load_tail(const T* p, int n, __m256i mask) {
  if constexpr (std::is_same_v<T, float>)
    return _mm256_maskload_ps(p, mask);
  else
    return load_upto8(p, n);
}

// fp32 -> bf16 bits, round to nearest even, NaN kept (quieted), in the low
// 16 bits of each 32-bit lane.
static inline __m256i to_bf16_lanes(__m256 v) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i rounded =
      _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
  const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  return _mm256_blendv_epi8(rounded, quiet, nan);
}

// 8 fp32 lanes stored as the user's dtype.
static inline void store8(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
static inline void store8(Fp16* p, __m256 v) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
static inline void store8(Bf16* p, __m256 v) {
  const __m256i w = to_bf16_lanes(v);
  // packus works within 128-bit halves: [a0..a3 b0..b3 | a4..a7 b4..b7].
  const __m256i packed = _mm256_packus_epi32(w, w);
  const __m256i ordered = _mm256_permute4x64_epi64(packed, 0x08);  // qwords 0, 2
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(ordered));
}

}  // namespace attnrt::kernels::x86
