// fp32 / fp16 / bf16 <-> fp32 vectors of 16 lanes (AVX-512 F/BW/VL). Tails
// use masked loads and stores: masked-off lanes are neither read nor written
// (no fault past the end of a row). Round to nearest even, NaN stays NaN, as
// the scalar kernels/convert.hpp.
#pragma once

#include "kernels/avx512/intrinsics.hpp"

#include <cstdint>

#include "kernels/convert.hpp"

namespace attnrt::kernels::avx512 {

// Mask of lanes [0, n), n clamped to [0, 16] (or [0, 32], [0, 64]).
static inline __mmask16 first16(int n) {
  return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}
static inline __mmask32 first32(int n) {
  return n >= 32 ? __mmask32(0xffffffffu) : n <= 0 ? __mmask32(0) : __mmask32((1u << n) - 1);
}
static inline __mmask64 first64(int n) {
  return n >= 64 ? ~__mmask64(0) : n <= 0 ? __mmask64(0) : (__mmask64(1) << n) - 1;
}

// The elements of `lanes` (of 16) widened to fp32, zeros in the others,
// which are not read.
static inline __m512 load16_lanes(const float* p, __mmask16 lanes) { return _mm512_maskz_loadu_ps(lanes, p); }
static inline __m512 load16_lanes(const Fp16* p, __mmask16 lanes) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes, p));
}
static inline __m512 load16_lanes(const I8* p, __mmask16 lanes) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(lanes, p)));
}
// fp8 through fp16 (as x86/convert.hpp's load8 does).
static inline __m512 load16_lanes(const E5m2* p, __mmask16 lanes) {
  const __m256i c = _mm256_cvtepu8_epi16(_mm_maskz_loadu_epi8(lanes, p));
  return _mm512_cvtph_ps(_mm256_slli_epi16(c, 8));
}
static inline __m512 load16_lanes(const Bf16* p, __mmask16 lanes) {
  const __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(lanes, p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

// What load16_units reads a code of T as: its value / kUnit<T>. E4M3 codes
// come out of fp16 as value / 2^8, and the one-row loops, bound by these
// conversions, fold the 2^8 into their score or weight: a multiply per key,
// not per 16 codes (fp8 E4M3 decode, S5, Sapphire Rapids-class VM).
template <class T>
inline constexpr float kUnit = 1.0f;
template <>
inline constexpr float kUnit<E4m3> = 256.0f;

template <class T>
static inline __m512 load16_units(const T* p, __mmask16 lanes) {
  return load16_lanes(p, lanes);
}
static inline __m512 load16_units(const E4m3* p, __mmask16 lanes) {
  // Sign-extended, a code's bit 7 fills its word's top byte: shifted left
  // by 7 and bit 14 cleared, S.EEEE.MMM is fp16's sign, its exponent's low
  // four bits and its mantissa's top three (normal and subnormal alike).
  const __m256i w = _mm256_cvtepi8_epi16(_mm_maskz_loadu_epi8(lanes, p));
  const __m256i h = _mm256_and_si256(_mm256_slli_epi16(w, 7), _mm256_set1_epi16(static_cast<short>(0xbf80)));
  // NaN (S.1111.111): those lanes keep the NaN the conversion merges into.
  const __m256i mag = _mm256_and_si256(h, _mm256_set1_epi16(0x3f80));
  const __mmask16 number = _mm256_cmpneq_epi16_mask(mag, _mm256_set1_epi16(0x3f80));
  return _mm512_mask_mov_ps(_mm512_set1_ps(__builtin_nanf("")), number, _mm512_cvtph_ps(h));
}
static inline __m512 load16_lanes(const E4m3* p, __mmask16 lanes) {
  return _mm512_mul_ps(load16_units(p, lanes), _mm512_set1_ps(kUnit<E4m3>));
}

// The first n (<= 16) elements widened to fp32, zeros after.
template <class T>
static inline __m512 load16(const T* p, int n) { return load16_lanes(p, first16(n)); }

// fp32 -> bf16 bits in the low half of each 32-bit lane: round to nearest
// even, NaN quieted (integer arithmetic: no AVX512_BF16 needed).
static inline __m512i to_bf16_lanes(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i rounded =
      _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
  return _mm512_mask_mov_epi32(rounded, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), quiet);
}

// The first n (<= 16) lanes stored as the user's dtype.
static inline void store16(float* p, __m512 v, int n) { _mm512_mask_storeu_ps(p, first16(n), v); }
static inline void store16(Fp16* p, __m512 v, int n) {
  _mm256_mask_storeu_epi16(p, first16(n), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
static inline void store16(Bf16* p, __m512 v, int n) {
  _mm256_mask_storeu_epi16(p, first16(n), _mm512_cvtepi32_epi16(to_bf16_lanes(v)));
}

}  // namespace attnrt::kernels::avx512
