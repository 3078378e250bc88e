// The avx512 fp32-compute sets: 14x2-vector fp32 micro-kernels for Q·Kᵀ and
// P·V, and the packers and softmax pieces of this folder; and the direct
// K/V path (qk_direct.cpp, and P·V with V in place on a strip's real rows,
// pv_direct_rows.cpp), reading fp32, fp16 or bf16 K and V rows as they are
// (bf16 Q·Kᵀ of three or more rows on AMX tiles where the CPU has them).
#include "kernels/avx512/kernel_set.hpp"

#include "kernels/avx512/intrinsics.hpp"

#include <array>
#include <type_traits>
#include <utility>

#include "kernels/avx512/gemm_fp32.hpp"
#include "kernels/avx512/ops.hpp"
#include "kernels/avx512/qk_row_codes.hpp"
#include "kernels/convert.hpp"
#include "kernels/tuning.hpp"
#include "kernels/x86/few_rows.hpp"

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

// The few-row path: Q·Kᵀ on 12x2 tiles of rows x keys (one row: few_rows.hpp's
// loop key after key), P·V on every strip's real rows (the 14x2 tile cut to
// them: no whole-strip kernels), and int8/fp8 K/V codes read in place too
// (the pipelines apply the scales).
// Q·Kᵀ for the few-row path: one row (decode) is bound by memory and reads K
// key after key (x86/few_rows.hpp, streaming as S says; 1-byte codes on zmm,
// qk_row_codes.hpp); two or more ran faster on the 12x2 pair tiles
// (qk_direct.cpp).
template <StreamParams S, class T>
void qk_fp32_direct(int rows, int keys, int d, const float* q, std::int64_t ldq, const void* k, std::int64_t ldk,
                    float alpha, float* s, std::int64_t lds, RowsAfter next) {
  if constexpr (std::is_same_v<T, I8> || std::is_same_v<T, E4m3> || std::is_same_v<T, E5m2>) {
    if (rows == 1) return qk_codes_row<S>(keys, d, q, static_cast<const T*>(k), ldk, alpha, s, next);
  }
  if (rows == 1)
    x86::qk_key_after_key<1, S, T, 4>(keys, d, q, ldq, static_cast<const T*>(k), ldk, alpha, s, lds, next);
  else
    qk_fp32_12x2_direct<S.into_l2, T>(rows, keys, d, q, ldq, k, ldk, alpha, s, lds, next);
}

