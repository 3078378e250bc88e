#include "tests/tensors.hpp"

#include <cstdlib>
#include <cstring>

#include "kernels/convert.hpp"
#include "tests/reference.hpp"

namespace attnrt::test {
namespace {

constexpr std::size_t kGuard = 64;  // bytes of fill before and after the body

}  // namespace

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::bhsd: return "bhsd";
    case Layout::bshd: return "bshd";
    case Layout::cache: return "cache";
  }
  return "?";
}

const char* dtype_name(attnrt_dtype t) {
  switch (t) {
    case ATTNRT_F32: return "f32";
    case ATTNRT_F16: return "f16";
    case ATTNRT_BF16: return "bf16";
    case ATTNRT_I8: return "i8";
    case ATTNRT_F8_E4M3: return "e4m3";
    case ATTNRT_F8_E5M2: return "e5m2";
  }
  return "?";
}

HostTensor::HostTensor(attnrt_dtype dtype, Shape shape, Layout layout, unsigned char fill)
    : shape_(shape), esz_(dtype_bytes(dtype)), fill_(fill) {
  const auto [B, H, S, D] = shape;
  std::array<std::int64_t, 3> stride{};
  view_offset_ = 0;
  switch (layout) {
    case Layout::bhsd:
      stride = {H * S * D, S * D, D};
      body_elems_ = B * H * S * D;
      break;
    case Layout::bshd:
      stride = {S * H * D, D, H * D};
      body_elems_ = B * S * H * D;
      break;
    case Layout::cache: {
      // A [B, S + 5, H + 2, D + 3] cache; the view starts at row 2, head 1,
      // so there are gaps after every row's D elements, between heads, and
      // between sequence positions.
      const std::int64_t cap = S + 5, hcap = H + 2, dcap = D + 3;
      stride = {cap * hcap * dcap, dcap, hcap * dcap};
      view_offset_ = 2 * hcap * dcap + dcap;
      body_elems_ = B * cap * hcap * dcap;
      break;
    }
  }
  const std::size_t bytes = 2 * kGuard + body_elems_ * esz_;
  storage_.reset(new unsigned char[bytes + 64]);
  base_ = storage_.get() + (64 - reinterpret_cast<std::uintptr_t>(storage_.get()) % 64) % 64;
  std::memset(base_, fill_, bytes);
  view_.data = base_ + kGuard + view_offset_ * esz_;
  view_.dtype = dtype;
  for (int i = 0; i < 4; ++i) view_.shape[i] = shape[i];
  for (int i = 0; i < 3; ++i) view_.stride[i] = stride[i];
}

attnrt::Tensor HostTensor::cpp() const {
  return {view_.data, static_cast<attnrt::DType>(view_.dtype), shape_,
          {view_.stride[0], view_.stride[1], view_.stride[2]}};
}

std::int64_t HostTensor::offset(std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) const {
  return b * view_.stride[0] + h * view_.stride[1] + s * view_.stride[2] + d;
}

double HostTensor::get(std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) const {
  return load(view_, b, h, s, d);
}

void HostTensor::set(std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d, double v) {
  unsigned char* p = static_cast<unsigned char*>(view_.data) + offset(b, h, s, d) * esz_;
  const float f = static_cast<float>(v);
  switch (view_.dtype) {
    case ATTNRT_F32: std::memcpy(p, &f, 4); break;
    case ATTNRT_F16: {
      const std::uint16_t u = kernels::float_to_fp16(f);
      std::memcpy(p, &u, 2);
      break;
    }
    case ATTNRT_BF16: {
      const std::uint16_t u = kernels::float_to_bf16(f);
      std::memcpy(p, &u, 2);
      break;
    }
    default: std::abort();  // a quantized tensor takes codes: set_code()
  }
}

void HostTensor::set_code(std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d, std::uint8_t c) {
  if (esz_ != 1) std::abort();
  static_cast<unsigned char*>(view_.data)[offset(b, h, s, d)] = c;
}

std::uint32_t HostTensor::bits(std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) const {
  const unsigned char* p = static_cast<const unsigned char*>(view_.data) + offset(b, h, s, d) * esz_;
  std::uint32_t u = 0;
  std::memcpy(&u, p, esz_);
  return u;
}

void HostTensor::fill_uniform(std::mt19937& rng, double lo, double hi) {
  std::uniform_real_distribution<double> dist(lo, hi);
  for (std::int64_t b = 0; b < shape_[0]; ++b)
    for (std::int64_t h = 0; h < shape_[1]; ++h)
      for (std::int64_t s = 0; s < shape_[2]; ++s)
        for (std::int64_t d = 0; d < shape_[3]; ++d) set(b, h, s, d, dist(rng));
}

bool HostTensor::outside_intact() const {
  std::vector<char> inside(body_elems_, 0);
  for (std::int64_t b = 0; b < shape_[0]; ++b)
    for (std::int64_t h = 0; h < shape_[1]; ++h)
      for (std::int64_t s = 0; s < shape_[2]; ++s)
        for (std::int64_t d = 0; d < shape_[3]; ++d) inside[view_offset_ + offset(b, h, s, d)] = 1;
  const unsigned char* body = base_ + kGuard;
  for (std::size_t i = 0; i < kGuard; ++i)
    if (base_[i] != fill_ || body[body_elems_ * esz_ + i] != fill_) return false;
  for (std::int64_t e = 0; e < body_elems_; ++e) {
    if (inside[e]) continue;
    for (std::size_t i = 0; i < esz_; ++i)
      if (body[e * esz_ + i] != fill_) return false;
  }
  return true;
}

std::uint32_t seed_of(const std::string& name) {
  std::uint32_t h = 2166136261u;  // FNV-1a
  for (const char ch : name) h = (h ^ static_cast<unsigned char>(ch)) * 16777619u;
  return h;
}

}  // namespace attnrt::test
