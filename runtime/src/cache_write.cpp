#include "runtime/src/cache_write.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/convert.hpp"
#include "kernels/fp_env.hpp"
#include "kernels/quant.hpp"
#include "runtime/src/error.hpp"
#include "runtime/src/head_problem.hpp"
#include "runtime/src/validate.hpp"
#include "runtime/src/view_rules.hpp"
#include "scheduler/executor.hpp"

namespace attnrt::rt {
namespace {

constexpr attnrt_status kBad = ATTNRT_INVALID_ARGUMENT;
// Values a worker's part writes at least: a part costs a few µs to hand
// over, and a value ~0.6 ns to write (int8 codes, one core).
constexpr std::int64_t kValuesPerPart = 1 << 16;

// Element (i0, h, i2)'s address in a view (element i3 = 0).
template <class T = std::byte>
T* at(const attnrt_tensor& t, std::int64_t i0, std::int64_t h, std::int64_t i2) {
  const std::int64_t e = i0 * t.stride[0] + h * t.stride[1] + i2 * t.stride[2];
  return reinterpret_cast<T*>(static_cast<std::byte*>(t.data) + e * static_cast<std::int64_t>(element_bytes(t.dtype)));
}

// Token t's row of head h in src ([B, H, M, D], t = b * M + m) as fp32:
// in place when src is fp32, else widened into buf.
const float* token_row(const attnrt_tensor& src, std::int64_t t, std::int64_t h, float* buf) {
  const std::int64_t m = src.shape[2];
  const void* row = at(src, t / m, h, t % m);
  if (src.dtype == ATTNRT_F32) return static_cast<const float*>(row);
  kernels::load_row(row, static_cast<int>(src.shape[3]), buf, static_cast<kernels::DType>(src.dtype));
  return buf;
}

// The scale view: per token ([pages, H, page_size, 1], written) or one per
// KV head or for the tensor ([1, 1|H, 1, 1], read; finite and positive).
bool check_scale(const attnrt_tensor& cache, const attnrt_tensor* scale, const attnrt_tensor& src) {
  if (!scale)
    fail(kBad, "scale must not be NULL with cache.dtype ", dtype_name(cache.dtype), " (the fp32 scales of its codes)");
  check_tensor("scale", scale);
  if (scale->dtype != ATTNRT_F32) fail(kBad, "scale.dtype (", dtype_name(scale->dtype), ") must be fp32");
  require_eq("scale.head_dim", scale->shape[3], "1", 1);
  const auto& s = scale->shape;
  const bool per_token = s[0] == cache.shape[0] && s[1] == cache.shape[1] && s[2] == cache.shape[2];
  const bool per_head = s[0] == 1 && (s[1] == 1 || s[1] == cache.shape[1]) && s[2] == 1;
  if (!per_token && !per_head)
    fail(kBad, "scale ([", s[0], ", ", s[1], ", ", s[2], ", 1]) must be per token [", cache.shape[0], ", ",
         cache.shape[1], ", ", cache.shape[2], ", 1] (written) or per KV head [1, ", cache.shape[1],
         " or 1, 1, 1] (read)");
  check_disjoint("cache", cache, "scale", *scale);
  if (per_token) {
    check_distinct("scale", *scale);
    check_disjoint("scale", *scale, "src", src);
    return true;
  }
  for (std::int64_t h = 0; h < s[1]; ++h)
    if (const float v = *at<const float>(*scale, 0, h, 0); !(std::isfinite(v) && v > 0))
      fail(kBad, "scale[head ", h, "] (", v, ") must be finite and positive");
  return false;
}

// A per-token scale: the row's largest magnitude maps to the format's
// largest value. An all-zero row takes 1 (its codes are 0 whatever it is);
// a row of subnormals FLT_MIN, so that no quotient overflows.
float row_scale(const float* row, int n, kernels::KvFormat f) {
  const float top = kernels::largest_magnitude(row, n);
  return top == 0 ? 1.0f : std::max(top / kernels::largest_code_value(f), FLT_MIN);
}

}  // namespace

void cache_write(const attnrt_tensor* src, const attnrt_tensor* cache, const attnrt_tensor* scale,
                 const std::int64_t* slots, scheduler::Executor* executor) {
  check_tensor("src", src);
  check_tensor("cache", cache, true);
  require_eq("cache.heads", cache->shape[1], "src.heads", src->shape[1]);
  require_eq("cache.head_dim", cache->shape[3], "src.head_dim", src->shape[3]);
  if (src->shape[3] > kernels::kMaxHeadDim)
    fail(kBad, "src.head_dim (", src->shape[3], ") must be at most ", kernels::kMaxHeadDim);
  check_distinct("cache", *cache);
  check_disjoint("cache", *cache, "src", *src);

  const kernels::KvFormat f = kv_format(cache->dtype);
  const bool codes = f != kernels::KvFormat::plain;
  bool scale_per_token = false;
  if (codes) scale_per_token = check_scale(*cache, scale, *src);
  else if (scale)
    fail(kBad, "scale must be NULL with cache.dtype ", dtype_name(cache->dtype), " (only codes take scales)");

  const std::int64_t tokens = src->shape[0] * src->shape[2], heads = src->shape[1], page = cache->shape[2];
  const std::int64_t room = cache->shape[0] * page;
  const int dim = static_cast<int>(src->shape[3]);
  if (!slots) fail(kBad, "slots must not be NULL (one cache slot per token of src, ", tokens, ")");
  // Read while the cache and scales are written: apart from both.
  const attnrt_tensor slot_array = array_view(slots, tokens * 8);
  check_disjoint("cache", *cache, "slots", slot_array);
  if (scale_per_token) check_disjoint("scale", *scale, "slots", slot_array);
  for (std::int64_t t = 0; t < tokens; ++t)
    if (slots[t] >= room)
      fail(kBad, "slots[", t, "] (", slots[t], ") must be < cache.batch * cache.seq (", room,
           "), or negative to skip the token");
  float buf[kernels::kMaxHeadDim];
  if (codes)  // Codes hold finite values only: refuse before anything is written.
    for (std::int64_t t = 0; t < tokens; ++t) {
      if (slots[t] < 0) continue;
      for (std::int64_t h = 0; h < heads; ++h) {
        const float* row = token_row(*src, t, h, buf);
        if (std::isfinite(kernels::largest_magnitude(row, dim))) continue;
        const int d = static_cast<int>(std::find_if(row, row + dim, [](float x) { return !std::isfinite(x); }) - row);
        fail(kBad, "src[token ", t, ", head ", h, ", ", d, "] (", row[d], ") must be finite: cache.dtype ",
             dtype_name(cache->dtype), " holds finite values only");
      }
    }

  // Workers where the write holds parts enough (the check above stays here:
  // a second hand-over to the workers cost more than it saved on 2 cores).
  const std::int64_t values = tokens * heads * dim;
  const int parts =
      executor ? static_cast<int>(std::clamp<std::int64_t>(values / kValuesPerPart, 1, executor->workers())) : 1;
  // Part `part` of `parts` writes the tokens whose page is its own (page %
  // parts), in token order.
  const auto write = [&](int part) {
    const kernels::DefaultFpEnvScope ieee(kernels::Subnormals::kept);  // not the thread's rounding mode
    float row_buf[kernels::kMaxHeadDim];
    for (std::int64_t t = 0; t < tokens; ++t) {
      if (slots[t] < 0 || (slots[t] / page) % parts != part) continue;
      const std::int64_t p = slots[t] / page, r = slots[t] % page;
      for (std::int64_t h = 0; h < heads; ++h) {
        const float* row = token_row(*src, t, h, row_buf);
        if (!codes) {
          kernels::store_row(row, dim, at(*cache, p, h, r), static_cast<kernels::DType>(cache->dtype));
          continue;
        }
        float s;
        if (scale_per_token) *at<float>(*scale, p, h, r) = s = row_scale(row, dim, f);
        else s = *at<const float>(*scale, 0, scale->shape[1] == 1 ? 0 : h, 0);
        kernels::quant_row(f, row, dim, s, at<std::uint8_t>(*cache, p, h, r));
      }
    }
  };
  if (parts <= 1) return write(0);
  executor->run(parts, 1, [&](int part, int) { write(part); });
}

}  // namespace attnrt::rt
