// Scalar fp16/bf16 <-> fp32 conversions in portable C++ (bit manipulation,
// no compiler extensions). Every kernel set uses them for tails and the
// generic set for everything. Round to nearest even; NaN stays NaN.
#pragma once

#include <bit>
#include <cstdint>

#include "kernels/kernel_set.hpp"

namespace attnrt::kernels {

inline float bf16_to_float(std::uint16_t h) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

inline std::uint16_t float_to_bf16(float f) {
  std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}

inline float fp16_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  if (exp == 0x1fu) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));  // inf/NaN
  if (exp != 0) return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
  // Zero or subnormal: value = mant * 2^-24, exact in fp32.
  const float mag = static_cast<float>(mant) * 5.9604644775390625e-08f;
  return sign ? -mag : mag;
}

inline std::uint16_t float_to_fp16(float f) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
  const std::uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00u;                 // NaN
  if (a >= 0x477ff000u) return sign | 0x7c00u;                // rounds to >= 65520: inf
  if (a >= 0x38800000u) {                                     // normal fp16
    std::uint32_t r = a - 0x38000000u;                        // rebias exponent 127 -> 15
    r += 0xfffu + ((r >> 13) & 1u);
    return sign | static_cast<std::uint16_t>(r >> 13);
  }
  // Subnormal fp16 (or zero): scale into units of 2^-24 and round to even.
  const float mag = std::bit_cast<float>(a) * 16777216.0f;    // exact: a power-of-two scale
  const float rounded = (mag + 8388608.0f) - 8388608.0f;      // round to nearest even integer
  return sign | static_cast<std::uint16_t>(rounded);
}

template <class T> float load_as_float(const T* p);
template <> inline float load_as_float<float>(const float* p) { return *p; }

struct Fp16 { std::uint16_t bits; };
struct Bf16 { std::uint16_t bits; };
struct I8 { std::int8_t code; };      // an int8 K/V code, unscaled (quant.hpp)
struct E4m3 { std::uint8_t code; };  // an fp8 K/V code (OCP E4M3: bias 7, no inf, S.1111.111 NaN)
struct E5m2 { std::uint8_t code; };  // an fp8 K/V code (OCP E5M2: bias 15, IEEE inf and NaN)

// Exact, branch-free decodes of one fp8 code (selects the compiler
// vectorizes): a subnormal code is its mantissa times the format's smallest
// step; a normal one has its exponent rebiased into fp32's field and its
// mantissa bits moved up.
inline float e4m3_to_float(std::uint8_t c) {
  const std::uint32_t em = c & 0x7fu;  // exponent (4 bits, bias 7) and mantissa (3 bits)
  const float sub = static_cast<float>(em) * 0x1p-9f;
  const std::uint32_t normal = (((em >> 3) + 120u) << 23) | ((em & 7u) << 20);
  std::uint32_t bits = em < 8u ? std::bit_cast<std::uint32_t>(sub) : normal;
  bits = em == 0x7fu ? 0x7fc00000u : bits;
  return std::bit_cast<float>(bits | (static_cast<std::uint32_t>(c & 0x80u) << 24));
}
inline float e5m2_to_float(std::uint8_t c) {
  const std::uint32_t em = c & 0x7fu;  // exponent (5 bits, bias 15) and mantissa (2 bits)
  const std::uint32_t e = em >> 2;
  const float sub = static_cast<float>(em) * 0x1p-16f;
  const std::uint32_t normal = ((e == 31u ? 255u : e + 112u) << 23) | ((em & 3u) << 21);  // 31: inf or NaN
  const std::uint32_t bits = em < 4u ? std::bit_cast<std::uint32_t>(sub) : normal;
  return std::bit_cast<float>(bits | (static_cast<std::uint32_t>(c & 0x80u) << 24));
}

template <> inline float load_as_float<Fp16>(const Fp16* p) { return fp16_to_float(p->bits); }
template <> inline float load_as_float<Bf16>(const Bf16* p) { return bf16_to_float(p->bits); }
template <> inline float load_as_float<I8>(const I8* p) { return static_cast<float>(p->code); }
template <> inline float load_as_float<E4m3>(const E4m3* p) { return e4m3_to_float(p->code); }
template <> inline float load_as_float<E5m2>(const E5m2* p) { return e5m2_to_float(p->code); }

// Loads a row of the user's dtype as fp32 values.
inline void load_row(const void* src, int n, float* dst, DType t) {
  switch (t) {
    case DType::f32: {
      const float* s = static_cast<const float*>(src);
      for (int i = 0; i < n; ++i) dst[i] = s[i];
      break;
    }
    case DType::f16: {
      const std::uint16_t* s = static_cast<const std::uint16_t*>(src);
      for (int i = 0; i < n; ++i) dst[i] = fp16_to_float(s[i]);
      break;
    }
    case DType::bf16: {
      const std::uint16_t* s = static_cast<const std::uint16_t*>(src);
      for (int i = 0; i < n; ++i) dst[i] = bf16_to_float(s[i]);
      break;
    }
  }
}

// Stores fp32 values to a row of the user's dtype.
inline void store_row(const float* src, int n, void* dst, DType t) {
  switch (t) {
    case DType::f32: {
      float* d = static_cast<float*>(dst);
      for (int i = 0; i < n; ++i) d[i] = src[i];
      break;
    }
    case DType::f16: {
      std::uint16_t* d = static_cast<std::uint16_t*>(dst);
      for (int i = 0; i < n; ++i) d[i] = float_to_fp16(src[i]);
      break;
    }
    case DType::bf16: {
      std::uint16_t* d = static_cast<std::uint16_t*>(dst);
      for (int i = 0; i < n; ++i) d[i] = float_to_bf16(src[i]);
      break;
    }
  }
}

}  // namespace attnrt::kernels