// One row's Q·Kᵀ on a kernel that needs a CPU feature where it takes the
// row (Row returns false where not), else qk_fp32_direct: int8 codes on
// VNNI (int8_vnni.cpp), bf16 on AVX512_BF16 (qk_row_bf16.cpp).
template <StreamParams S, class T, auto Row>
void qk_row_on(int rows, int keys, int d, const float* q, std::int64_t ldq, const void* k, std::int64_t ldk,
               float alpha, float* s, std::int64_t lds, RowsAfter next) {
  if (rows == 1 && Row(keys, d, q, static_cast<const T*>(k), ldk, alpha, s, x86::ahead_of<S, T>, next)) return;
  qk_fp32_direct<S, T>(rows, keys, d, q, ldq, k, ldk, alpha, s, lds, next);
}
// Q·Kᵀ of min_rows rows or more on a kernel that needs a CPU feature
// (Rows returns false where it does not take them), else Fallback.
template <StreamParams S, class T, int min_rows, auto Rows, QkDirectFn Fallback>
void qk_rows_on(int rows, int keys, int d, const float* q, std::int64_t ldq, const void* k, std::int64_t ldk,
                float alpha, float* s, std::int64_t lds, RowsAfter next) {
  if (rows >= min_rows &&
      Rows(rows, keys, d, q, ldq, static_cast<const T*>(k), ldk, alpha, s, lds, x86::ahead_of<S, T>, next))
    return;
  Fallback(rows, keys, d, q, ldq, k, ldk, alpha, s, lds, next);
}
template <StreamParams S>
constexpr QkDirectFn qk_i8_vnni = qk_row_on<S, I8, qk_i8_row_vnni<x86::kPrefetch<S>>>;
// AMX tiles where the compiler has them and the build is native (the
// emulated tests' SIMDe has no AMX): else the entries below need no AMX.
#if defined(ATTNRT_HAVE_AMX_INT8) && !defined(ATTNRT_AVX512_SIMDE)
constexpr std::uint32_t kAmxInt8 = kFeatureAmxInt8;
template <StreamParams S>
constexpr QkDirectFn qk_i8_amx_row = qk_row_on<S, I8, qk_i8_row_amx<x86::kPrefetch<S>>>;
// Two or more rows of int8 codes on AMX tiles too (qk_row_i8_amx.cpp).
template <StreamParams S>
constexpr QkDirectFn qk_i8_amx = qk_rows_on<S, I8, 2, qk_i8_rows_amx<x86::kPrefetch<S>>, qk_i8_amx_row<S>>;
#else
constexpr std::uint32_t kAmxInt8 = kFeatureNone;
template <StreamParams S>
constexpr QkDirectFn qk_i8_amx = qk_i8_vnni<S>;
#endif
template <StreamParams S>
constexpr QkDirectFn qk_bf16_dot = qk_row_on<S, Bf16, qk_bf16_row_dot<x86::kPrefetch<S>>>;
#if defined(ATTNRT_HAVE_AMX_BF16) && !defined(ATTNRT_AVX512_SIMDE)
constexpr std::uint32_t kAmxBf16 = kFeatureAmxBf16;
// Three or more rows over bf16 K on AMX tiles (qk_rows_bf16_amx.cpp),
// which hands back what it does not take; one row on bf16 dot products,
// two on the pair tiles. Sapphire Rapids-class VM, attnrt-ab against the
// pair tiles, bf16 B4 H32 N4096 D128, one thread, 6 pairs, three
// processes each: GQA groups of 8 in decode (H32/4) 1.35-1.45, of 4
// 1.12-1.23, M3 1.13-1.16, M6 1.13-1.16; two rows (M2) 0.92-1.00.
template <StreamParams S>
constexpr QkDirectFn qk_bf16_amx = qk_rows_on<S, Bf16, 3, qk_bf16_rows_amx<x86::kPrefetch<S>>, qk_bf16_dot<S>>;
#else
constexpr std::uint32_t kAmxBf16 = kFeatureNone;
template <StreamParams S>
constexpr QkDirectFn qk_bf16_amx = qk_bf16_dot<S>;
#endif

template <StreamParams S, class C>
constexpr FewRowKernels::Codes kCodes{qk_fp32_direct<S, C>, pv_fp32_14x2_direct_rows<x86::kPrefetch<S>, C>};
// The name of an entry of the CPU features `need` (below).
constexpr const char* few_rows_name(std::uint32_t need) {
  const bool amx = need & kFeatureAmxInt8;
  if (need & kFeatureAmxBf16)
    return "qk_fp32_direct (12x2) + pv_fp32_14x2_direct_rows, bf16 Q·Kᵀ of 3-16 rows on AMX, one row's on "
           "AVX512_BF16, int8 on AMX";
  if (need & kFeatureAvx512Bf16)
    return amx ? "qk_fp32_direct (12x2) + pv_fp32_14x2_direct_rows, one row's bf16 Q·Kᵀ on AVX512_BF16, "
                 "int8 on AMX"
               : "qk_fp32_direct (12x2) + pv_fp32_14x2_direct_rows, one row's bf16 Q·Kᵀ on AVX512_BF16, "
                 "int8 on VNNI";
  if (amx) return "qk_fp32_direct (12x2) + pv_fp32_14x2_direct_rows, int8 Q·Kᵀ on AMX";
  if (need & kFeatureAvx512Vnni) return "qk_fp32_direct (12x2) + pv_fp32_14x2_direct_rows, int8 Q·Kᵀ on VNNI";
  return "qk_fp32_direct (12x2) + pv_fp32_14x2_direct_rows";
}
// An entry of the CPU features `need` (none, VNNI, VNNI and AMX-INT8, and
// for bf16 inputs each of those with AVX512_BF16) and the kernels that use
// them.
template <StreamParams S, class T, std::uint32_t need>
constexpr FewRowKernels kFewRows{
    .name = few_rows_name(need),
    .stream = S,
    .qk = need & kFeatureAmxBf16      ? qk_bf16_amx<S>
          : need & kFeatureAvx512Bf16 ? qk_bf16_dot<S>
                                      : qk_fp32_direct<S, T>,
    .pv_rows_max = kMr,
    .pv_rows = pv_fp32_14x2_direct_rows<x86::kPrefetch<S>, T>,
    .pv_init = nullptr,
    .pv_acc = nullptr,
    .widen_rows = std::is_same_v<T, float> ? nullptr : widen_rows<T>,  // Q rows
    .codes = {{{},
               {need & kFeatureAmxInt8      ? qk_i8_amx<S>
                : need & kFeatureAvx512Vnni ? qk_i8_vnni<S>
                                            : qk_fp32_direct<S, I8>,
                pv_fp32_14x2_direct_rows<x86::kPrefetch<S>, I8>},
               kCodes<S, E4m3>,
               kCodes<S, E5m2>}},
    .requires_cpu = need,
    .span_rows = kMr,  // every kernel here walks pieces (RowWalk): one row's loops, the pair and 14x2 tiles
    .pv_two_stream_keys = x86::kTwoStreamKeys,  // (pv_row.hpp)
};

