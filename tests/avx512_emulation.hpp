// AVX-512 intrinsics in portable C++ for test builds of the avx512 kernel
// sets (ATTNRT_AVX512_SIMDE): SIMDe (Debian's libsimde-dev) emulates most of
// them; the few this SIMDe lacks are written here from their documented
// semantics, lane by lane. Masked loads and stores touch only the lanes
// their mask selects, as the hardware does. Only the kernels' own logic is
// under test this way: instruction timing and the hardware's exact NaN
// payloads are not.
#pragma once

#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>  // the x86 folder's fp16 loads (few_rows.hpp)

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/convert.hpp"

#ifndef _IMMINTRIN_H_INCLUDED  // (built with AVX2, SIMDe includes the compiler's own, masks and all)
typedef simde__mmask16 __mmask16;
typedef simde__mmask32 __mmask32;
typedef simde__mmask64 __mmask64;
#endif
#ifndef _MM_FROUND_NO_EXC
#define _MM_FROUND_NO_EXC SIMDE_MM_FROUND_NO_EXC
#endif

namespace attnrt_avx512_emulation {

struct F16 {
  float v[16];
};
struct W32 {
  std::uint16_t v[32];
};
struct D16 {
  std::uint32_t v[16];
};

inline F16 lanes(simde__m512 a) {
  F16 r;
  simde_mm512_storeu_ps(r.v, a);
  return r;
}
inline simde__m512 vec(const F16& r) { return simde_mm512_loadu_ps(r.v); }
inline D16 dwords(simde__m512i a) {
  D16 r;
  simde_mm512_storeu_si512(r.v, a);
  return r;
}
inline simde__m512i vec(const D16& r) { return simde_mm512_loadu_si512(r.v); }
inline W32 words(simde__m512i a) {
  W32 r;
  simde_mm512_storeu_si512(r.v, a);
  return r;
}
inline simde__m512i vec(const W32& r) { return simde_mm512_loadu_si512(r.v); }

inline simde__m512 mask_loadu_ps(simde__m512 src, __mmask16 k, const void* p) {
  F16 r = lanes(src);
  for (int i = 0; i < 16; ++i)
    if (k >> i & 1) std::memcpy(&r.v[i], static_cast<const char*>(p) + 4 * i, 4);
  return vec(r);
}
inline simde__m512 maskz_loadu_ps(__mmask16 k, const void* p) {
  return mask_loadu_ps(simde_mm512_setzero_ps(), k, p);
}
inline void mask_storeu_ps(void* p, __mmask16 k, simde__m512 a) {
  const F16 r = lanes(a);
  for (int i = 0; i < 16; ++i)
    if (k >> i & 1) std::memcpy(static_cast<char*>(p) + 4 * i, &r.v[i], 4);
}
inline simde__m512i maskz_loadu_epi16(__mmask32 k, const void* p) {
  W32 r{};
  for (int i = 0; i < 32; ++i)
    if (k >> i & 1) std::memcpy(&r.v[i], static_cast<const char*>(p) + 2 * i, 2);
  return vec(r);
}
inline simde__m256i maskz_loadu_epi16_256(__mmask16 k, const void* p) {
  std::uint16_t r[16] = {};
  for (int i = 0; i < 16; ++i)
    if (k >> i & 1) std::memcpy(&r[i], static_cast<const char*>(p) + 2 * i, 2);
  return simde_mm256_loadu_si256(r);
}
inline void mask_storeu_epi16_256(void* p, __mmask16 k, simde__m256i a) {
  std::uint16_t r[16];
  simde_mm256_storeu_si256(r, a);
  for (int i = 0; i < 16; ++i)
    if (k >> i & 1) std::memcpy(static_cast<char*>(p) + 2 * i, &r[i], 2);
}
inline simde__m512i cvtepu16_epi32(simde__m256i a) {
  std::uint16_t w[16];
  simde_mm256_storeu_si256(w, a);
  D16 r;
  for (int i = 0; i < 16; ++i) r.v[i] = w[i];
  return vec(r);
}
// Each lane's low bits (vpmovdw, vpmovdb: truncating).
template <class N>
inline void narrow_lanes(simde__m512i a, N (&out)[16]) {
  const D16 d = dwords(a);
  for (int i = 0; i < 16; ++i) out[i] = static_cast<N>(d.v[i]);
}
inline simde__m256i cvtepi32_epi16(simde__m512i a) {
  std::uint16_t w[16];
  narrow_lanes(a, w);
  return simde_mm256_loadu_si256(w);
}
inline simde__m512 cvtph_ps(simde__m256i a) {
  std::uint16_t w[16];
  simde_mm256_storeu_si256(w, a);
  F16 r;
  for (int i = 0; i < 16; ++i) r.v[i] = attnrt::kernels::fp16_to_float(w[i]);
  return vec(r);
}
inline simde__m256i cvtps_ph(simde__m512 a, int /*rounding: nearest even*/) {
  const F16 f = lanes(a);
  std::uint16_t w[16];
  for (int i = 0; i < 16; ++i) w[i] = attnrt::kernels::float_to_fp16(f.v[i]);
  return simde_mm256_loadu_si256(w);
}
// vcvtne2ps2bf16: words 0-15 from b, 16-31 from a; nearest even, NaN quiet,
// denormal inputs and outputs flushed to zero.
inline simde__m512bh cvtne2ps_pbh(simde__m512 a, simde__m512 b) {
  const F16 fa = lanes(a), fb = lanes(b);
  W32 r;
  for (int i = 0; i < 32; ++i) {
    float x = i < 16 ? fb.v[i] : fa.v[i - 16];
    std::uint32_t u;
    std::memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0) u &= 0x80000000u;
    std::memcpy(&x, &u, 4);
    std::uint16_t h = attnrt::kernels::float_to_bf16(x);
    if ((h & 0x7f80u) == 0) h &= 0x8000u;
    r.v[i] = h;
  }
  simde__m512bh out;
  std::memcpy(&out, r.v, 64);
  return out;
}
// vscalefps: a * 2^floor(b) with one rounding (SIMDe's a * exp2(floor(b))
// overflows when 2^floor(b) alone does, e.g. 0.9 * 2^128).
inline simde__m512 scalef_ps(simde__m512 a, simde__m512 b) {
  const F16 fa = lanes(a), fb = lanes(b);
  F16 r;
  for (int i = 0; i < 16; ++i) {
    const float x = fa.v[i], y = fb.v[i];
    if (std::isnan(x) || std::isnan(y))
      r.v[i] = x + y;
    else
      r.v[i] =
          std::ldexp(x, static_cast<int>(std::fmax(-400.0f, std::fmin(400.0f, std::floor(y)))));
  }
  return vec(r);
}
// vreduceps with round to nearest even (the only mode the kernels use):
// a - round(a), 0 for +-inf, NaN for NaN.
inline simde__m512 reduce_ps(simde__m512 a, int /*imm: nearest even*/) {
  F16 r = lanes(a);
  for (float& x : r.v) x = std::isinf(x) ? 0.0f : x - std::nearbyint(x);
  return vec(r);
}
inline float reduce_add_ps(simde__m512 a) {
  const F16 f = lanes(a);
  float s = 0;
  for (int i = 0; i < 16; ++i) s += f.v[i];
  return s;
}
// The AVX forms (256-bit, lanes chosen by the sign bit of each 32-bit mask
// lane), for the 256-bit few-row loops the avx512 set shares with avx2.
inline simde__m256 maskload_ps_256(const float* p, simde__m256i mask) {
  std::int32_t m[8];
  float r[8] = {};
  simde_mm256_storeu_si256(m, mask);
  for (int i = 0; i < 8; ++i)
    if (m[i] < 0) r[i] = p[i];
  return simde_mm256_loadu_ps(r);
}
inline void maskstore_ps_256(float* p, simde__m256i mask, simde__m256 a) {
  std::int32_t m[8];
  float v[8];
  simde_mm256_storeu_si256(m, mask);
  simde_mm256_storeu_ps(v, a);
  for (int i = 0; i < 8; ++i)
    if (m[i] < 0) p[i] = v[i];
}
inline float reduce_max_ps(simde__m512 a) {
  const F16 f = lanes(a);
  float m = f.v[0];
  for (int i = 1; i < 16; ++i) m = f.v[i] > m ? f.v[i] : m;
  return m;
}

