// Rules that the core's checks (validate.cpp) and attnrt_mpi's
// (mpi/src/check.cpp) both apply, each with its own messages: dtypes'
// names and sizes, the byte range a view touches, whether an output's
// elements are distinct, what a per-head ALiBi slope or sink may be, a
// quantized cache's scale shape, and varlen offsets. Header-only, as attnrt_mpi links the core's C API alone.
#pragma once

#include <attnrt/attnrt.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <cstddef>
#include <cstdint>

namespace attnrt::rt {

// A dtype's name in messages, whether it is a quantized cache's codes,
// and the bytes of one element.
inline const char* dtype_name(attnrt_dtype t) {
  switch (t) {
    case ATTNRT_F32: return "fp32";
    case ATTNRT_F16: return "fp16";
    case ATTNRT_BF16: return "bf16";
    case ATTNRT_I8: return "int8";
    case ATTNRT_F8_E4M3: return "fp8_e4m3";
    case ATTNRT_F8_E5M2: return "fp8_e5m2";
  }
  return "invalid";
}
inline bool quantized(attnrt_dtype t) { return t == ATTNRT_I8 || t == ATTNRT_F8_E4M3 || t == ATTNRT_F8_E5M2; }
inline std::size_t element_bytes(attnrt_dtype t) { return t == ATTNRT_F32 ? 4 : quantized(t) ? 1 : 2; }

enum class RangeFault { none, int64_overflow, past_address_space };

// Bytes [*lo, *hi) the view touches (shapes positive, strides >= 0), or the
// arithmetic that overflows: sum (shape-1)*stride + head_dim elements.
inline RangeFault byte_range(const attnrt_tensor& t, std::size_t elem_bytes, std::uintptr_t* lo,
                             std::uintptr_t* hi) {
  std::int64_t last = t.shape[3] - 1;
  for (int i = 0; i < 3; ++i) {
    std::int64_t prod;
    if (__builtin_mul_overflow(t.shape[i] - 1, t.stride[i], &prod) || __builtin_add_overflow(last, prod, &last))
      return RangeFault::int64_overflow;
  }
  std::int64_t bytes;
  if (__builtin_add_overflow(last, std::int64_t{1}, &bytes) ||
      __builtin_mul_overflow(bytes, static_cast<std::int64_t>(elem_bytes), &bytes))
    return RangeFault::int64_overflow;
  *lo = reinterpret_cast<std::uintptr_t>(t.data);
  if (__builtin_add_overflow(*lo, static_cast<std::uintptr_t>(bytes), hi)) return RangeFault::past_address_space;
  return RangeFault::none;
}

// The first dimension (by stride) whose stride does not step past all the
// smaller ones span, so that two of an output's elements would share
// memory; dim -1 when the elements are distinct.
struct StrideOverlap {
  int dim;
  std::int64_t stride, need;
};

inline StrideOverlap stride_overlap(const attnrt_tensor& t) {
  std::array<int, 3> order = {0, 1, 2};
  std::sort(order.begin(), order.end(), [&](int a, int b) { return t.stride[a] < t.stride[b]; });
  std::int64_t span = t.shape[3];  // elements one head_dim row covers
  for (int i : order) {
    if (t.shape[i] == 1) continue;
    if (t.stride[i] < span) return {i, t.stride[i], span};
    span = t.stride[i] * t.shape[i];
  }
  return {-1, 0, 0};
}

// The first of heads per-head values that breaks its rule, or -1: slopes
// finite; sinks finite or -inf (no sink).
inline std::int64_t bad_head_term(const float* values, std::int64_t heads, bool sink) {
  for (std::int64_t h = 0; h < heads; ++h)
    if (!(std::isfinite(values[h]) || (sink && values[h] == -std::numeric_limits<float>::infinity()))) return h;
  return -1;
}

// The first dimension in which a quantized K or V's scale view breaks its
// shape rule, or -1: batch, heads and seq each 1 (broadcast) or the codes'
// own (0-2), head_dim 1 (3).
inline int bad_scale_dim(const attnrt_tensor& scale, const attnrt_tensor& codes) {
  for (int i = 0; i < 3; ++i)
    if (scale.shape[i] != 1 && scale.shape[i] != codes.shape[i]) return i;
  return scale.shape[3] != 1 ? 3 : -1;
}

// Where varlen offsets (cu_seqlens, seqs sequences packing `total` rows)
// first break their rules, or rule none: cu[0] is 0 (at 0), each is at
// least the one before (at b), the last is the total (at seqs).
struct OffsetFault {
  enum Rule { none, first, order, total } rule = none;
  std::int64_t at = -1;
};
inline OffsetFault bad_offset(const std::int32_t* cu, std::int64_t seqs, std::int64_t total) {
  if (cu[0] != 0) return {OffsetFault::first, 0};
  for (std::int64_t b = 1; b <= seqs; ++b)
    if (cu[b] < cu[b - 1]) return {OffsetFault::order, b};
  if (cu[seqs] != total) return {OffsetFault::total, seqs};
  return {};
}

}  // namespace attnrt::rt
