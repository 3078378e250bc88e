#include "kernels/quant.hpp"

#include <bit>
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

}  // namespace

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
