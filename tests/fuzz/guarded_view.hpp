// A strided view in its own mmap region, flush against a PROT_NONE page
// after its last byte and with another before its first: any read or write
// past either end of the span faults at once, without a sanitizer. Bytes of
// the span outside the view hold a fill, checked by padding_intact().
#pragma once

#include <attnrt/attnrt.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace attnrt::fuzz {

class GuardedView {
 public:
  using Shape = std::array<std::int64_t, 4>;
  using Strides = std::array<std::int64_t, 3>;

  // Every byte of the span, view and padding, starts as `fill`.
  GuardedView(attnrt_dtype dtype, Shape shape, Strides strides, unsigned char fill);
  ~GuardedView();
  GuardedView(const GuardedView&) = delete;
  GuardedView& operator=(const GuardedView&) = delete;

  const attnrt_tensor& view() const { return view_; }
  std::size_t element_size() const { return esz_; }

  // Stores v rounded to the dtype (nearest even); fp32, fp16, bf16 only.
  void set(std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d, double v);
  // Stores a 1-byte code (int8, fp8 views only).
  void set_code(std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d, std::uint8_t code);
  // get() reads a code as its value, unscaled (tests/reference.hpp, load).
  double get(std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) const;

  // Inputs: after this the library cannot write them without faulting.
  void make_read_only();
  // Remembers every byte of the span, for the two checks below.
  void snapshot();
  // Whether bytes of the span outside the view are as at snapshot().
  bool padding_intact() const;
  // Whether every byte of the span is as at snapshot().
  bool unchanged() const;

 private:
  std::int64_t offset(std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) const;

  std::size_t esz_, span_bytes_, map_bytes_;
  unsigned char* map_ = nullptr;   // guard page, pages of the span, guard page
  unsigned char* span_ = nullptr;  // first byte of the view's span
  std::vector<unsigned char> saved_;
  attnrt_tensor view_;
};

}  // namespace attnrt::fuzz
