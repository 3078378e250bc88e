// P·V with V rows read in place (the direct K/V path): the packed kernels'
// bodies (gemm.hpp) with B taken from the user's V rows, ldv elements
// apart, fp16/bf16 widened as each vector is loaded, and column tails
// zeroed by the load predicates. The FMAs run in the packed kernels' order,
// so O is bit for bit what pack_v + pv_init / pv_acc give.
//   pv_fp32_8x3_direct:   the 8x3 sets (nv = 3 vectors)
//   pv_fp32_12x2_direct:  the 12x2 sets, and the fp16 sets' accurate P·V
//                         (nv = 4 vectors: two 12x2 passes per slice)
#pragma once

#include <cstdint>

#include "kernels/sve/gemm.hpp"
#include "kernels/sve/load.hpp"

namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR {

// V rows of the user's dtype, widened to fp32 as loaded.
struct RowLoad {
  template <class T>
  static svfloat32_t row(svbool_t p, const T* at) {
    return load_f32(p, at);
  }
};

// O[8 x nv slices covering cols] (op)= P·V over kp keys. Columns past
// `cols` up to the slice's end get 0 (assign) or += 0 (accumulate).
template <class T, Store mode>
void pv_fp32_8x3_direct(int kp, const void* a, const void* v_rows, std::int64_t ldv, int cols,
                        float* o, std::int64_t ldo) {
  const auto* pa = static_cast<const float*>(a);
  const T* v = static_cast<const T*>(v_rows);
  const int vl = lanes32();
  const bool touch = retouch_for(kp, 3);
  for (int c = 0; c < cols; c += 3 * vl) {
    const svbool_t p0 = svwhilelt_b32(c, cols), p1 = svwhilelt_b32(c + vl, cols),
                   p2 = svwhilelt_b32(c + 2 * vl, cols);
    if (touch)
      gemm_fp32_8x3_rows<mode, true, RowLoad>(kp, pa, v + c, ldv, p0, p1, p2, 1.0f, o + c, ldo);
    else
      gemm_fp32_8x3_rows<mode, false, RowLoad>(kp, pa, v + c, ldv, p0, p1, p2, 1.0f, o + c, ldo);
  }
}

// The same for 12 rows, slices of `panel` vectors (2, or 4 for the fp16
// sets) as panel / 2 passes of 12x2, as pv_fp32_12x2 runs them.
template <class T, Store mode, int panel>
void pv_fp32_12x2_direct(int kp, const void* a, const void* v_rows, std::int64_t ldv, int cols,
                         float* o, std::int64_t ldo) {
  const auto* pa = static_cast<const float*>(a);
  const T* v = static_cast<const T*>(v_rows);
  const int vl = lanes32();
  const bool touch = retouch_for(kp, panel);
  for (int c0 = 0; c0 < cols; c0 += panel * vl)
    for (int c = c0; c < c0 + panel * vl; c += 2 * vl) {
      const svbool_t p0 = svwhilelt_b32(c, cols), p1 = svwhilelt_b32(c + vl, cols);
      if (touch)
        gemm_12x2_rows<float, mode, true, RowLoad>(kp, pa, v + c, ldv, p0, p1, 1.0f, o + c, ldo);
      else
        gemm_12x2_rows<float, mode, false, RowLoad>(kp, pa, v + c, ldv, p0, p1, 1.0f, o + c, ldo);
    }
}

}  // namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR
