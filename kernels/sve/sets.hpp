// The SVE kernel sets, built from the templates of this folder for one
// flavor (see flavor.hpp). Included once by kernel_set_a64fx.cpp and once by
// kernel_set_vla.cpp.
//   fp32_set<T, 8>  (fp32, bf16 inputs): 8x3, mr 8, nr = nv = 3 vectors. The default.
//   fp32_set<T, 12> (fp32, bf16 inputs): 12x2, mr 12, nr = nv = 2 vectors.
//   fp16_12x2_set (fp16 inputs), "mixed": Q, K, V are widened to fp32 while
//     packing and P is written in fp32, so Q·Kᵀ and P·V run the fp32 12x2
//     kernels and accumulate in fp32 (A64FX has no widening fp16 FMA, and
//     converting inside the k loop would cost 2 FCVT per 24 FMLA). With the
//     fast precision P·V runs pv_fp16_12x2_noepi instead (fp16 P and V,
//     fp16 accumulation, twice the FMA rate) under FZ16, and Q·Kᵀ runs
//     qk_fp16_12x2_fast (fp16 Q and K panels, fp16 sums flushed to fp32:
//     qk_fp16.hpp). nr = nv = 4 vectors so both paths of each GEMM share
//     one panel width (the fp32 kernels make two 12x2 passes).
// Every set has the direct K/V path (K and V rows read in place, for few
// query rows): qk_direct.hpp for Q·Kᵀ, and pv_direct.hpp, the set's own
// P·V tiles on V rows, for P·V with the fp32 P of the accurate precision,
// and strips of 1-4 real rows on those rows only. The fp16 sets' fast P·V
// reads fp16 P from packed V: a row block of whole strips at the fast
// precision keeps it (and packs K and V); a few-row block (decode, at most
// kPvDirectRowsMax rows) takes the direct path with fp32 P instead
// (strip.hpp direct_kv).
#pragma once

#include <array>
#include <type_traits>
#include <utility>

#include "kernels/kernel_set.hpp"
#include "kernels/tuning.hpp"
#include "kernels/sve/fp_mode.hpp"
#include "kernels/sve/gemm_fp16.hpp"
#include "kernels/sve/gemm.hpp"
#include "kernels/sve/pack.hpp"
#include "kernels/sve/pv_direct.hpp"
#include "kernels/sve/qk_direct.hpp"
#include "kernels/sve/qk_fp16.hpp"
#include "kernels/sve/softmax.hpp"

namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR {

// The few-row path of the fp32-compute sets (inputs T, MR = 8 or 12), built
// for stream settings S (the sve column of kernels/tuning.hpp): the direct
// Q·Kᵀ, the set's P·V tile on V rows for whole strips, and strips of
// 1..kPvDirectRowsMax real rows on those rows only; int8 and fp8 K/V codes
// read in place by the same Q·Kᵀ and few-row P·V (widened as loaded; the
// pipelines apply the scales).
template <StreamParams S, class C, int MR>
constexpr FewRowKernels::Codes kCodes{qk_direct<C, S.bytes_ahead>, pv_fp32_4x4_direct_rows<C, MR, S.bytes_ahead>};
template <StreamParams S, int MR>
constexpr std::array<FewRowKernels::Codes, kKvFormats> kAllCodes{
    {{}, kCodes<S, I8, MR>, kCodes<S, E4m3, MR>, kCodes<S, E5m2, MR>}};
template <StreamParams S, class T, int MR>
constexpr FewRowKernels kFewRows{
    .name = MR == 8 ? "qk_fp32_direct + pv_fp32_8x3_direct, pv_fp32_4x4_direct_rows"
                    : "qk_fp32_direct + pv_fp32_12x2_direct, pv_fp32_4x4_direct_rows",
    .stream = S,
    .qk = qk_direct<T, S.bytes_ahead>,
    .pv_rows_max = kPvDirectRowsMax,
    .pv_rows = pv_fp32_4x4_direct_rows<T, MR, S.bytes_ahead>,
    .pv_init = MR == 8 ? pv_fp32_8x3_direct<T, Store::assign> : pv_fp32_12x2_direct<T, Store::assign, 2>,
    .pv_acc = MR == 8 ? pv_fp32_8x3_direct<T, Store::accumulate> : pv_fp32_12x2_direct<T, Store::accumulate, 2>,
    .widen_rows = std::is_same_v<T, float> ? nullptr : widen_rows<T>,
    .codes = kAllCodes<S, MR>,
};

// The fp16 12x2 set's (nr = nv = 4 vectors: two 12x2 passes per slice).
template <StreamParams S>
constexpr FewRowKernels kFewRowsFp16{
    .name = "qk_fp32_direct + pv_fp32_12x2_direct, pv_fp32_4x4_direct_rows",
    .stream = S,
    .qk = qk_direct<Fp16, S.bytes_ahead>,
    .pv_rows_max = kPvDirectRowsMax,
    .pv_rows = pv_fp32_4x4_direct_rows<Fp16, 12, S.bytes_ahead>,
    .pv_init = pv_fp32_12x2_direct<Fp16, Store::assign, 4>,
    .pv_acc = pv_fp32_12x2_direct<Fp16, Store::accumulate, 4>,
    .widen_rows = widen_rows<Fp16>,
    .codes = kAllCodes<S, 12>,
};

// One entry per stream setting the table's sve column names.
constexpr auto kStreams = distinct_streams<&UarchTuning::sve>();
template <class T, int MR, std::size_t... I>
constexpr std::array<const FewRowKernels*, sizeof...(I)> by_stream(std::index_sequence<I...>) {
  return {&kFewRows<kStreams[I], T, MR>...};
}
template <class T, int MR>
constexpr auto kFewRowsList = by_stream<T, MR>(std::make_index_sequence<kStreams.size()>());
template <std::size_t... I>
constexpr std::array<const FewRowKernels*, sizeof...(I)> fp16_by_stream(std::index_sequence<I...>) {
  return {&kFewRowsFp16<kStreams[I]>...};
}
constexpr auto kFewRowsFp16List = fp16_by_stream(std::make_index_sequence<kStreams.size()>());
ATTNRT_ASSERT_FEW_ROWS_COMPLETE(few_rows_complete(kFewRows<kStreams[0], float, 8>, DType::f32, 8, 1, sizeof(float)) &&
                                few_rows_complete(kFewRows<kStreams[0], float, 12>, DType::f32, 12, 1, sizeof(float)) &&
                                few_rows_complete(kFewRows<kStreams[0], Bf16, 8>, DType::bf16, 8, 1, sizeof(float)) &&
                                few_rows_complete(kFewRows<kStreams[0], Bf16, 12>, DType::bf16, 12, 1, sizeof(float)) &&
                                few_rows_complete(kFewRowsFp16<kStreams[0]>, DType::f16, 12, 1, sizeof(float)));

// fp32 compute for fp32 or bf16 inputs: MR = 8 (8x3) or 12 (12x2).
template <class T, int MR>
constexpr KernelSet fp32_set(const char* name, DType t, std::uint32_t requires_cpu, int lanes) {
  static_assert(MR == 8 || MR == 12);
  constexpr int vecs = MR == 8 ? 3 : 2;
  return KernelSet{
      .name = name,
      .dtype = t,
      .requires_cpu = requires_cpu,
      .mr = MR,
      .nr = vecs * lanes,
      .nv = vecs * lanes,
      .k_pack = 1,
      .packed_elem = sizeof(float),
      .pack_q = pack_a<T, MR>,
      .pack_k = pack_b_keys<T, vecs>,
      .pack_v = pack_b_values<T, float, vecs>,
      .qk = MR == 8 ? qk_fp32_8x3 : qk_fp32_12x2<2>,
      .pv_init = MR == 8 ? pv_fp32_8x3<Store::assign> : pv_fp32_12x2<Store::assign, 2>,
      .pv_acc = MR == 8 ? pv_fp32_8x3<Store::accumulate> : pv_fp32_12x2<Store::accumulate, 2>,
      .row_max = row_max<MR>,
      .exp2_rows = exp2_rows<MR, ColType::f32>,
      .rescale = rescale<MR>,
      .normalize = normalize,
      .few_rows = kFewRowsList<T, MR>,
  };
}

constexpr KernelSet fp16_12x2_set(const char* name, std::uint32_t requires_cpu, int lanes) {
  return KernelSet{
      .name = name,
      .dtype = DType::f16,
      .requires_cpu = requires_cpu,
      .mr = 12,
      .nr = 4 * lanes,
      .nv = 4 * lanes,
      .k_pack = 1,
      .packed_elem = sizeof(float),
      .pack_q = pack_a<Fp16, 12>,
      .pack_k = pack_b_keys<Fp16, 4>,
      .pack_v = pack_b_values<Fp16, float, 4>,
      .qk = qk_fp32_12x2<4>,
      .pv_init = pv_fp32_12x2<Store::assign, 4>,
      .pv_acc = pv_fp32_12x2<Store::accumulate, 4>,
      .row_max = row_max<12>,
      .exp2_rows = exp2_rows<12, ColType::f16>,
      .rescale = rescale<12>,
      .normalize = normalize,
      .pack_v_fast = pack_b_values<Fp16, Fp16, 4>,
      .pv_init_fast = pv_fp16_12x2_noepi<Store::assign>,
      .pv_acc_fast = pv_fp16_12x2_noepi<Store::accumulate>,
      .elem_fast = 2,
      .pack_q_fast = pack_a<Fp16, 12, ColType::f16>,
      .pack_k_fast = pack_b_key_pairs<2>,
      .qk_fast = qk_fp16_12x2_fast,
      .qk_elem_fast = 2,
      .fp_mode_enter = sve::fz16_enter,
      .fp_mode_leave = sve::fz16_leave,
      .few_rows = kFewRowsFp16List,
  };
}

}  // namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR
