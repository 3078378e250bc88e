// P·V with V rows read in place (the direct K/V path): the packed kernels'
// bodies (gemm.hpp) with B taken from the user's V rows, ldv elements
// apart, fp16/bf16 widened as each vector is loaded, and column tails
// zeroed by the load predicates. The FMAs run in the packed kernels' order,
// so O is bit for bit what pack_v + pv_init / pv_acc give.
//   pv_fp32_8x3_direct:   the 8x3 sets (nv = 3 vectors)
//   pv_fp32_12x2_direct:  the 12x2 sets, and the fp16 sets' accurate P·V
//                         (nv = 4 vectors: two 12x2 passes per slice)
//   pv_fp32_4x4_direct_rows: a strip's first 1-4 real rows only (decode, a
//                         small GQA group): the whole-strip tiles would
//                         compute 8 or 12 rows for them.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/rows_ahead.hpp"
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

// The V rows after a call's kp rows (next's runs, or in memory after), as
// many as the call has: the column slices [c0, c1) of each, prefetched
// while the call's slice passes run (a pass's share at a time, so that the
// prefetches spread over its FMAs). The pipelines hand the whole-strip
// direct P·V 16-32 keys per call, so the next call's rows are about
// 16 KiB ahead at D = 256.
template <class T>
[[gnu::always_inline]] inline void prefetch_next_rows(const T* v, std::int64_t ldv, int kp, RowsAfter next, int c0, int c1) {
  const int bytes = (c1 - c0) * static_cast<int>(sizeof(T));
  for (int j = kp; j < 2 * kp; ++j) prefetch_bytes(row_ahead(v, ldv, kp, next, j) + c0, bytes);
}