// int8 K/V codes (convert.hpp's load16_lanes(const I8*)).
inline simde__m128i maskz_loadu_epi8_128(__mmask16 k, const void* p) {
  std::int8_t r[16] = {};
  for (int i = 0; i < 16; ++i)
    if (k >> i & 1) std::memcpy(&r[i], static_cast<const char*>(p) + i, 1);
  return simde_mm_loadu_si128(r);
}
inline simde__m512i cvtepi8_epi32(simde__m128i a) {
  std::int8_t b[16];
  simde_mm_storeu_si128(b, a);
  D16 r;
  for (int i = 0; i < 16; ++i) r.v[i] = static_cast<std::uint32_t>(static_cast<std::int32_t>(b[i]));
  return vec(r);
}
inline simde__m512 cvtepi32_ps(simde__m512i a) {
  const D16 d = dwords(a);
  F16 r;
  for (int i = 0; i < 16; ++i) r.v[i] = static_cast<float>(static_cast<std::int32_t>(d.v[i]));
  return vec(r);
}

// int8 codes on VNNI (int8_vnni.cpp).
inline simde__m512i maskz_loadu_epi8(__mmask64 k, const void* p) {
  std::int8_t r[64] = {};
  for (int i = 0; i < 64; ++i)
    if (k >> i & 1) std::memcpy(&r[i], static_cast<const char*>(p) + i, 1);
  return simde_mm512_loadu_si512(r);
}
inline simde__m512i srai_epi32(simde__m512i a, int n) {
  D16 d = dwords(a);
  for (std::uint32_t& x : d.v) x = static_cast<std::uint32_t>(static_cast<std::int32_t>(x) >> (n > 31 ? 31 : n));
  return vec(d);
}
inline simde__m512i cvt_roundps_epi32(simde__m512 a, int /*rounding: nearest even*/) {
  const F16 f = lanes(a);
  D16 r;
  for (int i = 0; i < 16; ++i) r.v[i] = static_cast<std::uint32_t>(static_cast<std::int32_t>(std::nearbyint(f.v[i])));
  return vec(r);
}
inline simde__m128i cvtepi32_epi8(simde__m512i a) {
  std::uint8_t b[16];
  narrow_lanes(a, b);
  return simde_mm_loadu_si128(b);
}
inline int reduce_add_epi32(simde__m512i a) {
  const D16 d = dwords(a);
  std::uint32_t s = 0;
  for (const std::uint32_t x : d.v) s += x;
  return static_cast<std::int32_t>(s);
}

}  // namespace attnrt_avx512_emulation

#define _mm512_mask_loadu_ps attnrt_avx512_emulation::mask_loadu_ps
#define _mm512_maskz_loadu_ps attnrt_avx512_emulation::maskz_loadu_ps
#define _mm512_mask_storeu_ps attnrt_avx512_emulation::mask_storeu_ps
#define _mm512_maskz_loadu_epi16 attnrt_avx512_emulation::maskz_loadu_epi16
#define _mm256_maskz_loadu_epi16 attnrt_avx512_emulation::maskz_loadu_epi16_256
#define _mm256_mask_storeu_epi16 attnrt_avx512_emulation::mask_storeu_epi16_256
#undef _mm256_maskload_ps
#define _mm256_maskload_ps attnrt_avx512_emulation::maskload_ps_256
#undef _mm256_maskstore_ps
#define _mm256_maskstore_ps attnrt_avx512_emulation::maskstore_ps_256
#define _mm512_cvtepu16_epi32 attnrt_avx512_emulation::cvtepu16_epi32
#undef _mm_maskz_loadu_epi8
#define _mm_maskz_loadu_epi8 attnrt_avx512_emulation::maskz_loadu_epi8_128
#undef _mm512_cvtepi8_epi32
#define _mm512_cvtepi8_epi32 attnrt_avx512_emulation::cvtepi8_epi32
#undef _mm512_cvtepi32_ps
#define _mm512_cvtepi32_ps attnrt_avx512_emulation::cvtepi32_ps
#define _mm512_cvtepi32_epi16 attnrt_avx512_emulation::cvtepi32_epi16
#define _mm512_maskz_loadu_epi8 attnrt_avx512_emulation::maskz_loadu_epi8
#undef _mm512_srai_epi32
#define _mm512_srai_epi32 attnrt_avx512_emulation::srai_epi32
#define _mm512_cvt_roundps_epi32 attnrt_avx512_emulation::cvt_roundps_epi32
#define _mm512_cvtepi32_epi8 attnrt_avx512_emulation::cvtepi32_epi8
#define _mm512_reduce_add_epi32 attnrt_avx512_emulation::reduce_add_epi32
#define _mm512_cvtph_ps attnrt_avx512_emulation::cvtph_ps
#define _mm512_cvtps_ph attnrt_avx512_emulation::cvtps_ph
#define _mm512_cvtne2ps_pbh attnrt_avx512_emulation::cvtne2ps_pbh
#define _mm512_reduce_max_ps attnrt_avx512_emulation::reduce_max_ps
#define _mm512_reduce_add_ps attnrt_avx512_emulation::reduce_add_ps
#undef _mm512_reduce_ps
#define _mm512_reduce_ps attnrt_avx512_emulation::reduce_ps
#undef _mm512_scalef_ps
#define _mm512_scalef_ps attnrt_avx512_emulation::scalef_ps
#ifndef _mm512_shuffle_f32x4
#define _mm512_shuffle_f32x4(a, b, imm8) simde_mm512_shuffle_f32x4(a, b, imm8)
#endif
