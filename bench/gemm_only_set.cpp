#include "bench/gemm_only_set.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

namespace attnrt::bench {
namespace {

const kernels::KernelSet* g_base = nullptr;
kernels::KernelSet g_set;

constexpr float kLn2 = 0.6931471805599453f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// S is in log2 units (scale·log2e·Q·Kᵀ); P gets scale·Q·Kᵀ, 0 where masked.
inline float weight(float s) { return s == kNegInf ? 0.0f : s * kLn2; }

void no_max(const float*, std::int64_t, int, int, float*) {}

// P = S as the set's fp32 A panel (blocks of blk columns, each [mr][w]:
// kernel_set.hpp). A 16-bit panel's layout is the set's own, reached only
// through its packers, and rounding S into one took longer than the AMX
// set's exp2 pass: such a P is zeroed instead, which the tiles multiply as
// fast as any other values.
void copy_p(const float* s, std::int64_t lds, int, int cols, const float*, float*, void* p_panel,
            kernels::Exp2Precision) {
  const kernels::KernelSet& ks = *g_base;
  const int mr = ks.mr;
  if (ks.packed_elem != sizeof(float)) {
    std::memset(p_panel, 0, kernels::a_panels_bytes(ks, mr, cols));
    return;
  }
  const int blk = kernels::a_block_of(ks);
  float* p = static_cast<float*>(p_panel);
  for (int b0 = 0; b0 < cols; b0 += blk) {
    const int w = std::min(blk, cols - b0);
    for (int r = 0; r < mr; ++r)
      for (int c = 0; c < w; ++c) p[r * w + c] = weight(s[r * lds + b0 + c]);
    p += w * mr;
  }
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
