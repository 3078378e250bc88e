// The avx2 kernel sets: 6x2-vector fp32 micro-kernels for Q·Kᵀ and P·V, and
// the packers and softmax pieces of this folder; and the direct K/V path
// (qk_direct.cpp, and P·V with V in place: the 6x2 tile, or few_rows.hpp's
// loop for a few rows), reading fp32, fp16 or bf16 K and V rows as they are.
#include "kernels/avx2/kernel_set.hpp"

#include <array>
#include <type_traits>
#include <utility>

#include "kernels/x86/few_rows.hpp"
#include "kernels/avx2/gemm_fp32.hpp"
#include "kernels/avx2/ops.hpp"
#include "kernels/convert.hpp"
#include "kernels/tuning.hpp"

namespace attnrt::kernels::avx2 {
using namespace x86;  // the 256-bit helpers shared with the avx512 folder
namespace {

void qk_fp32_6x2(int dp, const void* a, const void* b, float alpha, float* s, std::int64_t lds) {
  gemm_fp32_6x2<Epilogue::scale_store>(dp, static_cast<const float*>(a),
                                       static_cast<const float*>(b), kNr, kNr, alpha, s, lds);
}
void pv_fp32_6x2_init(int kp, const void* a, const void* b, float* o, std::int64_t ldo) {
  gemm_fp32_6x2<Epilogue::store>(kp, static_cast<const float*>(a), static_cast<const float*>(b),
                                 kNv, kNv, 1.0f, o, ldo);
}
void pv_fp32_6x2_acc(int kp, const void* a, const void* b, float* o, std::int64_t ldo) {
  gemm_fp32_6x2<Epilogue::accumulate>(kp, static_cast<const float*>(a),
                                      static_cast<const float*>(b), kNv, kNv, 1.0f, o, ldo);
}

// P·V with V read in place (the direct path): all `cols` columns of V rows
// at v (row stride ldv), one kNv-column slice after another, in one call:
// the slice loop inlines the micro-kernel, so a call of a few keys costs no
// call, prologue or pointer set-up per slice. Full slices keep unmasked
// loads; the last cols % kNv columns take the masked ones.
template <Epilogue E, class T>
void pv_6x2_direct(int kp, const void* a, const void* v_rows, std::int64_t ldv, int cols, float* o,
                   std::int64_t ldo, RowsAfter next) {
  const float* pa = static_cast<const float*>(a);
  const T* v = static_cast<const T*>(v_rows);
  int c = 0;
  for (; c + kNv <= cols; c += kNv)
    gemm_fp32_6x2<E, false, true>(kp, pa, v + c, ldv, kNv, 1.0f, o + c, ldo, next);
  if (c < cols) gemm_fp32_6x2<E, true, true>(kp, pa, v + c, ldv, cols - c, 1.0f, o + c, ldo, next);
}

// Q·Kᵀ for the few-row path: few_rows.hpp's loop key after key for up to
// kFewRowsMax rows (streaming as S says), 3x4 tiles of rows x keys past them.
template <StreamParams S, class T>
void qk_fp32_direct(int rows, int keys, int d, const float* q, std::int64_t ldq, const void* k, std::int64_t ldk,
                    float alpha, float* s, std::int64_t lds, RowsAfter next) {
  if (rows <= kFewRowsMax)
    qk_few_rows<S>(rows, keys, d, q, ldq, static_cast<const T*>(k), ldk, alpha, s, lds, next);
  else
    qk_fp32_3x4_direct<T>(rows, keys, d, q, ldq, k, ldk, alpha, s, lds, next);
}

// The few-row path, built for stream settings S: Q·Kᵀ above, P·V on the
// 6x2 tile with V in place for whole strips and few_rows.hpp's loop for up
// to kFewRowsMax rows; int8 and fp8 K/V codes read in place by the same
// loops (the pipelines apply the scales), so decode streams 1 byte per
// element.
template <StreamParams S, class C>
constexpr FewRowKernels::Codes kCodes{qk_fp32_direct<S, C>, pv_few_rows<S, kMr, kABlock, C>};
template <StreamParams S, class T>
constexpr FewRowKernels kFewRows{
    .name = "qk_fp32_direct (3x4) + pv_fp32_6x2_direct, pv_fp32_4x1_direct_rows",
    .stream = S,
    .qk = qk_fp32_direct<S, T>,
    .pv_rows_max = kFewRowsMax,
    .pv_rows = pv_few_rows<S, kMr, kABlock, T>,
    .pv_init = pv_6x2_direct<Epilogue::store, T>,
    .pv_acc = pv_6x2_direct<Epilogue::accumulate, T>,
    .widen_rows = std::is_same_v<T, float> ? nullptr : widen_rows<T>,
    .codes = {{{}, kCodes<S, I8>, kCodes<S, E4m3>, kCodes<S, E5m2>}},
    .span_rows = kFewRowsMax,  // few_rows.hpp's loops walk pieces
};
// One entry per stream setting the table's avx2 column names.
constexpr auto kStreams = distinct_streams<&UarchTuning::avx2>();
template <class T, std::size_t... I>
constexpr std::array<const FewRowKernels*, sizeof...(I)> by_stream(std::index_sequence<I...>) {
  return {&kFewRows<kStreams[I], T>...};
}
template <class T>
constexpr auto kFewRowsByStream = by_stream<T>(std::make_index_sequence<kStreams.size()>());

template <class T>
constexpr KernelSet make_set(DType t) {
  return KernelSet{
      .name = "avx2",
      .dtype = t,
      .requires_cpu = kFeatureX86V3,
      .mr = kMr,
      .nr = kNr,
      .nv = kNv,
      .k_pack = 1,
      .packed_elem = sizeof(float),
      .pack_q = pack_q<T>,
      .pack_k = pack_k<T>,
      .pack_v = pack_v<T>,
      .qk = qk_fp32_6x2,
      .pv_init = pv_fp32_6x2_init,
      .pv_acc = pv_fp32_6x2_acc,
      .row_max = row_max,
      .exp2_rows = exp2_rows,
      .rescale = rescale,
      .normalize = normalize,
      // The direct path: K and V rows read in place, fp16/bf16 ones widened
      // as the kernels load them.
      .few_rows = kFewRowsByStream<T>,
      .a_block = kABlock,
  };
}

constexpr KernelSet kF32 = make_set<float>(DType::f32);
constexpr KernelSet kF16 = make_set<Fp16>(DType::f16);
constexpr KernelSet kBf16 = make_set<Bf16>(DType::bf16);
ATTNRT_ASSERT_FEW_ROWS_COMPLETE(few_rows_complete(kF32) && few_rows_complete(kF16) && few_rows_complete(kBf16));

}  // namespace

constinit const SetsByDtype kSets{&kF32, &kF16, &kBf16};

}  // namespace attnrt::kernels::avx2
