// The tensors of one benchmark shape: dense BHSD Q, K, V filled with
// deterministic values in [-1, 1) (the range tests/tolerances.hpp assumes)
// and an output O that starts as NaN, so a row attnrt never writes cannot
// pass the check.
#pragma once

#include <attnrt/attnrt.hpp>

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <string>

#include "bench/shapes.hpp"

namespace attnrt::bench {

// Buffers from now on: of 2 MiB or more, 2 MiB-aligned and advised into
// transparent huge pages (--huge-pages: how a server would back a large KV
// cache; each 4 KiB page a paged cache's pieces land on otherwise costs a
// TLB miss of its own), else on plain pages. Set before any is made.
void use_huge_pages(bool on);
bool huge_pages_used();
// This process's memory backed by huge pages, in MiB (smaps_rollup's
// AnonHugePages), or -1 where the kernel does not say.
long long huge_page_mib();
// What backs the buffers, for a report: "4 KiB pages" or "huge pages
// advised (N MiB backed)".
std::string page_backing();

// 64-byte aligned heap memory (see use_huge_pages).
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(std::size_t bytes);
  void* data() const { return p_.get(); }
  std::size_t bytes() const { return bytes_; }

 private:
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<void, Free> p_;
  std::size_t bytes_ = 0;
};

class Workload {
 public:
  explicit Workload(const Shape& s);

  const Shape& shape() const { return shape_; }
  const Tensor& q() const { return q_; }
  const Tensor& k() const { return k_; }
  const Tensor& v() const { return v_; }
  const Tensor& o() const { return o_; }
  // O back to NaN, so a run that skips a row cannot pass on an earlier run's output.
  void clear_output() const;

 private:
  Shape shape_;
  Buffer qb_, kb_, vb_, ob_;
  Tensor q_, k_, v_, o_;
};

// Element count of a dense [batch, heads, seq, dim] view.
inline std::size_t elements(const Tensor& t) {
  return static_cast<std::size_t>(t.shape[0] * t.shape[1] * t.shape[2] * t.shape[3]);
}

// Rows [r0, r0 + n) of a packed (varlen) view: one sequence as a dense batch of one.
Tensor rows_of(const Tensor& t, std::int64_t r0, std::int64_t n);

// A dense fp32 copy of t (exact for fp16 and bf16).
Buffer to_fp32(const Tensor& t);

// Every element of dense t set to NaN.
void fill_nan(const Tensor& t);

}  // namespace attnrt::bench
