// qk_fp16_12x2_fast: S = alpha·Q·Kᵀ with fp16 FMLA, twice the FMA rate of
// the fp32 Q·Kᵀ, for Exp2Precision::fast only (the fp16 sets' qk_fast).
// A64FX is SVE1: no widening fp16 FMA (FMLALB/T are SVE2), so the sums run
// in fp16 and are widened now and then:
//   - Q and K are fp16 inputs packed as fp16 (exactly, no pre-scaling):
//     Q as an fp16 A panel [dp][12], K as pairs panels (pack_b_key_pairs).
//   - The 12x2 body of gemm.hpp in fp16: 12 rows x 2 fp16 vectors = 4·lanes32
//     keys. Every kQkFp16Flush k steps the fp16 accumulators are widened
//     (FCVT + shift, no permute: Widen::pairs) and added to S in fp32 as
//     alpha·acc (alpha = scale·log2e, applied in fp32 like qk_fp32_12x2),
//     then restart from 0.
//
// Error bound, per S element, t_p = q_p·k_p over the dp packed steps,
// u = 2^-11 (fp16), L = kQkFp16Flush:
//   |S - alpha·Σ t_p| <= |alpha|·(γ_L·Σ|t_p| + 2^-14·Σ(1 + |q_p| + |k_p|))
//                        + (⌈dp/L⌉ + 1)·2^-24·|alpha|·Σ|t_p|·(1 + γ_L)
// γ_L = L·u / (1 - L·u): at most L fused fp16 adds per flush, each one
// rounding. The 2^-14 term is FZ16 (fp16 inputs and partial sums below
// 2^-14 flush to 0); the last, the fp32 flushes and alpha. L = 64 caps
// the first at γ_64 = 0.0323 of alpha·Σ|t_p| for any D (no flush: γ_512 =
// 0.33 at D = 512); rounding errors of random sign make it about
// u·sqrt(L·dp / 3)·(typical |partial sum|) in practice. P·V noepi
// accumulates a whole block in fp16; this is the same precision class.
//
// Overflow: an fp16 partial sum is at most L·max|q|·max|k|·(1 + γ_L), so
// none overflows (65504) while max|q|·max|k| <= 990. Beyond that, and for
// inf or NaN inputs, a non-finite partial reaches S as inf or NaN: the
// kernel checks its tile and recomputes it in fp32 (qk_fp16_12x2_fp32),
// which gives exactly the S of the accurate path's qk_fp32_12x2. So S is
// never inf or NaN where the fp32 Q·Kᵀ would not be, and equals it where
// it is (a NaN in Q or K gives NaN as before).
#pragma once

#include <cstdint>

#include "kernels/sve/flavor.hpp"
#include "kernels/sve/gemm.hpp"

namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR {

inline constexpr int kQkFp16Flush = 64;

// S = alpha·A·B of the fp16 panels, each element the fp32 FMA chain of
// qk_fp32_12x2 over the same (exactly widened) values: its bits. Only for
// tiles the fp16 sums overflowed (or that hold inf or NaN): cold.
[[gnu::noinline, gnu::cold]] inline void qk_fp16_12x2_fp32(int dp, const float16_t* a,
                                                           const float16_t* b, float alpha,
                                                           float* s, std::int64_t lds) {
  const svbool_t all = svptrue_b32();
  const int vl = lanes32();
  for (int r = 0; r < 12; ++r)
    for (int v = 0; v < 2; ++v) {
      svfloat32_t lo = svdup_f32(0.0f), hi = lo;
      for (int p = 0; p < dp; ++p) {
        const svfloat16_t kv = svld1_vnum(svptrue_b16(), b + static_cast<std::int64_t>(p) * 4 * vl, v);
        const svfloat16_t kv_high = svreinterpret_f16(svlsr_x(all, svreinterpret_u32(kv), 16u));
        const svfloat32_t x = svdup_f32(static_cast<float>(a[p * 12 + r]));
        lo = svmla_x(all, lo, svcvt_f32_x(all, kv), x);
        hi = svmla_x(all, hi, svcvt_f32_x(all, kv_high), x);
      }
      float* row = s + r * lds + 2 * v * vl;
      svst1(all, row, svmul_x(all, lo, alpha));
      svst1(all, row + vl, svmul_x(all, hi, alpha));
    }
}

// Whether the 12 x 4·lanes32 tile at s is all finite: a sum is inf or NaN
// when a term is (or, harmlessly, when finite terms overflow fp32). A tree
// of 48 loads, 47 adds: short chains, no wait on one FMA after another.
inline bool tile_finite(const float* s, std::int64_t lds) {
  const svbool_t all = svptrue_b32();
  const auto add = [&](svfloat32_t x, svfloat32_t y) { return svadd_x(all, x, y); };
  const auto row = [&](int r) {
    const float* p = s + r * lds;
    return add(add(svld1_vnum(all, p, 0), svld1_vnum(all, p, 1)), add(svld1_vnum(all, p, 2), svld1_vnum(all, p, 3)));
  };
  const svfloat32_t a = add(add(row(0), row(1)), add(row(2), row(3)));
  const svfloat32_t b = add(add(row(4), row(5)), add(row(6), row(7)));
  const svfloat32_t c = add(add(row(8), row(9)), add(row(10), row(11)));
  const svfloat32_t sum = add(add(a, b), c);
  return !svptest_any(all, svcmpuo(all, sum, sum));
}

// One tile: the fp16 sums, then the fp32 recomputation if they overflowed.
// (bench/mca also builds it with flush = 0, to price one flush.)
template <bool retouch, int flush = kQkFp16Flush>
inline void qk_fp16_12x2_tile(int dp, const float16_t* a, const float16_t* b, float alpha, float* s,
                              std::int64_t lds) {
  gemm_12x2_body<float16_t, Store::scaled, retouch, 2, flush, Widen::pairs>(dp, a, b, alpha, s, lds);
  if (!tile_finite(s, lds)) qk_fp16_12x2_fp32(dp, a, b, alpha, s, lds);
}

inline void qk_fp16_12x2_fast(int dp, const void* a, const void* b, float alpha, float* s,
                              std::int64_t lds) {
  const auto* pa = static_cast<const float16_t*>(a);
  const auto* pb = static_cast<const float16_t*>(b);
  if (retouch_for(dp, 4, 2))  // K rows are 4 fp32 vectors wide, in fp16
    qk_fp16_12x2_tile<true>(dp, pa, pb, alpha, s, lds);
  else
    qk_fp16_12x2_tile<false>(dp, pa, pb, alpha, s, lds);
}

}  // namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR
