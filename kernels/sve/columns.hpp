// Writing a strip of MR row vectors as MR-row columns, the A-panel layout
// [k][MR] the micro-kernels broadcast from. Rows go through a perfect-shuffle
// network (ZIP) into "letters" whose lanes cycle through a few rows, then a
// structure store (ST4 for 8 rows, ST3 for 12) interleaves the letters into
// memory: no scatter, no staging buffer, exact tail predicates, any vector
// length that is a power of two.
//   MR = 8:  letter t (t < 4) holds rows t and t+4 on even/odd lanes; ST4W of
//            the four letters writes [r0..r7] per column.
//   MR = 12: letter t (t < 3) holds rows t, t+3, t+6, t+9 on lanes = 0..3 mod
//            4; ST3W of the three letters writes [r0..r11] per column (or,
//            narrowed to fp16 and paired with UZP1, ST3H: the fp16 P panel).
// `sums(t, u, v)` receives the letters of pattern t (two vectors), so callers
// can add rows up on the letters (add_row_sums* undo the lane pattern) rather
// than row by row.
#pragma once

#include <cstdint>

#include "kernels/sve/flavor.hpp"

namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR {

// Store of letters as fp32 or narrowed to fp16.
enum class ColType { f32, f16 };

// MR = 8. Columns [0, n) of rows r0..r7 (n <= lanes) to dst[c*8 + r].
template <ColType Out, class Sums>
inline void write_columns8(void* dst, int n, svfloat32x4_t lo_rows, svfloat32x4_t hi_rows,
                           Sums&& sums) {
  static_assert(Out == ColType::f32, "8-row strips are written as fp32 only");
  const int half = lanes32() / 2;
  const svfloat32_t l0 = svzip1(svget4(lo_rows, 0), svget4(hi_rows, 0));
  const svfloat32_t l1 = svzip1(svget4(lo_rows, 1), svget4(hi_rows, 1));
  const svfloat32_t l2 = svzip1(svget4(lo_rows, 2), svget4(hi_rows, 2));
  const svfloat32_t l3 = svzip1(svget4(lo_rows, 3), svget4(hi_rows, 3));
  const svfloat32_t h0 = svzip2(svget4(lo_rows, 0), svget4(hi_rows, 0));
  const svfloat32_t h1 = svzip2(svget4(lo_rows, 1), svget4(hi_rows, 1));
  const svfloat32_t h2 = svzip2(svget4(lo_rows, 2), svget4(hi_rows, 2));
  const svfloat32_t h3 = svzip2(svget4(lo_rows, 3), svget4(hi_rows, 3));
  sums(0, l0, h0);
  sums(1, l1, h1);
  sums(2, l2, h2);
  sums(3, l3, h3);
  const int n_lo = n < half ? n : half, n_hi = n - n_lo;
  float* d = static_cast<float*>(dst);
  svst4(svwhilelt_b32(0, 2 * n_lo), d, svcreate4(l0, l1, l2, l3));
  if (n_hi > 0) svst4(svwhilelt_b32(0, 2 * n_hi), d + half * 8, svcreate4(h0, h1, h2, h3));
}

// 4-way interleave of rows (w, x, y, z) into four letters, each covering a
// quarter of the columns, lanes 4c+t = row t of column c.
#define ATTNRT_SVE_LETTERS4(w, x, y, z, q0, q1, q2, q3)   \
  const svfloat32_t q0##u_lo = svzip1(w, y), q0##u_hi = svzip2(w, y); \
  const svfloat32_t q0##v_lo = svzip1(x, z), q0##v_hi = svzip2(x, z); \
  const svfloat32_t q0 = svzip1(q0##u_lo, q0##v_lo);     \
  const svfloat32_t q1 = svzip2(q0##u_lo, q0##v_lo);     \
  const svfloat32_t q2 = svzip1(q0##u_hi, q0##v_hi);     \
  const svfloat32_t q3 = svzip2(q0##u_hi, q0##v_hi)

// MR = 12. Columns [0, n) of rows r0..r11 to dst[c*12 + r].
template <ColType Out, class Sums>
inline void write_columns12(void* dst, int n, svfloat32x4_t r0123, svfloat32x4_t r4567,
                            svfloat32x4_t r89ab, Sums&& sums) {
  const int vl = lanes32(), quarter = vl / 4;
  const svfloat32_t r0 = svget4(r0123, 0), r1 = svget4(r0123, 1), r2 = svget4(r0123, 2),
                    r3 = svget4(r0123, 3), r4 = svget4(r4567, 0), r5 = svget4(r4567, 1),
                    r6 = svget4(r4567, 2), r7 = svget4(r4567, 3), r8 = svget4(r89ab, 0),
                    r9 = svget4(r89ab, 1), r10 = svget4(r89ab, 2), r11 = svget4(r89ab, 3);
  ATTNRT_SVE_LETTERS4(r0, r3, r6, r9, a0, a1, a2, a3);
  ATTNRT_SVE_LETTERS4(r1, r4, r7, r10, b0, b1, b2, b3);
  ATTNRT_SVE_LETTERS4(r2, r5, r8, r11, c0, c1, c2, c3);
  sums(0, svadd_x(svptrue_b32(), a0, a1), svadd_x(svptrue_b32(), a2, a3));
  sums(1, svadd_x(svptrue_b32(), b0, b1), svadd_x(svptrue_b32(), b2, b3));
  sums(2, svadd_x(svptrue_b32(), c0, c1), svadd_x(svptrue_b32(), c2, c3));
  auto cols_in = [&](int j, int width) {  // columns of part j (of `width` columns each)
    const int rest = n - j * width;
    return rest <= 0 ? 0 : (rest < width ? rest : width);
  };
  if constexpr (Out == ColType::f32) {
    float* d = static_cast<float*>(dst);
    const int step = quarter * 12;
    svst3(svwhilelt_b32(0, 4 * cols_in(0, quarter)), d, svcreate3(a0, b0, c0));
    if (n > quarter) svst3(svwhilelt_b32(0, 4 * cols_in(1, quarter)), d + step, svcreate3(a1, b1, c1));
    if (n > 2 * quarter) svst3(svwhilelt_b32(0, 4 * cols_in(2, quarter)), d + 2 * step, svcreate3(a2, b2, c2));
    if (n > 3 * quarter) svst3(svwhilelt_b32(0, 4 * cols_in(3, quarter)), d + 3 * step, svcreate3(a3, b3, c3));
  } else {
    const svbool_t all = svptrue_b32();
    auto narrow = [&](svfloat32_t a, svfloat32_t b) {
      return svuzp1(svcvt_f16_x(all, a), svcvt_f16_x(all, b));
    };
    float16_t* d = static_cast<float16_t*>(dst);
    const int half = 2 * quarter;
    svst3(svwhilelt_b16(0, 4 * cols_in(0, half)), d,
          svcreate3(narrow(a0, a1), narrow(b0, b1), narrow(c0, c1)));
    if (n > half)
      svst3(svwhilelt_b16(0, 4 * cols_in(1, half)), d + half * 12,
            svcreate3(narrow(a2, a3), narrow(b2, b3), narrow(c2, c3)));
  }
}
#undef ATTNRT_SVE_LETTERS4

// Row sums from letter sums: MR = 8 has 4 letters (rows t, t+4 on even/odd
// lanes), MR = 12 has 3 letters (rows t + 3j on lanes = j mod 4).
inline void add_row_sums8(svfloat32_t s0, svfloat32_t s1, svfloat32_t s2, svfloat32_t s3,
                          float* sum) {
  const svbool_t even = svzip1_b32(svptrue_b32(), svpfalse_b());
  const svbool_t odd = svnot_z(svptrue_b32(), even);
  sum[0] += svaddv(even, s0), sum[4] += svaddv(odd, s0);
  sum[1] += svaddv(even, s1), sum[5] += svaddv(odd, s1);
  sum[2] += svaddv(even, s2), sum[6] += svaddv(odd, s2);
  sum[3] += svaddv(even, s3), sum[7] += svaddv(odd, s3);
}

inline void add_row_sums12(svfloat32_t s0, svfloat32_t s1, svfloat32_t s2, float* sum) {
  const svuint32_t lane_mod4 = svand_x(svptrue_b32(), svindex_u32(0, 1), 3u);
  for (std::uint32_t j = 0; j < 4; ++j) {
    const svbool_t lanes = svcmpeq(svptrue_b32(), lane_mod4, j);
    sum[3 * j] += svaddv(lanes, s0);
    sum[3 * j + 1] += svaddv(lanes, s1);
    sum[3 * j + 2] += svaddv(lanes, s2);
  }
}

}  // namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR
