// Test tensors: values stored in fp32, fp16 or bf16 (or int8/fp8 codes), laid out as BHSD, BSHD
// or a view into a larger KV cache, inside a buffer whose every byte outside
// the view holds a known fill. Inputs are surrounded by NaN, so a kernel that
// reads outside its view poisons its result; outputs by a finite canary, so a
// kernel that writes outside its view is caught by outside_intact().
#pragma once

#include <attnrt/attnrt.h>
#include <attnrt/attnrt.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace attnrt::test {

enum class Layout {
  bhsd,   // dense [batch, heads, seq, dim]
  bshd,   // dense [batch, seq, heads, dim] memory
  cache,  // a window of rows and heads in a larger [batch, capacity, heads,
          // dim + pad] cache: gaps between elements of every dimension and a
          // data pointer that is not 64-byte aligned
};
const char* layout_name(Layout l);
const char* dtype_name(attnrt_dtype t);
// Bytes of one element: 4 (fp32), 2 (fp16, bf16), 1 (int8, fp8 codes).
inline std::size_t dtype_bytes(attnrt_dtype t) {
  return t == ATTNRT_F32 ? 4 : t == ATTNRT_F16 || t == ATTNRT_BF16 ? 2 : 1;
}

// 0xff bytes are a NaN in fp32, fp16 and bf16 alike.
inline constexpr unsigned char kNanFill = 0xff;
// 0xa5 bytes are finite in every dtype (fp32 -2.9e-16, fp16 -0.022, bf16 -2.9e-16).
inline constexpr unsigned char kCanaryFill = 0xa5;

class HostTensor {
 public:
  using Shape = std::array<std::int64_t, 4>;
  HostTensor(attnrt_dtype dtype, Shape shape, Layout layout, unsigned char fill);

  const attnrt_tensor& c() const { return view_; }
  attnrt::Tensor cpp() const;
  const Shape& shape() const { return shape_; }
  attnrt_dtype dtype() const { return view_.dtype; }

  double get(std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) const;
  // Stores v rounded to the dtype (nearest even).
  void set(std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d, double v);
  // A quantized (int8/fp8) tensor's raw code at [b, h, s, d]; get() reads its value.
  void set_code(std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d, std::uint8_t c);
  // Every element of the view drawn from U(lo, hi), then rounded to the dtype.
  void fill_uniform(std::mt19937& rng, double lo = -1.0, double hi = 1.0);
  // Raw bits of element [b, h, s, d] (to compare results bit for bit).
  std::uint32_t bits(std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) const;

  // Whether every byte outside the view (gaps between rows and heads, and
  // guard zones before and after) still holds the fill.
  bool outside_intact() const;

 private:
  std::int64_t offset(std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) const;

  Shape shape_;
  std::size_t esz_;
  std::int64_t body_elems_, view_offset_;
  std::unique_ptr<unsigned char[]> storage_;
  unsigned char* base_;  // 64-byte aligned start of guard, body, guard
  unsigned char fill_;
  attnrt_tensor view_;
};

// Deterministic seed from a test's name.
std::uint32_t seed_of(const std::string& name);

}  // namespace attnrt::test
