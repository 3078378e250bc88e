#include "kernels/quant.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/convert.hpp"

namespace attnrt::kernels {
namespace {

// Whole chunks per call: a call per 128-element row cost as much as the
// conversion. Cloned per x86 level (the ifunc picks one at load time).
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define ATTNRT_QUANT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ATTNRT_QUANT_CLONES
#endif

template <KvFormat F>
inline float value(std::uint8_t c) {
  if constexpr (F == KvFormat::i8) return static_cast<float>(static_cast<std::int8_t>(c));
  else if constexpr (F == KvFormat::e4m3) return e4m3_to_float(c);
  else return e5m2_to_float(c);
}

template <KvFormat F>
inline void rows_f32(const std::uint8_t* src, std::int64_t ld, int rows, int n, const float* scale,
                     std::int64_t ld_scale, float* dst, std::int64_t ld_dst) {
  for (int r = 0; r < rows; ++r) {
    const std::uint8_t* s = src + r * ld;
    const float k = scale[r * ld_scale];
    float* d = dst + r * ld_dst;
#pragma omp simd
    for (int i = 0; i < n; ++i) d[i] = value<F>(s[i]) * k;
  }
}

ATTNRT_QUANT_CLONES
void i8_rows(const std::uint8_t* src, std::int64_t ld, int rows, int n, const float* scale, std::int64_t ld_scale,
             float* dst, std::int64_t ld_dst) {
  rows_f32<KvFormat::i8>(src, ld, rows, n, scale, ld_scale, dst, ld_dst);
}
ATTNRT_QUANT_CLONES
void e4m3_rows(const std::uint8_t* src, std::int64_t ld, int rows, int n, const float* scale, std::int64_t ld_scale,
               float* dst, std::int64_t ld_dst) {
  rows_f32<KvFormat::e4m3>(src, ld, rows, n, scale, ld_scale, dst, ld_dst);
}
ATTNRT_QUANT_CLONES
void e5m2_rows(const std::uint8_t* src, std::int64_t ld, int rows, int n, const float* scale, std::int64_t ld_scale,
               float* dst, std::int64_t ld_dst) {
  rows_f32<KvFormat::e5m2>(src, ld, rows, n, scale, ld_scale, dst, ld_dst);
}

// The fp8 code nearest a (finite, >= 0, at most the largest value; ties to
// even) for a format of M mantissa bits and exponent bias `bias`: below the
// smallest normal, a's multiple of the subnormal step (whose count is the
// code); above, fp32's mantissa rounded to M bits in place (a carry moves
// into the exponent, as it should), the exponent then rebiased.
template <int M, int Bias>
inline std::uint32_t fp8_magnitude(float a) {
  constexpr int kDrop = 23 - M;
  constexpr float kMinNormal = std::bit_cast<float>(static_cast<std::uint32_t>(128 - Bias) << 23);  // 2^(1 - bias)
  constexpr float kSteps = std::bit_cast<float>(static_cast<std::uint32_t>(127 + Bias - 1 + M) << 23);
  const std::uint32_t u = std::bit_cast<std::uint32_t>(a);
  const std::uint32_t rounded = u + ((1u << (kDrop - 1)) - 1u) + ((u >> kDrop) & 1u);
  const std::uint32_t normal = (rounded >> kDrop) - (static_cast<std::uint32_t>(127 - Bias) << M);
  const std::uint32_t sub = static_cast<std::uint32_t>(std::nearbyint(a * kSteps));
  return a < kMinNormal ? sub : normal;
}

constexpr float top_of(KvFormat f) { return f == KvFormat::i8 ? 127.0f : f == KvFormat::e4m3 ? 448.0f : 57344.0f; }

template <KvFormat F>
inline std::uint8_t encode(float x) {
  constexpr float kTop = top_of(F);
  const float c = std::min(std::max(x, -kTop), kTop);
  if constexpr (F == KvFormat::i8) return static_cast<std::uint8_t>(static_cast<std::int8_t>(std::nearbyint(c)));
  const float a = std::abs(c);
  const std::uint32_t m = F == KvFormat::e4m3 ? fp8_magnitude<3, 7>(a) : fp8_magnitude<2, 15>(a);
  return static_cast<std::uint8_t>(m | (std::signbit(c) ? 0x80u : 0u));
}

template <KvFormat F>
inline void encode_row(const float* x, int n, float scale, std::uint8_t* dst) {
#pragma omp simd
  for (int i = 0; i < n; ++i) dst[i] = encode<F>(x[i] / scale);
}

ATTNRT_QUANT_CLONES
void i8_encode(const float* x, int n, float scale, std::uint8_t* dst) { encode_row<KvFormat::i8>(x, n, scale, dst); }
ATTNRT_QUANT_CLONES
void e4m3_encode(const float* x, int n, float scale, std::uint8_t* dst) {
  encode_row<KvFormat::e4m3>(x, n, scale, dst);
}
ATTNRT_QUANT_CLONES
void e5m2_encode(const float* x, int n, float scale, std::uint8_t* dst) {
  encode_row<KvFormat::e5m2>(x, n, scale, dst);
}

// Magnitudes compared as integers (their order as floats, NaN's patterns
// above inf's), which vectorizes where a float max reduction does not.
ATTNRT_QUANT_CLONES
std::uint32_t largest_magnitude_bits(const float* x, int n) {
  std::uint32_t top = 0;
#pragma omp simd reduction(max : top)
  for (int i = 0; i < n; ++i) top = std::max(top, std::bit_cast<std::uint32_t>(x[i]) & 0x7fffffffu);
  return top;
}

}  // namespace

float largest_magnitude(const float* x, int n) {
  const std::uint32_t top = largest_magnitude_bits(x, n);
  return top >= 0x7f800000u ? std::numeric_limits<float>::infinity() : std::bit_cast<float>(top);
}

float largest_code_value(KvFormat f) { return top_of(f); }

void quant_row(KvFormat f, const float* x, int n, float scale, std::uint8_t* dst) {
  (f == KvFormat::i8 ? i8_encode : f == KvFormat::e4m3 ? e4m3_encode : e5m2_encode)(x, n, scale, dst);
}

float code_to_float(KvFormat f, std::uint8_t c) {
  switch (f) {
    case KvFormat::i8: return value<KvFormat::i8>(c);
    case KvFormat::e4m3: return e4m3_to_float(c);
    case KvFormat::e5m2: return e5m2_to_float(c);
    case KvFormat::plain: break;
  }
  return std::numeric_limits<float>::quiet_NaN();
}

void dequant_rows(KvFormat f, const std::uint8_t* src, std::int64_t ld, int rows, int n, const float* scale,
                  std::int64_t ld_scale, void* dst, std::int64_t ld_dst, DType t) {
  auto* const convert = f == KvFormat::i8 ? i8_rows : f == KvFormat::e4m3 ? e4m3_rows : e5m2_rows;
  if (t == DType::f32) return convert(src, ld, rows, n, scale, ld_scale, static_cast<float*>(dst), ld_dst);
  // fp16/bf16: a row at a time through fp32, rounded as store_row rounds.
  float tmp[kMaxHeadDim];
  for (int r = 0; r < rows; ++r) {
    convert(src + r * ld, ld, 1, n, scale + r * ld_scale, ld_scale, tmp, n);
    store_row(tmp, n, static_cast<std::uint16_t*>(dst) + r * ld_dst, t);
  }
}

}  // namespace attnrt::kernels
