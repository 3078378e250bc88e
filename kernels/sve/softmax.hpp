// The softmax pieces of a KernelSet on an MR-row strip. exp2_rows fuses
// exp2 (FEXPA), the row sums, the conversion to the compute type and the
// column-major packing of P ([kp][MR], what P·V broadcasts from): no
// separate pack pass.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "kernels/convert.hpp"
#include "kernels/kernel_set.hpp"
#include "kernels/sve/columns.hpp"
#include "kernels/sve/exp2.hpp"

namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR {

template <int MR>
void row_max(const float* s, std::int64_t lds, int rows, int cols, float* mx) {
  const int vl = lanes32();
  const svfloat32_t ninf = svdup_f32(-std::numeric_limits<float>::infinity());
  for (int r = 0; r < rows; ++r) {
    const float* row = s + r * lds;
    svfloat32_t m0 = ninf, m1 = ninf;  // two chains: FMAXNM latency 4 would bound one
    int c = 0;
    for (; c + 2 * vl <= cols; c += 2 * vl) {
      ATTNRT_MCA_BEGIN();
      m0 = svmaxnm_x(svptrue_b32(), m0, svld1(svptrue_b32(), row + c));
      m1 = svmaxnm_x(svptrue_b32(), m1, svld1(svptrue_b32(), row + c + vl));
      ATTNRT_MCA_END();
    }
    for (; c < cols; c += vl) {
      const svbool_t pg = svwhilelt_b32(c, cols);
      m0 = svmaxnm_m(pg, m0, svld1(pg, row + c));
    }
    const float v = svmaxnmv(svptrue_b32(), svmaxnm_x(svptrue_b32(), m0, m1));
    mx[r] = v > mx[r] ? v : mx[r];
  }
}

// One chunk of up to `lanes` columns: P = exp2(S - m), letters summed.
template <int MR, ColType P, bool Accurate>
void exp2_rows_impl(const float* s, std::int64_t lds, int cols, const float* m, float* sum,
                    void* p_panel) {
  const int vl = lanes32();
  const std::size_t p_elem = P == ColType::f32 ? 4 : 2;
  char* p = static_cast<char*>(p_panel);
  const svbool_t all = svptrue_b32();
  svfloat32_t s0 = svdup_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
  auto add = [&](int t, svfloat32_t u, svfloat32_t v) {
    const svfloat32_t uv = svadd_x(all, u, v);
    if (t == 0) s0 = svadd_x(all, s0, uv);
    if (t == 1) s1 = svadd_x(all, s1, uv);
    if (t == 2) s2 = svadd_x(all, s2, uv);
    if (t == 3) s3 = svadd_x(all, s3, uv);
  };
  for (int c = 0; c < cols; c += vl) {
    ATTNRT_MCA_BEGIN();
    const svbool_t pg = svwhilelt_b32(c, cols);
    auto row = [&](int r) {
      const svfloat32_t x = svsub_x(all, svld1(pg, s + r * lds + c), svdup_f32(m[r]));
      return exp2_fexpa<Accurate>(pg, x);
    };
    const int n = std::min(vl, cols - c);
    void* dst = p + static_cast<std::size_t>(c) * MR * p_elem;
    if constexpr (MR == 8)
      write_columns8<P>(dst, n, svcreate4(row(0), row(1), row(2), row(3)),
                        svcreate4(row(4), row(5), row(6), row(7)), add);
    else
      write_columns12<P>(dst, n, svcreate4(row(0), row(1), row(2), row(3)),
                         svcreate4(row(4), row(5), row(6), row(7)),
                         svcreate4(row(8), row(9), row(10), row(11)), add);
    ATTNRT_MCA_END();
  }
  if constexpr (MR == 8)
    add_row_sums8(s0, s1, s2, s3, sum);
  else
    add_row_sums12(s0, s1, s2, sum);
}

// P in fp32, or, for the fp16 sets' fast path, in fp16 (PFast). All MR
// rows whatever `rows` asks (these sets have no few-row P·V): the rows are
// written column by column.
template <int MR, ColType PFast>
void exp2_rows(const float* s, std::int64_t lds, int /*rows*/, int cols, const float* m,
               float* sum, void* p_panel, Exp2Precision precision) {
  if (precision == Exp2Precision::accurate)
    exp2_rows_impl<MR, ColType::f32, true>(s, lds, cols, m, sum, p_panel);
  else
    exp2_rows_impl<MR, PFast, false>(s, lds, cols, m, sum, p_panel);
}

template <int MR>
void rescale(float* o, std::int64_t ldo, int cols, const float* alpha) {
  const int vl = lanes32();
  for (int r = 0; r < MR; ++r) {
    float* row = o + r * ldo;
    for (int c = 0; c < cols; c += vl) {
      ATTNRT_MCA_BEGIN();
      const svbool_t pg = svwhilelt_b32(c, cols);
      svst1(pg, row + c, svmul_x(pg, svld1(pg, row + c), alpha[r]));
      ATTNRT_MCA_END();
    }
  }
}

// x * 0 is 0 for a finite x and NaN for NaN or inf: one FMLA per vector
// finds a non-finite value (see KernelSet::normalize).
inline bool normalize(const float* o, std::int64_t ldo, int rows, int cols, const float* inv_sum,
                      void* out, std::int64_t ld_out, DType out_type) {
  const int vl = lanes32();
  float tmp[kMaxHeadDim];  // bf16 rows go through the portable rounding
  svfloat32_t bad = svdup_f32(0.0f);
  for (int r = 0; r < rows; ++r) {
    const float* row = o + r * ldo;
    for (int c = 0; c < cols; c += vl) {
      const svbool_t pg = svwhilelt_b32(c, cols);
      const svfloat32_t v = svmul_x(pg, svld1(pg, row + c), inv_sum[r]);
      bad = svmla_m(pg, bad, v, 0.0f);
      switch (out_type) {
        case DType::f32: svst1(pg, static_cast<float*>(out) + r * ld_out + c, v); break;
        case DType::f16:
          svst1h_u32(pg, static_cast<std::uint16_t*>(out) + r * ld_out + c,
                     svreinterpret_u32(svcvt_f16_x(pg, v)));
          break;
        case DType::bf16: svst1(pg, tmp + c, v); break;
      }
    }
    if (out_type == DType::bf16)
      store_row(tmp, cols, static_cast<std::uint16_t*>(out) + r * ld_out, DType::bf16);
  }
  return svptest_any(svptrue_b32(), svcmpuo(svptrue_b32(), bad, bad));
}

}  // namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR
