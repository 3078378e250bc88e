// The kernel-contract suite's tester (as XNNPACK's micro-kernel testers):
// one fixture, KernelSetTest, instantiated over every kernel set under test,
// whose TEST_Ps check each entry of kernels/kernel_set.hpp against double
// precision (test_kernel_sets.cpp: tiles and softmax pieces;
// test_kernel_paths.cpp: the direct K/V path, pipelines, the runtime).
//
// The sets under test are every registered set; built as
// test_avx512_emulated (ATTNRT_AVX512_SIMDE), the avx512 sets compiled on
// SIMDe's emulation of the intrinsics, which any x86-64 CPU runs. What is
// specific to one ISA (exp2 ulp, FZ16, set selection) stays in
// test_x86_kernels.cpp and test_sve_kernels.cpp.
#pragma once

#include <attnrt/attnrt.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "kernels/convert.hpp"
#include "kernels/kernel_set.hpp"
#include "tests/tensors.hpp"

namespace attnrt::test {

using kernels::DType;
using kernels::Exp2Precision;
using kernels::FewRowKernels;
using kernels::KernelSet;
using kernels::round_up;

#ifdef ATTNRT_AVX512_SIMDE
inline constexpr bool kEmulatedSets = true;
#else
inline constexpr bool kEmulatedSets = false;
#endif

inline constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();
inline constexpr float kInff = std::numeric_limits<float>::infinity();
inline constexpr double kU = 1.0 / (1 << 24);  // fp32 unit roundoff
inline constexpr float kSentinel = 12345.0f;   // in scratch cells a kernel must not write

// The sets under test, in DType order (contract_sets.cpp).
std::vector<const KernelSet*> contract_sets();
// The registered generic set for dtype t: what other sets are compared with.
const KernelSet& generic_set(DType t);
// The set under test called `name` for dtype t, or null.
const KernelSet* contract_set(const std::string& name, DType t);
inline const char* dtype_short(DType t) { return t == DType::f32 ? "f32" : t == DType::f16 ? "f16" : "bf16"; }

// Bytes, 64-byte aligned, filled with `fill`, followed by a guard of fill.
class Buffer {
 public:
  explicit Buffer(std::size_t bytes, unsigned char fill = 0)
      : bytes_(bytes), fill_(fill), mem_(new unsigned char[bytes + 192]) {
    data_ = mem_.get() + (64 - reinterpret_cast<std::uintptr_t>(mem_.get()) % 64) % 64;
    std::memset(data_, fill, bytes + kGuard);
  }
  void* data() { return data_; }
  std::byte* bytes() { return reinterpret_cast<std::byte*>(data_); }
  template <class T = void>
  T* get() const {
    return reinterpret_cast<T*>(data_);
  }
  bool guard_intact() const {
    return std::all_of(data_ + bytes_, data_ + bytes_ + kGuard, [&](unsigned char c) { return c == fill_; });
  }

 private:
  static constexpr std::size_t kGuard = 64;
  std::size_t bytes_;
  unsigned char fill_;
  std::unique_ptr<unsigned char[]> mem_;
  unsigned char* data_;
};

// A [rows x cols] matrix of dtype t with row stride cols + 3 and NaN in the
// gaps (a one-head "cache" view).
inline HostTensor matrix(attnrt_dtype t, int rows, int cols) {
  return HostTensor(t, {1, 1, rows, cols}, Layout::cache, kNanFill);
}
inline const void* src(const HostTensor& m) { return m.c().data; }
inline std::int64_t ld(const HostTensor& m) { return m.c().stride[2]; }

// A matrix of inputs in dtype t with row stride ld (NaN between rows), row
// 0 `shift` elements past a 64-byte boundary, with the exact values it holds
// as doubles.
struct Matrix {
  int rows, cols;
  std::int64_t ld;
  DType t;
  std::vector<std::uint16_t> half;  // f16/bf16 storage
  std::vector<float> single;        // f32 storage
  std::vector<double> value;        // rows x cols, what the storage holds
  std::size_t first = 0;            // storage index of row 0

  Matrix(int r, int c, std::int64_t ld_, DType t_, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f,
         int shift = 0);
  const void* data() const {
    return t == DType::f32 ? static_cast<const void*>(single.data() + first) : half.data() + first;
  }
  const float* f32() const { return single.data() + first; }
  // Element j of row 0.
  const void* col(int j) const {
    return static_cast<const char*>(data()) + static_cast<std::size_t>(j) * (t == DType::f32 ? 4 : 2);
  }
  double at(int i, int j) const { return value[static_cast<std::size_t>(i) * cols + j]; }
};

// m (fp32) with every element rounded to a bf16 value, still fp32: what
// the pipelines hand a bf16 set's few-row kernels as Q (bf16 rows widened),
// which a kernel may take on bf16 dot products.
Matrix bf16_valued(const Matrix& m);

// Element i of an array of dtype t, as a kernel reads it.
double value_of(DType t, const void* p, std::size_t i);

// An element of an A or B panel as double: fp32, or bf16 when the set packs
// 2-byte pairs; the P of `prec`'s P·V path (2 bytes: the fast path of an
// fp16 set holds fp16).
double packed_value(const KernelSet& ks, const void* base, std::size_t index);
double p_value(const KernelSet& ks, Exp2Precision prec, const void* base, std::size_t index);
void set_packed(const KernelSet& ks, void* base, std::size_t index, double v);

// Index of element (column j, depth p) of B panels of width w (nr or nv) and
// kp depth (kernel_set.hpp layouts: [kp][w], or [kp/2][w][2] with k_pack 2).
// A panels: kernels::a_panel_index.
std::size_t panel_index(int w, int k_pack, int i, int p, int kp);

double ulp_f32(double x);

// O[r][c] in double after O = P1·V1 (init) and after O += P2·V2 (acc), and
// the sum of the products' magnitudes that bounds their rounding.
struct PvWant {
  double init, acc, mag;
};
PvWant pv_want(const HostTensor& p1, const HostTensor& v1, const HostTensor& p2, const HostTensor& v2, int keys,
               int r, int c);

class KernelSetTest : public ::testing::TestWithParam<const KernelSet*> {
 protected:
  void SetUp() override;
  void TearDown() override { mode_.reset(); }
  const KernelSet& ks() const { return *GetParam(); }
  const KernelSet& generic() const { return generic_set(ks().dtype); }
  attnrt_dtype dtype() const { return static_cast<attnrt_dtype>(ks().dtype); }
  // Relative error a panel's conversion may add: none when the packed type
  // holds the input dtype exactly, a bf16 rounding when fp32 is narrowed.
  double pack_rel() const { return ks().dtype == DType::f32 && ks().packed_elem == 2 ? std::ldexp(1.0, -8) : 0.0; }
  // Reads a P panel back through the set's own P·V path for `prec` (the
  // fast path may hold P in a narrower type): P times the identity, [mr x kp].
  std::vector<float> read_a_panel(const void* a_panel, int kp, Exp2Precision prec = Exp2Precision::accurate);

 private:
  // The set's mode for the whole test, as the pipelines hold it around its
  // kernels (AMX tiles configured; SVE fp16's FZ16).
  std::optional<kernels::FpModeScope> mode_;
};

}  // namespace attnrt::test

namespace attnrt::kernels {
// Names a set in gtest messages (found by argument-dependent lookup).
void PrintTo(const KernelSet* ks, std::ostream* os);
}  // namespace attnrt::kernels
