// The avx512 fp32-compute sets: 14x2-vector fp32 micro-kernels for Q·Kᵀ and
// P·V, and the packers and softmax pieces of this folder; and the direct
// K/V path (qk_direct.cpp, and P·V with V in place: the 14x2 tile, or for a
// strip's real rows pv_direct_rows.cpp), on fp16/bf16 rows once widen_rows made them fp32.
#include "kernels/avx512/kernel_set.hpp"

#include "kernels/avx512/intrinsics.hpp"

#include <type_traits>

#include "kernels/avx512/gemm_fp32.hpp"
#include "kernels/avx512/ops.hpp"
#include "kernels/convert.hpp"

namespace attnrt::kernels::avx512 {
namespace {

void qk_fp32_14x2(int dp, const void* a, const void* b, float alpha, float* s, std::int64_t lds) {
  gemm_fp32_14x2<Epilogue::scale_store>(dp, static_cast<const float*>(a),
                                        static_cast<const float*>(b), kNr, kNr, alpha, s, lds);
}
void pv_fp32_14x2_init(int kp, const void* a, const void* b, float* o, std::int64_t ldo) {
  gemm_fp32_14x2<Epilogue::store>(kp, static_cast<const float*>(a), static_cast<const float*>(b),
                                  kNv, kNv, 1.0f, o, ldo);
}
void pv_fp32_14x2_acc(int kp, const void* a, const void* b, float* o, std::int64_t ldo) {
  gemm_fp32_14x2<Epilogue::accumulate>(kp, static_cast<const float*>(a),
                                       static_cast<const float*>(b), kNv, kNv, 1.0f, o, ldo);
}

// A short strip's tiles: the 14x2 kernel cut to R rows (a row block of 512
// rows spent 6 of its 518 padded rows' FMAs on nothing).
void qk_fp32_rows(int rows, int dp, const void* a, const void* b, float alpha, float* s, std::int64_t lds) {
  with_rows(rows, [&]<int R>() {
    gemm_fp32_14x2<Epilogue::scale_store, false, false, R>(dp, static_cast<const float*>(a),
                                                           static_cast<const float*>(b), kNr, kNr, alpha, s, lds);
  });
}
void pv_fp32_rows(int rows, int kp, const void* a, const void* b, float* o, std::int64_t ldo, bool accumulate) {
  const float* pa = static_cast<const float*>(a);
  const float* pb = static_cast<const float*>(b);
  with_rows(rows, [&]<int R>() {
    if (accumulate)
      gemm_fp32_14x2<Epilogue::accumulate, false, false, R>(kp, pa, pb, kNv, kNv, 1.0f, o, ldo);
    else
      gemm_fp32_14x2<Epilogue::store, false, false, R>(kp, pa, pb, kNv, kNv, 1.0f, o, ldo);
  });
}

// P·V with V read in place (the direct path): all `cols` columns of V rows
// at v (row stride ldv), one kNv-column slice after another in one call
// (kernel_set.hpp): full slices keep unmasked loads, the last cols % kNv
// columns take the masked ones.
template <Epilogue E>
void pv_fp32_14x2_direct(int kp, const void* a, const float* v, std::int64_t ldv, int cols,
                         float* o, std::int64_t ldo) {
  const float* pa = static_cast<const float*>(a);
  int c = 0;
  for (; c + kNv <= cols; c += kNv) gemm_fp32_14x2<E, false, true>(kp, pa, v + c, ldv, kNv, 1.0f, o + c, ldo);
  if (c < cols) gemm_fp32_14x2<E, true, true>(kp, pa, v + c, ldv, cols - c, 1.0f, o + c, ldo);
}

template <class T>
constexpr KernelSet make_set(DType t) {
  return KernelSet{
      .name = "avx512",
      .dtype = t,
      .requires_cpu = kFeatureAvx512,
      .mr = kMr,
      .nr = kNr,
      .nv = kNv,
      .k_pack = 1,
      .packed_elem = sizeof(float),
      .pack_q = pack_q<T>,
      .pack_k = pack_k<T>,
      .pack_v = pack_v<T>,
      .qk = qk_fp32_14x2,
      .pv_init = pv_fp32_14x2_init,
      .pv_acc = pv_fp32_14x2_acc,
      .row_max = row_max,
      .exp2_rows = exp2_rows,
      .rescale = rescale,
      .normalize = normalize,
      // The direct path: fp32 K and V read in place, fp16/bf16 ones widened
      // into the workspace first (widen_rows).
      .qk_direct = qk_fp32_direct,
      // (The pipelines take pv_direct_rows for every strip of this set,
      // pv_direct_rows_max = kMr; these whole-strip kernels remain the
      // interface's required pair, tested bit for bit against the packed path.)
      .pv_direct_init = pv_fp32_14x2_direct<Epilogue::store>,
      .pv_direct_acc = pv_fp32_14x2_direct<Epilogue::accumulate>,
      .pv_direct_rows = pv_fp32_direct_rows,
      .pv_direct_rows_max = kMr,
      .widen_rows = std::is_same_v<T, float> ? nullptr : widen_rows<T>,
      .a_block = kABlock,
      .qk_rows = qk_fp32_rows,
      .pv_rows = pv_fp32_rows,
  };
}

constexpr KernelSet kF32 = make_set<float>(DType::f32);
constexpr KernelSet kF16 = make_set<Fp16>(DType::f16);
constexpr KernelSet kBf16 = make_set<Bf16>(DType::bf16);

}  // namespace

const KernelSet* kernel_set(DType t) { return set_for({&kF32, &kF16, &kBf16}, t); }

}  // namespace attnrt::kernels::avx512
