// pv_fp16_12x2_noepi: O (op)= P·V with fp16 FMLA accumulating in fp16 over
// the whole call: 12 rows x 2 fp16 vectors (4 fp32 vectors of O columns).
// "noepi": no widening inside the k loop; the fp16 sums are widened and
// stored (init) or added (acc) to the fp32 O once, at the end. Twice the
// FMA rate of fp32, at fp16 accumulation error (about 2^-11 relative per
// step of the running sum): chosen only with Exp2Precision::fast. Runs with
// FZ16 set (fp_mode_enter of the fp16 sets): fp16 subnormals flush to zero.
// It is the 12x2 body of gemm.hpp instantiated for fp16: 24
// accumulators, 2 B vectors, a ring of 4 ld1rh broadcasts loaded two rows
// ahead, the same A re-touch.
#pragma once

#include <cstdint>

#include "kernels/sve/flavor.hpp"
#include "kernels/sve/gemm.hpp"

namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR {

template <Store mode>
inline void pv_fp16_12x2_noepi(int kp, const void* a, const void* b, float* o, std::int64_t ldo) {
  const auto* pa = static_cast<const float16_t*>(a);
  const auto* pb = static_cast<const float16_t*>(b);
  if (retouch_for(kp, 4, 2))  // V rows are 4 fp32 vectors wide, in fp16
    gemm_12x2_body<float16_t, mode, true, 2>(kp, pa, pb, 1.0f, o, ldo);
  else
    gemm_12x2_body<float16_t, mode, false, 2>(kp, pa, pb, 1.0f, o, ldo);
}

}  // namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR
