#include "bench/gemm_only_set.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/convert.hpp"

namespace attnrt::bench {
namespace {

const kernels::KernelSet* g_base = nullptr;
kernels::KernelSet g_set;

constexpr float kLn2 = 0.6931471805599453f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// S is in log2 units (scale·log2e·Q·Kᵀ); P gets scale·Q·Kᵀ, 0 where masked.
inline float weight(float s) { return s == kNegInf ? 0.0f : s * kLn2; }

void no_max(const float*, std::int64_t, int, int, float*) {}

// P = S as the set's A panel: fp32 panels directly (blocks of blk columns,
// each [mr][w]: kernel_set.hpp); 16-bit panels through the set's Q packer
// from rows rounded to its dtype, as its exp2_rows would round P.
void copy_p(const float* s, std::int64_t lds, int, int cols, const float*, float*, void* p_panel,
            kernels::Exp2Precision) {
  const kernels::KernelSet& ks = *g_base;
  const int mr = ks.mr;
  if (ks.packed_elem == sizeof(float)) {
    const int blk = kernels::a_block_of(ks);
    float* p = static_cast<float*>(p_panel);
    for (int b0 = 0; b0 < cols; b0 += blk) {
      const int w = std::min(blk, cols - b0);
      for (int r = 0; r < mr; ++r)
        for (int c = 0; c < w; ++c) p[r * w + c] = weight(s[r * lds + b0 + c]);
      p += w * mr;
    }
    return;
  }
  thread_local std::vector<float> row;
  thread_local std::vector<std::byte> rows;  // mr x cols of the input dtype
  const std::size_t esz = kernels::dtype_size(ks.dtype);
  row.resize(cols);
  rows.resize(static_cast<std::size_t>(mr) * cols * esz);
  for (int r = 0; r < mr; ++r) {
    std::transform(s + r * lds, s + r * lds + cols, row.begin(), weight);
    kernels::store_row(row.data(), cols, rows.data() + static_cast<std::size_t>(r) * cols * esz, ks.dtype);
  }
  ks.pack_q(rows.data(), cols, mr, cols, p_panel);
}

bool normalize_by_one(const float* o, std::int64_t ldo, int rows, int cols, const float*, void* out,
                      std::int64_t ld_out, kernels::DType out_type) {
  static const std::array<float, 64> ones = [] {
    std::array<float, 64> a;
    a.fill(1.0f);
    return a;
  }();
  return g_base->normalize(o, ldo, rows, cols, ones.data(), out, ld_out, out_type);
}

}  // namespace

const kernels::KernelSet& gemm_only_set(const kernels::KernelSet& base) {
  g_base = &base;
  g_set = base;
  g_set.row_max = no_max;
  g_set.exp2_rows = copy_p;
  g_set.normalize = normalize_by_one;
  g_set.pack_v_fast = nullptr;
  g_set.pv_init_fast = nullptr;
  g_set.pv_acc_fast = nullptr;
  g_set.elem_fast = 0;
  return g_set;
}

}  // namespace attnrt::bench