// Per stream setting the table's avx512 column names, an entry per feature
// combination, most first (few_rows_for takes the first this CPU runs).
constexpr auto kStreams = distinct_streams<&UarchTuning::avx512>();
template <class T>
constexpr auto kFeatureSteps = [] {
  constexpr std::uint32_t vnni = kFeatureAvx512Vnni, bf16 = kFeatureAvx512Bf16;
  if constexpr (kAmxInt8 == kFeatureNone) {  // (a build without AMX: no entry twice)
    if constexpr (std::is_same_v<T, Bf16>)
      return std::array<std::uint32_t, 3>{vnni | bf16, vnni, kFeatureNone};
    else
      return std::array<std::uint32_t, 2>{vnni, kFeatureNone};
  } else if constexpr (std::is_same_v<T, Bf16> && kAmxBf16 != kFeatureNone) {
    return std::array<std::uint32_t, 6>{kAmxBf16 | kAmxInt8 | vnni | bf16, kAmxInt8 | vnni | bf16, vnni | bf16,
                                        kAmxInt8 | vnni, vnni, kFeatureNone};
  } else if constexpr (std::is_same_v<T, Bf16>) {
    return std::array<std::uint32_t, 5>{kAmxInt8 | vnni | bf16, vnni | bf16, kAmxInt8 | vnni, vnni, kFeatureNone};
  } else {
    return std::array<std::uint32_t, 3>{kAmxInt8 | vnni, vnni, kFeatureNone};
  }
}();
template <class T, std::size_t... I>
constexpr std::array<const FewRowKernels*, sizeof...(I)> by_stream(std::index_sequence<I...>) {
  constexpr std::size_t steps = kFeatureSteps<T>.size();
  return {&kFewRows<kStreams[I / steps], T, kFeatureSteps<T>[I % steps]>...};
}
template <class T>
constexpr auto kFewRowsByStream = by_stream<T>(std::make_index_sequence<kFeatureSteps<T>.size() * kStreams.size()>());

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
      // The direct path: K and V rows read in place, fp16/bf16 ones widened
      // as the kernels load them.
      .few_rows = kFewRowsByStream<T>,
      .a_block = kABlock,
      .qk_rows = qk_fp32_rows,
      .pv_rows = pv_fp32_rows,
  };
}

constexpr KernelSet kF32 = make_set<float>(DType::f32);
constexpr KernelSet kF16 = make_set<Fp16>(DType::f16);
constexpr KernelSet kBf16 = make_set<Bf16>(DType::bf16);
ATTNRT_ASSERT_FEW_ROWS_COMPLETE(few_rows_complete(kF32) && few_rows_complete(kF16) && few_rows_complete(kBf16));

}  // namespace

constinit const SetsByDtype kSets{&kF32, &kF16, &kBf16};

}  // namespace attnrt::kernels::avx512
