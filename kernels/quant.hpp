// Quantized K/V rows (an int8 or fp8 KV cache): codes times one fp32 scale
// per row, dequantized into the kernel set's dtype by the pipelines
// (kv_runs.hpp) a chunk of keys at a time, so every kernel set reads them;
// and quantized from a model's rows into a cache (attnrt_cache_write).
#pragma once

#include <cstdint>

#include "kernels/kernel_set.hpp"

namespace attnrt::kernels {

// Exact decode of one code (convert.hpp: e4m3_to_float, e5m2_to_float).
float code_to_float(KvFormat f, std::uint8_t c);

// dst[r][0..n) = code_to_float(src[r][i]) * scale[r * ld_scale], rounded
// to dtype t (as store_row rounds), for rows r < rows: K or V rows ld
// bytes apart into rows ld_dst elements apart.
void dequant_rows(KvFormat f, const std::uint8_t* src, std::int64_t ld, int rows, int n, const float* scale,
                  std::int64_t ld_scale, void* dst, std::int64_t ld_dst, DType t);

// The format's largest finite magnitude: 127 (int8, symmetric: code -128 is
// never written), 448 (E4M3), 57344 (E5M2).
float largest_code_value(KvFormat f);

// The largest |x[i]| for i < n (0 for n = 0), or +inf when an x[i] is inf
// or NaN, which no code holds.
float largest_magnitude(const float* x, int n);

// dst[i] = the code nearest x[i] / scale (ties to even), saturated at the
// largest finite value, for i < n; x finite, scale positive.
void quant_row(KvFormat f, const float* x, int n, float scale, std::uint8_t* dst);

}  // namespace attnrt::kernels
