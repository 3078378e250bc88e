// The avx512_bf16 set: bf16 Q, K, V packed as pairs, Q·Kᵀ and P·V both with
// vdpbf16ps (14x2 vectors, fp32 accumulators), P rounded to bf16 pairs by
// exp2_rows_pairs. Row max, rescale and normalize work on fp32 S and O and
// are the fp32 sets' own.
#include <cstdint>

#include "kernels/avx512/gemm_bf16.hpp"
#include "kernels/avx512/kernel_set.hpp"
#include "kernels/avx512/ops.hpp"
#include "kernels/avx512/throughput.hpp"

namespace attnrt::kernels::avx512 {
namespace {

const std::uint32_t* words(const void* p) { return static_cast<const std::uint32_t*>(p); }

void qk_bf16_14x2(int dp, const void* a, const void* b, float alpha, float* s, std::int64_t lds) {
  gemm_bf16_14x2<Epilogue::scale_store>(dp, words(a), words(b), alpha, s, lds);
}
void pv_bf16_14x2_init(int kp, const void* a, const void* b, float* o, std::int64_t ldo) {
  gemm_bf16_14x2<Epilogue::store>(kp, words(a), words(b), 1.0f, o, ldo);
}
void pv_bf16_14x2_acc(int kp, const void* a, const void* b, float* o, std::int64_t ldo) {
  gemm_bf16_14x2<Epilogue::accumulate>(kp, words(a), words(b), 1.0f, o, ldo);
}

constexpr KernelSet kBf16Pairs{
    .name = "avx512_bf16",
    .dtype = DType::bf16,
    .requires_cpu = kFeatureAvx512 | kFeatureAvx512Bf16,
    .mr = kMr,
    .nr = kNr,
    .nv = kNv,
    .k_pack = 2,
    .packed_elem = 2,
    .pack_q = pack_q_pairs,
    .pack_k = pack_k_pairs,
    .pack_v = pack_v_pairs,
    .qk = qk_bf16_14x2,
    .pv_init = pv_bf16_14x2_init,
    .pv_acc = pv_bf16_14x2_acc,
    .row_max = row_max,
    .exp2_rows = exp2_rows_pairs,
    .rescale = rescale,
    .normalize = normalize,
    // No few-row path of its own (P is bf16 pairs): the fp32-compute set's
    // reads bf16 K and V rows in place.
    .few_rows_from = [] { return set_for(kSets, DType::bf16); },
    // Where vdpbf16ps issues slowly, the fp32 set (next in the registry) runs bf16 faster.
    .outpaced = bf16_dot_outpaced,
};

}  // namespace

constinit const SetsByDtype kBf16Sets{nullptr, nullptr, &kBf16Pairs};

}  // namespace attnrt::kernels::avx512
