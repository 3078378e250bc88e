// Views whose elements lie more than 2^32 elements or bytes from their data
// pointer, as in a server's KV cache of tens of GiB: batch strides, row
// strides, pages far up a pool, keys near the end of a sequence of 2^31 - 1,
// int8 codes and their scales. Every offset the library computes from an
// index and a stride must be 64-bit; one computed in 32 bits reads or writes
// the wrong element. Each call is checked against the double reference of
// the same values in compact tensors, on every backend (kernel set x
// strategy) and dtype, with two workers (split-KV decode included).
//
// The far copies live in sparse mappings (MAP_NORESERVE): only the memory
// pages holding elements are touched, so a view spanning 80 GiB costs a few
// MiB natively. Not under qemu, whose user mode backs such mappings with
// host memory (the SVE sets' offsets were checked there once by hand, a
// case per process).
#include <attnrt/attnrt.h>
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <numeric>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "tests/harness.hpp"

namespace attnrt::test {
namespace {

using Shape = std::array<std::int64_t, 4>;
using Strides = std::array<std::int64_t, 3>;

constexpr std::int64_t k2To32 = std::int64_t{1} << 32;

// A view at the given strides in a sparse mapping of its whole span.
class FarTensor {
 public:
  // Zero elements (an output).
  FarTensor(attnrt_dtype dtype, Shape shape, Strides strides) {
    std::int64_t last = shape[3] - 1;
    for (int i = 0; i < 3; ++i) last += (shape[i] - 1) * strides[i];
    bytes_ = static_cast<std::size_t>(last + 1) * dtype_bytes(dtype);
    void* m = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();
    view_ = attnrt_tensor{m, dtype, {shape[0], shape[1], shape[2], shape[3]}, {strides[0], strides[1], strides[2]}};
  }
  // A copy of src's elements.
  FarTensor(const attnrt_tensor& src, Strides strides)
      : FarTensor(src.dtype, {src.shape[0], src.shape[1], src.shape[2], src.shape[3]}, strides) {
    for_each_row(src, [&](std::int64_t b, std::int64_t h, std::int64_t s, const void* row) {
      std::memcpy(at(b, h, s), row, row_bytes());
    });
  }
  ~FarTensor() { munmap(view_.data, bytes_); }
  FarTensor(const FarTensor&) = delete;
  FarTensor& operator=(const FarTensor&) = delete;

  const attnrt_tensor& c() const { return view_; }
  void* at(std::int64_t b, std::int64_t h, std::int64_t s) const {
    const std::int64_t e = b * view_.stride[0] + h * view_.stride[1] + s * view_.stride[2];
    return static_cast<char*>(view_.data) + e * static_cast<std::int64_t>(dtype_bytes(view_.dtype));
  }
  std::size_t row_bytes() const { return static_cast<std::size_t>(view_.shape[3]) * dtype_bytes(view_.dtype); }

  // f(b, h, s, row) over every row of a view.
  template <class F>
  static void for_each_row(const attnrt_tensor& t, F f) {
    const std::int64_t esz = static_cast<std::int64_t>(dtype_bytes(t.dtype));
    for (std::int64_t b = 0; b < t.shape[0]; ++b)
      for (std::int64_t h = 0; h < t.shape[1]; ++h)
        for (std::int64_t s = 0; s < t.shape[2]; ++s)
          f(b, h, s, static_cast<const char*>(t.data) + (b * t.stride[0] + h * t.stride[1] + s * t.stride[2]) * esz);
  }

 private:
  std::size_t bytes_ = 0;
  attnrt_tensor view_{};
};

// Dense strides of `shape` with `extra` elements added to dimension `dim`'s.
Strides spread(const Shape& shape, int dim, std::int64_t extra) {
  Strides s{shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3]};
  s[dim] += extra;
  for (int i = dim - 1; i >= 0; --i) s[i] = std::max(s[i], s[i + 1] * shape[i + 1]);  // no overlap
  return s;
}

// Whether this machine maps a sparse region of 128 GiB (not where the
// kernel is set never to overcommit: vm.overcommit_memory = 2).
bool maps_sparse_regions() {
  constexpr std::size_t kBytes = std::size_t{1} << 37;
  void* m = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return false;
  munmap(m, kBytes);
  return true;
}

class FarOffsets : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    // (qemu-user backs a guest's sparse mappings with host memory: this
    // suite's SVE cases grew one qemu process to 24 GiB.)
    if (!IsSkipped() && emulated()) GTEST_SKIP() << "sparse mappings of tens of GiB run natively only";
    if (!IsSkipped() && !maps_sparse_regions()) GTEST_SKIP() << "this machine maps no sparse region of 128 GiB";
  }
  const Backend& backend() const { return GetParam().backend; }
  attnrt_dtype dtype() const { return GetParam().dtype; }
  Tolerance tol() const { return tolerance(dtype(), ATTNRT_EXP2_ACCURATE); }

  // The problem's call on far copies of its inputs (K and V as given) into
  // far outputs, dimension `dim` of each spread by `extra`, against its reference.
  void expect_far_call(Problem& p, const attnrt_tensor& k, const attnrt_tensor& v, int dim, std::int64_t extra,
                       attnrt_params params) {
    const FarTensor q(p.q().c(), spread(p.q().shape(), dim, extra));
    const HostTensor o_shape = p.make_o();
    const FarTensor o(o_shape.dtype(), o_shape.shape(), spread(o_shape.shape(), dim, extra));
    std::optional<FarTensor> lse;
    if (const std::optional<HostTensor> l = p.make_lse()) lse.emplace(ATTNRT_F32, l->shape(), spread(l->shape(), dim, extra));
    params.lse = lse ? &lse->c() : nullptr;
    const CRuntime& rt = shared_runtime(backend().isa, 2);
    ASSERT_EQ(rt.status(), ATTNRT_OK) << rt.error();
    ASSERT_EQ(attnrt_runtime_forward(rt.get(), &q.c(), &k, &v, &o.c(), &params), ATTNRT_OK) << attnrt_last_error();
    EXPECT_TRUE(matches_reference(o.c(), lse ? &lse->c() : nullptr, p.reference(), tol()));
  }
  void expect_far_call(Problem& p, int dim, std::int64_t extra) {
    const FarTensor k(p.k().c(), spread(p.k().shape(), dim, extra)), v(p.v().c(), spread(p.v().shape(), dim, extra));
    expect_far_call(p, k.c(), v.c(), dim, extra, p.params(nullptr, backend().strategy));
  }
};

// Batch 1 of every tensor 2^32 elements past batch 0: decode, a few rows
// (GQA's grouped rows), and a causal block of packed rows.
TEST_P(FarOffsets, BatchesPast2To32Elements) {
  for (const std::int64_t M : {1, 6, 70}) {
    const Spec spec{.dtype = dtype(), .B = 2, .Hq = 4, .Hkv = 2, .M = M, .N = 77, .D = 40, .Dv = 40,
                    .causal = M > 6, .kv_lens = {77, 51}};
    SCOPED_TRACE(spec.name());
    Problem p(spec);
    expect_far_call(p, 0, k2To32);
  }
}

// Rows 2^26 elements apart: row 76 lies 5 * 2^30 elements (20 GiB of fp32) on.
TEST_P(FarOffsets, RowsPast2To32Elements) {
  for (const std::int64_t M : {1, 5}) {
    const Spec spec{.dtype = dtype(), .B = 1, .Hq = 4, .Hkv = 2, .M = M, .N = 77, .D = 24, .Dv = 24};
    SCOPED_TRACE(spec.name());
    Problem p(spec);
    expect_far_call(p, 2, std::int64_t{1} << 26);
  }
}

// A sequence of 2^31 - 1 keys whose rows see only its last ones (a sliding
// window): key offsets near 2^31 rows, 2^35 elements.
TEST_P(FarOffsets, KeysAtTheEndOfA2To31Sequence) {
  constexpr std::int64_t kN = (std::int64_t{1} << 31) - 1, kWindow = 40;
  for (const std::int64_t M : {1, 3}) {
    // The keys the rows see, compact: the reference's problem.
    const Spec spec{.dtype = dtype(), .Hq = 2, .Hkv = 1, .M = M, .N = M + kWindow, .D = 16, .Dv = 16,
                    .causal = true, .window_left = kWindow};
    SCOPED_TRACE(spec.name());
    Problem p(spec);
    const auto far_keys = [&](const attnrt_tensor& src) {
      auto t = std::make_unique<FarTensor>(src.dtype, Shape{1, 1, kN, src.shape[3]}, Strides{kN * src.shape[3], kN * src.shape[3], src.shape[3]});
      FarTensor::for_each_row(src, [&](std::int64_t, std::int64_t, std::int64_t s, const void* row) {
        std::memcpy(t->at(0, 0, kN - src.shape[2] + s), row, t->row_bytes());
      });
      return t;
    };
    const auto k = far_keys(p.k().c()), v = far_keys(p.v().c());
    expect_far_call(p, k->c(), v->c(), 0, 0, p.params(nullptr, backend().strategy));
  }
}

// A paged cache whose pages lie 2^30 elements apart, named in reverse: the
// last page 9 * 2^30 elements (36 GiB of fp32) up the pool.
TEST_P(FarOffsets, PagesPast2To32Elements) {
  constexpr std::int64_t kPage = 16, kSlots = 5;
  for (const std::int64_t M : {1, 5}) {
    const Spec spec{.dtype = dtype(), .B = 2, .Hq = 4, .Hkv = 2, .M = M, .N = kPage * kSlots, .D = 40, .Dv = 40,
                    .kv_lens = {80, 37}};
    SCOPED_TRACE(spec.name());
    Problem p(spec);
    std::vector<std::int32_t> table(2 * kSlots);
    std::iota(table.rbegin(), table.rend(), 0);
    const auto pool = [&](const attnrt_tensor& dense) {
      const std::int64_t d = dense.shape[3];
      auto t = std::make_unique<FarTensor>(dense.dtype, Shape{2 * kSlots, 2, kPage, d},
                                           Strides{2 * kPage * d + (std::int64_t{1} << 30), kPage * d, d});
      FarTensor::for_each_row(dense, [&](std::int64_t b, std::int64_t h, std::int64_t j, const void* row) {
        std::memcpy(t->at(table[b * kSlots + j / kPage], h, j % kPage), row, t->row_bytes());
      });
      return t;
    };
    const auto k = pool(p.k().c()), v = pool(p.v().c());
    attnrt_params params = p.params(nullptr, backend().strategy);
    params.block_table = table.data();
    params.block_table_stride = kSlots;
    expect_far_call(p, k->c(), v->c(), 0, k2To32, params);
  }
}

// int8 K/V codes 2^32 bytes apart per batch, their scales 2^31 floats.
TEST_P(FarOffsets, Int8CodesAndScalesPast2To32Bytes) {
  for (const std::int64_t M : {1, 5}) {
    const Spec spec{.dtype = dtype(), .B = 2, .Hq = 4, .Hkv = 2, .M = M, .N = 77, .D = 40, .Dv = 40};
    SCOPED_TRACE(spec.name());
    Problem p(spec);
    std::mt19937 rng(seed_of(spec.name()));
    std::uniform_int_distribution<int> code(-127, 127);
    std::uniform_real_distribution<float> scale(0.002f, 0.01f);
    // Codes and a scale per token and head; the reference's K and V their products.
    const auto quantize = [&](HostTensor& dense) {
      const Shape s = dense.shape();
      auto codes = std::make_unique<FarTensor>(ATTNRT_I8, s, spread(s, 0, k2To32));
      const Shape per_key{s[0], s[1], s[2], 1};
      auto scales = std::make_unique<FarTensor>(ATTNRT_F32, per_key, spread(per_key, 0, std::int64_t{1} << 31));
      for (std::int64_t b = 0; b < s[0]; ++b)
        for (std::int64_t h = 0; h < s[1]; ++h)
          for (std::int64_t j = 0; j < s[2]; ++j) {
            const float f = scale(rng);
            std::memcpy(scales->at(b, h, j), &f, sizeof f);
            for (std::int64_t d = 0; d < s[3]; ++d) {
              const auto c = static_cast<std::int8_t>(code(rng));
              static_cast<std::int8_t*>(codes->at(b, h, j))[d] = c;
              dense.set(b, h, j, d, static_cast<double>(static_cast<float>(c) * f));
            }
          }
      return std::make_pair(std::move(codes), std::move(scales));
    };
    const auto [k, ks] = quantize(p.k());
    const auto [v, vs] = quantize(p.v());
    attnrt_params params = p.params(nullptr, backend().strategy);
    params.k_scale = &ks->c();
    params.v_scale = &vs->c();
    expect_far_call(p, k->c(), v->c(), 0, k2To32, params);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, FarOffsets, ::testing::ValuesIn(backend_cases()),
                         [](const ::testing::TestParamInfo<BackendCase>& info) { return info.param.name(); });

}  // namespace
}  // namespace attnrt::test