// O[8 x nv slices covering cols] (op)= P·V over kp keys. Columns past
// `cols` up to the slice's end get 0 (assign) or += 0 (accumulate).
template <class T, Store mode>
void pv_fp32_8x3_direct(int kp, const void* a, const void* v_rows, std::int64_t ldv, int cols,
                        float* o, std::int64_t ldo, RowsAfter next) {
  const auto* pa = static_cast<const float*>(a);
  const T* v = static_cast<const T*>(v_rows);
  const int vl = lanes32();
  const bool touch = retouch_for(kp, 3);
  for (int c = 0; c < cols; c += 3 * vl) {
    prefetch_next_rows(v, ldv, kp, next, c, std::min(cols, c + 3 * vl));
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
                         float* o, std::int64_t ldo, RowsAfter next) {
  const auto* pa = static_cast<const float*>(a);
  const T* v = static_cast<const T*>(v_rows);
  const int vl = lanes32();
  const bool touch = retouch_for(kp, panel);
  for (int c0 = 0; c0 < cols; c0 += panel * vl)
    for (int c = c0; c < c0 + panel * vl; c += 2 * vl) {
      if (c < cols) prefetch_next_rows(v, ldv, kp, next, c, std::min(cols, c + 2 * vl));
      const svbool_t p0 = svwhilelt_b32(c, cols), p1 = svwhilelt_b32(c + vl, cols);
      if (touch)
        gemm_12x2_rows<float, mode, true, RowLoad>(kp, pa, v + c, ldv, p0, p1, 1.0f, o + c, ldo);
      else
        gemm_12x2_rows<float, mode, false, RowLoad>(kp, pa, v + c, ldv, p0, p1, 1.0f, o + c, ldo);
    }
}

#define ATTNRT_PVR_ACC(r) \
  svfloat32_t c##r##0 = init(r, p0, 0), c##r##1 = init(r, p1, 1), c##r##2 = init(r, p2, 2), c##r##3 = init(r, p3, 3)
#define ATTNRT_PVR_FMA(r)                                  \
  if constexpr (R > (r)) {                                 \
    const svfloat32_t x = svdup_f32(p[r]);                 \
    c##r##0 = svmla_x(all, c##r##0, v0, x);                \
    c##r##1 = svmla_x(all, c##r##1, v1, x);                \
    c##r##2 = svmla_x(all, c##r##2, v2, x);                \
    c##r##3 = svmla_x(all, c##r##3, v3, x);                \
  }
#define ATTNRT_PVR_STORE(r)                                \
  if constexpr (R > (r)) {                                 \
    svst1(p0, out + (r) * ldo, c##r##0);                   \
    svst1(p1, out + (r) * ldo + vl, c##r##1);              \
    svst1(p2, out + (r) * ldo + 2 * vl, c##r##2);          \
    svst1(p3, out + (r) * ldo + 3 * vl, c##r##3);          \
  }

// O[r][c, c + 4 vectors) (+)= P·V for rows r < R <= 4 over all kp keys,
// O in registers throughout; P from an A panel of mr rows ([kp][mr]).
// Columns at or past dv are neither read nor written.
template <int R, class T>
void pv_rows_4x4(int kp, const float* pa, int mr, const T* v, std::int64_t ldv, int c, int dv,
                 float* o, std::int64_t ldo, bool accumulate, RowsAfter next, int ahead_bytes) {
  const svbool_t all = svptrue_b32();
  const int vl = lanes32();
  const svbool_t p0 = svwhilelt_b32(c, dv), p1 = svwhilelt_b32(c + vl, dv),
                 p2 = svwhilelt_b32(c + 2 * vl, dv), p3 = svwhilelt_b32(c + 3 * vl, dv);
  float* out = o + c;
  const auto init = [&](int r, svbool_t pw, int w) {
    return accumulate && r < R ? svld1(pw, out + r * ldo + w * vl) : svdup_f32(0.0f);
  };
  ATTNRT_PVR_ACC(0); ATTNRT_PVR_ACC(1); ATTNRT_PVR_ACC(2); ATTNRT_PVR_ACC(3);
  const T* row = v + c;
  // Each key's 4 vectors (a 256-byte line of fp32) of the row this many
  // keys on, into next's runs (the next pages) past the call's last key.
  const int ahead = std::max(1, ahead_bytes / (dv * static_cast<int>(sizeof(T))));
  const int pf_bytes = std::min(dv - c, 4 * vl) * static_cast<int>(sizeof(T));
  for (int j = 0; j < kp; ++j, row += ldv) {
    ATTNRT_MCA_BEGIN();
    prefetch_bytes(row_ahead(v, ldv, kp, next, j + ahead) + c, pf_bytes);
    const svfloat32_t v0 = load_f32(p0, row), v1 = load_f32(p1, row + vl),
                      v2 = load_f32(p2, row + 2 * vl), v3 = load_f32(p3, row + 3 * vl);
    const float* p = pa + static_cast<std::int64_t>(j) * mr;
    ATTNRT_PVR_FMA(0) ATTNRT_PVR_FMA(1) ATTNRT_PVR_FMA(2) ATTNRT_PVR_FMA(3)
    ATTNRT_MCA_END();
  }
  ATTNRT_PVR_STORE(0) ATTNRT_PVR_STORE(1) ATTNRT_PVR_STORE(2) ATTNRT_PVR_STORE(3)
}
#undef ATTNRT_PVR_STORE
#undef ATTNRT_PVR_FMA
#undef ATTNRT_PVR_ACC

// FewRowKernels::pv_rows for rows <= kPvDirectRowsMax of an MR-row strip,
// V prefetched AheadBytes ahead.
inline constexpr int kPvDirectRowsMax = 4;
template <class T, int MR, int AheadBytes>
void pv_fp32_4x4_direct_rows(int rows, int kp, const void* a, const void* v_rows, std::int64_t ldv,
                             int dv, float* o, std::int64_t ldo, bool accumulate, RowsAfter next) {
  const auto* pa = static_cast<const float*>(a);
  const T* v = static_cast<const T*>(v_rows);
  for (int c = 0; c < dv; c += 4 * lanes32()) switch (rows) {
      case 1: pv_rows_4x4<1>(kp, pa, MR, v, ldv, c, dv, o, ldo, accumulate, next, AheadBytes); break;
      case 2: pv_rows_4x4<2>(kp, pa, MR, v, ldv, c, dv, o, ldo, accumulate, next, AheadBytes); break;
      case 3: pv_rows_4x4<3>(kp, pa, MR, v, ldv, c, dv, o, ldo, accumulate, next, AheadBytes); break;
      default: pv_rows_4x4<4>(kp, pa, MR, v, ldv, c, dv, o, ldo, accumulate, next, AheadBytes); break;
    }
}

}  // namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR
