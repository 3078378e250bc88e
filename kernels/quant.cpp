#include "kernels/quant.hpp"

#include <array>
#include <bit>
#include <cmath>
#include <limits>

#include "kernels/convert.hpp"

namespace attnrt::kernels {
namespace {

// value = (-1)^s * 2^(e - bias) * 1.m, or 2^(1 - bias) * 0.m for e = 0.
float minifloat(std::uint8_t c, int mant_bits, int bias) {
  const int e = (c & 0x7f) >> mant_bits, m = c & ((1 << mant_bits) - 1);
  const float mag = e == 0 ? std::ldexp(static_cast<float>(m), 1 - bias - mant_bits)
                           : std::ldexp(static_cast<float>(m + (1 << mant_bits)), e - bias - mant_bits);
  return c & 0x80 ? -mag : mag;
}

template <KvFormat F>
std::array<float, 256> table() {
  std::array<float, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = code_to_float(F, static_cast<std::uint8_t>(c));
  return t;
}

// Per element: the fp8 codes through a 256-entry table (1 KiB, stays in L1),
// int8 by a plain conversion the compiler vectorizes.
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define ATTNRT_QUANT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ATTNRT_QUANT_CLONES
#endif

ATTNRT_QUANT_CLONES
void i8_to_f32(const std::uint8_t* src, int n, float scale, float* dst) {
  const std::int8_t* s = reinterpret_cast<const std::int8_t*>(src);
  for (int i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]) * scale;
}

ATTNRT_QUANT_CLONES
void lut_to_f32(const float* lut, const std::uint8_t* src, int n, float scale, float* dst) {
  for (int i = 0; i < n; ++i) dst[i] = lut[src[i]] * scale;
}

}  // namespace

float e4m3_to_float(std::uint8_t c) {
  if ((c & 0x7f) == 0x7f) return std::numeric_limits<float>::quiet_NaN();
  return minifloat(c, 3, 7);
}

float e5m2_to_float(std::uint8_t c) {
  if ((c & 0x7c) == 0x7c) {  // exponent all ones
    if (c & 0x03) return std::numeric_limits<float>::quiet_NaN();
    return c & 0x80 ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
  }
  return minifloat(c, 2, 15);
}

float code_to_float(KvFormat f, std::uint8_t c) {
  switch (f) {
    case KvFormat::i8: return static_cast<float>(static_cast<std::int8_t>(c));
    case KvFormat::e4m3: return e4m3_to_float(c);
    case KvFormat::e5m2: return e5m2_to_float(c);
    case KvFormat::plain: break;
  }
  return std::numeric_limits<float>::quiet_NaN();
}

void dequant_row(KvFormat f, const std::uint8_t* src, int n, float scale, void* dst, DType t) {
  static const std::array<float, 256> e4m3 = table<KvFormat::e4m3>(), e5m2 = table<KvFormat::e5m2>();
  float tmp[kMaxHeadDim];
  float* out = t == DType::f32 ? static_cast<float*>(dst) : tmp;
  if (f == KvFormat::i8)
    i8_to_f32(src, n, scale, out);
  else
    lut_to_f32(f == KvFormat::e4m3 ? e4m3.data() : e5m2.data(), src, n, scale, out);
  if (t != DType::f32) store_row(tmp, n, dst, t);
}

}  // namespace attnrt::kernels
