#include "tests/fuzz/guarded_view.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/convert.hpp"
#include "tests/reference.hpp"
#include "tests/tensors.hpp"

namespace attnrt::fuzz {
namespace {

std::size_t page_size() {
  static const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

}  // namespace

GuardedView::GuardedView(attnrt_dtype dtype, Shape shape, Strides strides, unsigned char fill)
    : esz_(test::dtype_bytes(dtype)) {
  std::int64_t last = shape[3] - 1;  // offset of the last element of the view
  for (int i = 0; i < 3; ++i) last += (shape[i] - 1) * strides[i];
  span_bytes_ = static_cast<std::size_t>(last + 1) * esz_;
  const std::size_t page = page_size();
  const std::size_t body = (span_bytes_ + page - 1) / page * page;
  map_bytes_ = body + 2 * page;
  void* m = mmap(nullptr, map_bytes_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  map_ = static_cast<unsigned char*>(m);
  if (mprotect(map_ + page, body, PROT_READ | PROT_WRITE) != 0) {
    munmap(map_, map_bytes_);
    throw std::bad_alloc();
  }
  span_ = map_ + page + body - span_bytes_;  // the last byte touches the trailing guard
  std::memset(span_, fill, span_bytes_);
  view_.data = span_;
  view_.dtype = dtype;
  for (int i = 0; i < 4; ++i) view_.shape[i] = shape[i];
  for (int i = 0; i < 3; ++i) view_.stride[i] = strides[i];
}

GuardedView::~GuardedView() { munmap(map_, map_bytes_); }

std::int64_t GuardedView::offset(std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) const {
  return b * view_.stride[0] + h * view_.stride[1] + s * view_.stride[2] + d;
}

void GuardedView::set(std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d, double v) {
  unsigned char* p = span_ + offset(b, h, s, d) * esz_;
  const float f = static_cast<float>(v);
  std::uint16_t u = 0;
  switch (view_.dtype) {
    case ATTNRT_F32: std::memcpy(p, &f, 4); return;
    case ATTNRT_F16: u = kernels::float_to_fp16(f); break;
    case ATTNRT_BF16: u = kernels::float_to_bf16(f); break;
    default: std::abort();  // int8/fp8 K/V take set_code
  }
  std::memcpy(p, &u, 2);
}

void GuardedView::set_code(std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d, std::uint8_t code) {
  if (esz_ != 1) std::abort();
  span_[offset(b, h, s, d)] = code;
}

double GuardedView::get(std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) const {
  return test::load(view_, b, h, s, d);
}

void GuardedView::make_read_only() {
  const std::size_t page = page_size();
  if (mprotect(map_ + page, map_bytes_ - 2 * page, PROT_READ) != 0) {
    std::perror("mprotect");
    std::abort();
  }
}

void GuardedView::snapshot() { saved_.assign(span_, span_ + span_bytes_); }

bool GuardedView::unchanged() const { return std::memcmp(saved_.data(), span_, span_bytes_) == 0; }

bool GuardedView::padding_intact() const {
  std::vector<char> inside(span_bytes_ / esz_, 0);
  for (std::int64_t b = 0; b < view_.shape[0]; ++b)
    for (std::int64_t h = 0; h < view_.shape[1]; ++h)
      for (std::int64_t s = 0; s < view_.shape[2]; ++s)
        for (std::int64_t d = 0; d < view_.shape[3]; ++d) inside[offset(b, h, s, d)] = 1;
  for (std::size_t e = 0; e < inside.size(); ++e)
    if (!inside[e] && std::memcmp(saved_.data() + e * esz_, span_ + e * esz_, esz_) != 0) return false;
  return true;
}

}  // namespace attnrt::fuzz
