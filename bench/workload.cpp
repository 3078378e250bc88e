#include "bench/workload.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <new>

#include "kernels/convert.hpp"

namespace attnrt::bench {
namespace {

// splitmix64: a hash of the element index, so filling is parallel and the
// same on every run.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform in [-1, 1) on a grid of 2^-23: exact in fp32.
float value(std::uint64_t seed, std::uint64_t i) {
  return static_cast<float>(mix(seed ^ (i * 0x2545f4914f6cdd1dull)) >> 40) * 0x1p-23f - 1.0f;
}

void fill(const Tensor& t, std::uint64_t seed) {
  const auto n = static_cast<std::int64_t>(elements(t));
  if (t.dtype == DType::f32) {
    float* d = static_cast<float*>(t.data);
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) d[i] = value(seed, i);
    return;
  }
  std::uint16_t* d = static_cast<std::uint16_t*>(t.data);
  const bool half = t.dtype == DType::f16;
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i)
    d[i] = half ? kernels::float_to_fp16(value(seed, i)) : kernels::float_to_bf16(value(seed, i));
}

Tensor dense(const Buffer& b, DType t, std::int64_t batch, std::int64_t heads, std::int64_t seq,
             std::int64_t dim) {
  return Tensor::bhsd(b.data(), t, batch, heads, seq, dim);
}

}  // namespace

namespace {
bool g_huge_pages = false;
}  // namespace

void use_huge_pages(bool on) { g_huge_pages = on; }
bool huge_pages_used() { return g_huge_pages; }

long long huge_page_mib() {
  std::FILE* f = std::fopen("/proc/self/smaps_rollup", "r");
  if (!f) return -1;
  long long kib = -1;
  char line[256];
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "AnonHugePages: %lld kB", &kib) == 1) break;
  std::fclose(f);
  return kib < 0 ? -1 : kib / 1024;
}

std::string page_backing() {
  if (!g_huge_pages) return "4 KiB pages";
  const long long mib = huge_page_mib();
  return "huge pages advised (" + (mib < 0 ? std::string("? MiB") : std::to_string(mib) + " MiB") + " backed)";
}

Buffer::Buffer(std::size_t bytes) : bytes_(bytes) {
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  const bool huge = g_huge_pages && bytes >= kHuge;
  // Page-aligned as a serving engine's pools would be (README: a page's
  // rows of a head off a memory page boundary cost paged decode 10-15%).
  constexpr std::size_t kPage = 4096;
  const std::size_t align = huge ? kHuge : bytes >= kPage ? kPage : 64;
  const std::size_t rounded = (bytes + align - 1) / align * align;
  p_.reset(std::aligned_alloc(align, rounded ? rounded : 64));
  if (!p_) throw std::bad_alloc();
  // Advice only: where THP is off the buffer stays on plain pages, and the
  // reports say how much was backed (huge_page_mib).
  if (huge) madvise(p_.get(), rounded, MADV_HUGEPAGE);
}

Workload::Workload(const Shape& s) : shape_(s) {
  const std::size_t esz = dtype_bytes(s.dtype);
  const auto sz = [&](std::int64_t heads, std::int64_t seq, std::int64_t dim) {
    return static_cast<std::size_t>(s.batch * heads * seq * dim) * esz;
  };
  qb_ = Buffer(sz(s.heads, s.q_len, s.head_dim));
  kb_ = Buffer(sz(s.kv_heads, s.kv_len, s.head_dim));
  vb_ = Buffer(sz(s.kv_heads, s.kv_len, s.head_dim_v));
  ob_ = Buffer(sz(s.heads, s.q_len, s.head_dim_v));
  q_ = dense(qb_, s.dtype, s.batch, s.heads, s.q_len, s.head_dim);
  k_ = dense(kb_, s.dtype, s.batch, s.kv_heads, s.kv_len, s.head_dim);
  v_ = dense(vb_, s.dtype, s.batch, s.kv_heads, s.kv_len, s.head_dim_v);
  o_ = dense(ob_, s.dtype, s.batch, s.heads, s.q_len, s.head_dim_v);
  fill(q_, 1);
  fill(k_, 2);
  fill(v_, 3);
  fill_nan(o_);
}

void Workload::clear_output() const { fill_nan(o_); }

void fill_nan(const Tensor& t) {
  const std::size_t n = elements(t);
  if (t.dtype == DType::f32) {
    float* d = static_cast<float*>(t.data);
    for (std::size_t i = 0; i < n; ++i) d[i] = std::numeric_limits<float>::quiet_NaN();
    return;
  }
  const std::uint16_t nan = t.dtype == DType::f16 ? 0x7e00 : 0x7fc0;
  std::uint16_t* d = static_cast<std::uint16_t*>(t.data);
  for (std::size_t i = 0; i < n; ++i) d[i] = nan;
}

Tensor rows_of(const Tensor& t, std::int64_t r0, std::int64_t n) {
  Tensor v = t;
  v.data = static_cast<char*>(t.data) + r0 * t.stride[2] * static_cast<std::int64_t>(dtype_bytes(t.dtype));
  v.shape[2] = n;
  return v;
}

Buffer to_fp32(const Tensor& t) {
  const auto n = static_cast<std::int64_t>(elements(t));
  Buffer out(static_cast<std::size_t>(n) * sizeof(float));
  float* d = static_cast<float*>(out.data());
  const void* src = t.data;
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    switch (t.dtype) {
      case DType::f32: d[i] = static_cast<const float*>(src)[i]; break;
      case DType::f16: d[i] = kernels::fp16_to_float(static_cast<const std::uint16_t*>(src)[i]); break;
      case DType::bf16: d[i] = kernels::bf16_to_float(static_cast<const std::uint16_t*>(src)[i]); break;
      default: d[i] = std::numeric_limits<float>::quiet_NaN(); break;  // int8/fp8 codes need their scales
    }
  }
  return out;
}

}  // namespace attnrt::bench
