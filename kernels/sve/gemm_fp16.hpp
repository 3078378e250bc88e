// pv_fp16_12x2_noepi: O (op)= P·V with fp16 FMLA accumulating in fp16 over
// the whole call: 12 rows x 2 fp16 vectors (4 fp32 vectors of O columns).
// "noepi": no widening inside the k loop; the fp16 sums are widened and
// stored (init) or added (acc) to the fp32 O once, at the end. Twice the
// FMA rate of fp32, at fp16 accumulation error (about 2^-11 relative per
// step of the running sum): chosen only with Exp2Precision::fast. Runs with
// FZ16 set (fp_mode_enter of the fp16 sets): fp16 subnormals flush to zero.
// Same register plan as the fp32 12x2 kernel: 24 accumulators, 2 B vectors
// and a ring of 4 ld1rh broadcasts loaded two rows ahead; same A re-touch.
#pragma once

#include <cstdint>

#include "kernels/sve/flavor.hpp"
#include "kernels/sve/gemm_fp32.hpp"

namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR {

// Widens an fp16 accumulator (2·lanes32 columns) into two fp32 vectors of O.
template <Store mode>
inline void store_acc_f16(svfloat16_t acc, float* o) {
  const svbool_t all = svptrue_b32();
  // zip(h, h) puts element i in the low half of 32-bit lane i, which FCVT reads.
  store_acc<mode>(svcvt_f32_x(all, svzip1(acc, acc)), o, 1.0f);
  store_acc<mode>(svcvt_f32_x(all, svzip2(acc, acc)), o + lanes32(), 1.0f);
}

#define ATTNRT_ACC2H(r) svfloat16_t c##r##0 = zero, c##r##1 = zero
#define ATTNRT_FMA2H(r, x)              \
  c##r##0 = svmla_x(pg, c##r##0, b0, x); \
  c##r##1 = svmla_x(pg, c##r##1, b1, x)
#define ATTNRT_ST2H(r)                                              \
  store_acc_f16<mode>(c##r##0, o + (r) * ldo);                      \
  store_acc_f16<mode>(c##r##1, o + (r) * ldo + 2 * lanes32())

#define ATTNRT_STEP_12x2H(next)                                                \
  do {                                                                         \
    const svfloat16_t b0 = svld1_vnum(pg, b, 0), b1 = svld1_vnum(pg, b, 1);    \
    x2 = svdup_f16(a[2]);                                                      \
    ATTNRT_FMA2H(0, x0);                                                       \
    x3 = svdup_f16(a[3]);                                                      \
    ATTNRT_FMA2H(1, x1);                                                       \
    x0 = svdup_f16(a[4]);                                                      \
    ATTNRT_FMA2H(2, x2);                                                       \
    x1 = svdup_f16(a[5]);                                                      \
    ATTNRT_FMA2H(3, x3);                                                       \
    x2 = svdup_f16(a[6]);                                                      \
    ATTNRT_FMA2H(4, x0);                                                       \
    x3 = svdup_f16(a[7]);                                                      \
    ATTNRT_FMA2H(5, x1);                                                       \
    x0 = svdup_f16(a[8]);                                                      \
    ATTNRT_FMA2H(6, x2);                                                       \
    x1 = svdup_f16(a[9]);                                                      \
    ATTNRT_FMA2H(7, x3);                                                       \
    x2 = svdup_f16(a[10]);                                                     \
    ATTNRT_FMA2H(8, x0);                                                       \
    x3 = svdup_f16(a[11]);                                                     \
    ATTNRT_FMA2H(9, x1);                                                       \
    if (next) x0 = svdup_f16(a[12]);                                           \
    ATTNRT_FMA2H(10, x2);                                                      \
    if (next) x1 = svdup_f16(a[13]);                                           \
    ATTNRT_FMA2H(11, x3);                                                      \
    a += 12;                                                                   \
    b += 2 * svcnth();                                                         \
  } while (0)

template <Store mode, bool retouch>
inline void pv_fp16_12x2_noepi_body(int kp, const float16_t* __restrict a,
                                    const float16_t* __restrict b, float* o, std::int64_t ldo) {
  const svbool_t pg = svptrue_b16();
  const svfloat16_t zero = svdup_f16(0.0f);
  ATTNRT_ACC2H(0); ATTNRT_ACC2H(1); ATTNRT_ACC2H(2); ATTNRT_ACC2H(3);
  ATTNRT_ACC2H(4); ATTNRT_ACC2H(5); ATTNRT_ACC2H(6); ATTNRT_ACC2H(7);
  ATTNRT_ACC2H(8); ATTNRT_ACC2H(9); ATTNRT_ACC2H(10); ATTNRT_ACC2H(11);
  Retouch<float16_t> touch{a + (kp / 2) * 12, a, a + kp * 12};
  svfloat16_t x0 = svdup_f16(a[0]), x1 = svdup_f16(a[1]), x2, x3;
  for (int p = 0; p < kp - 1; ++p) {
    ATTNRT_MCA_BEGIN();
    if constexpr (retouch) touch.step(12);
    ATTNRT_STEP_12x2H(true);
    ATTNRT_MCA_END();
  }
  ATTNRT_STEP_12x2H(false);
  ATTNRT_ST2H(0); ATTNRT_ST2H(1); ATTNRT_ST2H(2); ATTNRT_ST2H(3);
  ATTNRT_ST2H(4); ATTNRT_ST2H(5); ATTNRT_ST2H(6); ATTNRT_ST2H(7);
  ATTNRT_ST2H(8); ATTNRT_ST2H(9); ATTNRT_ST2H(10); ATTNRT_ST2H(11);
}
#undef ATTNRT_STEP_12x2H
#undef ATTNRT_ST2H
#undef ATTNRT_FMA2H
#undef ATTNRT_ACC2H

template <Store mode>
inline void pv_fp16_12x2_noepi(int kp, const void* a, const void* b, float* o, std::int64_t ldo) {
  const auto* pa = static_cast<const float16_t*>(a);
  const auto* pb = static_cast<const float16_t*>(b);
  if (retouch_for(kp, 4, 2))  // V rows are 4 fp32 vectors wide, in fp16
    pv_fp16_12x2_noepi_body<mode, true>(kp, pa, pb, o, ldo);
  else
    pv_fp16_12x2_noepi_body<mode, false>(kp, pa, pb, o, ldo);
}

}  // namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR
