// One decode row's Q·Kᵀ and P·V over int8 K/V codes on VNNI (vpdpbusd: 64
// byte products summed into 16 int32 lanes per instruction), for the avx512
// set's FewRowKernels entry that needs AVX512_VNNI. Widening each code to
// fp32 costs three zmm operations per 16 codes (vpmovsxbd, vcvtdq2ps, FMA),
// which bounds int8 decode below the read bandwidth on Zen 4 (K/V in L3
// read no faster than from DRAM); here the fp32 operand is cut into 8-bit
// digits instead, exactly enough of them for fp32's precision, so that
// each code takes part in one byte product per digit:
// - Q·Kᵀ: q in 23-bit fixed point relative to the row's largest |q|, as
//   three signed digits (q = d0 + 256 d1 + 65536 d2); K codes made unsigned
//   (xor 0x80, i.e. + 128), whose bias is taken back in the accumulators.
// - P·V: each 128-key chunk of P (>= 0) in fixed point, its largest entry
//   2^23 units, as three unsigned digits; four keys' V codes
//   interleaved per 32-bit lane (byte unpacks), columns kept in the
//   unpacks' order until the chunk's sums are written.
// Integer sums are exact; the one rounding beyond fp32's own is the fixed
// point's, at most 2^-23 of the largest |q| (2^-24 of the largest p) per
// element. Rows these cannot take exactly (q or P not finite, P negative
// or all zero, D > 256) return false and are left to the widening kernels.
// Zen 4 (D128, 128 keys a call, K/V in L1/L2, microbenchmark): Q·Kᵀ 5.9 ->
// 3.6 ns per key, P·V 4.4 -> 3.1; attnrt-bench --kv-dtype int8 B1 H8 M1
// N512 (K/V in cache) 0.077 -> 0.065 ms (1.18x, three alternating runs).
// From DRAM (S5) no change: there both read at ~16-18 GB/s against a plain
// read's 26, whatever the prefetch distance (0-256 rows) or hint.
#include "kernels/avx512/intrinsics.hpp"

#include <cstdint>

#include "kernels/avx512/ops.hpp"
#include "kernels/avx512/pv_row.hpp"
#include "kernels/rows_ahead.hpp"
#include "kernels/x86/few_rows.hpp"

namespace attnrt::kernels::avx512 {
namespace {

// The Q digits' fixed point: |q| <= 2^22 units, so d2 stays within 65.
constexpr float kQUnits = 4194304.0f;
// D up to which the low digits' sum d0 + 256 d1 over all of D fits in int32
// (256 x 32896 x 128 < 2^31).
constexpr int kMostD = 256;
// P's fixed point (a power of 2, so that a p of 1 comes back exact) and
// chunk: 128 keys' V rows (16 KiB at D128) stay in L1 for the second pass
// over their columns; 128 x 255 x 128 x 255 stays in int32.
constexpr float kPUnits = 8388608.0f;  // 2^23
constexpr int kChunk = 128;

static inline __mmask64 first64(int n) {
  return n >= 64 ? ~__mmask64(0) : n <= 0 ? __mmask64(0) : (__mmask64(1) << n) - 1;
}
static inline __mmask16 lanes16(int n) {
  return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// The low byte of each lane, sign-extended: a balanced base-256 digit.
static inline __m512i low_digit(__m512i v) { return _mm512_srai_epi32(_mm512_slli_epi32(v, 24), 24); }

// Four vectors' lanes summed per 128-bit chunk: chunk c of the result holds
// v[0..3]'s sums over their chunk c, in order.
static inline __m512i sum_chunks4(const __m512i (&v)[4]) {
  const __m512i t01 = _mm512_add_epi32(_mm512_unpacklo_epi32(v[0], v[1]), _mm512_unpackhi_epi32(v[0], v[1]));
  const __m512i t23 = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2], v[3]), _mm512_unpackhi_epi32(v[2], v[3]));
  return _mm512_add_epi32(_mm512_unpacklo_epi64(t01, t23), _mm512_unpackhi_epi64(t01, t23));
}
// Lane 4g + r: the sum over all chunks of g[g]'s lane r of each chunk.
static inline __m512i sum_groups4(const __m512i (&g)[4]) {
  const auto pairs = [](__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_shuffle_i32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
  };
  return pairs(pairs(g[0], g[1]), pairs(g[2], g[3]));
}

// ---- Q·Kᵀ ------------------------------------------------------------------

// Scores of keys [j0, j0 + 16) (clamped to the last key; only n stored).
template <int NV, bool IntoL2>
static inline void qk_keys16(const __m512i (&digit)[3][NV], __m512i bias1, __m512i bias2, __m512i bias0,
                             __m512 unit, int j0, int n, int keys, int d, const I8* k, std::int64_t ldk,
                             float* s, int rows_ahead, RowsAfter next) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512i lo[4], hi[4];
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {
    __m512i lo4[4], hi4[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const int j = j0 + 4 * g + r < keys ? j0 + 4 * g + r : keys - 1;
      const I8* kr = k + j * ldk;
      if (rows_ahead > 0) x86::prefetch_lines<IntoL2>(row_ahead(k, ldk, keys, next, j + rows_ahead), d);
      __m512i kb[NV];
#pragma GCC unroll 4
      for (int i = 0; i < NV; ++i)
        kb[i] = _mm512_xor_si512(_mm512_maskz_loadu_epi8(first64(d - 64 * i), kr + 64 * i), flip);
      // d2 alone; d1 then d0 into one accumulator, d1's sums shifted up a digit
      // between (each digit's bias starts in lane 0).
      __m512i a2 = bias2, a10 = bias1;
#pragma GCC unroll 4
      for (int i = 0; i < NV; ++i) {
        a2 = _mm512_dpbusd_epi32(a2, kb[i], digit[2][i]);
        a10 = _mm512_dpbusd_epi32(a10, kb[i], digit[1][i]);
      }
      a10 = _mm512_slli_epi32(a10, 8);
#pragma GCC unroll 4
      for (int i = 0; i < NV; ++i) a10 = _mm512_dpbusd_epi32(a10, kb[i], digit[0][i]);
      hi4[r] = a2;
      lo4[r] = a10;
    }
    hi[g] = sum_chunks4(hi4);
    lo[g] = sum_chunks4(lo4);
  }
  // q·k in units: 65536 Σd2 k + (256 Σd1 k + Σd0 k), each exact in int32.
  const __m512i low = _mm512_add_epi32(sum_groups4(lo), bias0);
  const __m512 units = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum_groups4(hi)), _mm512_set1_ps(65536.0f),
                                       _mm512_cvtepi32_ps(low));
  _mm512_mask_storeu_ps(s + j0, lanes16(n), _mm512_mul_ps(units, unit));
}

template <int NV, bool IntoL2>
static inline void qk_row(int keys, int d, const float* q, float qmax, const I8* k, std::int64_t ldk,
                          float alpha, float* s, int rows_ahead, RowsAfter next) {
  const __m512 to_units = _mm512_set1_ps(kQUnits / qmax);
  __m512i digit[3][NV];
  __m512i sum[3] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
#pragma GCC unroll 4
  for (int i = 0; i < NV; ++i) {
    __m128i bytes[3][4];
    for (int c = 0; c < 4; ++c) {
      const int x = 64 * i + 16 * c;
      const __m512 qv = _mm512_maskz_loadu_ps(lanes16(d - x), q + x);
      const __m512i units = _mm512_cvt_roundps_epi32(_mm512_mul_ps(qv, to_units), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __m512i d0 = low_digit(units);
      const __m512i r1 = _mm512_srai_epi32(_mm512_sub_epi32(units, d0), 8);
      const __m512i d1 = low_digit(r1);
      const __m512i d2 = _mm512_srai_epi32(_mm512_sub_epi32(r1, d1), 8);
      const __m512i ds[3] = {d0, d1, d2};
      for (int t = 0; t < 3; ++t) {
        sum[t] = _mm512_add_epi32(sum[t], ds[t]);
        bytes[t][c] = _mm512_cvtepi32_epi8(ds[t]);
      }
    }
    for (int t = 0; t < 3; ++t) {
      __m512i v = _mm512_castsi128_si512(bytes[t][0]);
      v = _mm512_inserti32x4(v, bytes[t][1], 1);
      v = _mm512_inserti32x4(v, bytes[t][2], 2);
      digit[t][i] = _mm512_inserti32x4(v, bytes[t][3], 3);
    }
  }
  // The codes' +128 adds 128 Σ d_t to digit t's sum: taken back from its
  // accumulator's lane 0 (d1's before the shift that scales it).
  const auto bias = [&](int t) { return -128 * _mm512_reduce_add_epi32(sum[t]); };
  const auto lane0 = [](int v) { return _mm512_maskz_mov_epi32(__mmask16(1), _mm512_set1_epi32(v)); };
  const __m512i bias2 = lane0(bias(2)), bias1 = lane0(bias(1));
  const __m512i bias0 = _mm512_set1_epi32(bias(0));  // added to the 16 keys' sums
  const __m512 unit = _mm512_set1_ps(alpha * (qmax / kQUnits));
  for (int j0 = 0; j0 < keys; j0 += 16)
    qk_keys16<NV, IntoL2>(digit, bias1, bias2, bias0, unit, j0, keys - j0, keys, d, k, ldk, s, rows_ahead, next);
}

// ---- P·V -------------------------------------------------------------------

// P's row 0 in the A panel's layout (kABlock blocks of kMr rows): entry j.
static inline const float* p_block(const float* pa, int j) { return pa + j * kMr; }

// 64 columns [c0, c0 + 64) of O (+)= Σ over the chunk's keys [k0, k0 + n) of
// p_j V[j], with p's three digits per 4-key quad in digit[t][quad] and
// `unit` the value of one fixed-point step.
template <bool IntoL2>
static inline void pv_columns64(const std::uint32_t (&digit)[3][kChunk / 4], __m512 unit, int k0, int n, int kp,
                                const I8* v, std::int64_t ldv, int c0, int dv, float* o, bool add, bool prefetch,
                                RowsAfter next) {
  const __mmask64 cols = first64(dv - c0);
  __m512i acc[3][4];
#pragma GCC unroll 3
  for (int t = 0; t < 3; ++t)
#pragma GCC unroll 4
    for (int m = 0; m < 4; ++m) acc[t][m] = _mm512_setzero_si512();
  for (int q = 0; 4 * q < n; ++q) {
    __m512i r[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      const int j = k0 + 4 * q + i < kp ? k0 + 4 * q + i : kp - 1;  // (a padded key's digits are 0)
      if (prefetch) x86::prefetch_lines<IntoL2>(row_ahead(v, ldv, kp, next, j + kRowAhead<I8>), dv);
      r[i] = _mm512_maskz_loadu_epi8(cols, v + j * ldv + c0);
    }
    // Per 128-bit chunk c, e[m]'s lane i: column 16c + 4m + i of the four keys.
    const __m512i a = _mm512_unpacklo_epi8(r[0], r[1]), b = _mm512_unpackhi_epi8(r[0], r[1]);
    const __m512i c = _mm512_unpacklo_epi8(r[2], r[3]), d = _mm512_unpackhi_epi8(r[2], r[3]);
    const __m512i e[4] = {_mm512_unpacklo_epi16(a, c), _mm512_unpackhi_epi16(a, c), _mm512_unpacklo_epi16(b, d),
                          _mm512_unpackhi_epi16(b, d)};
#pragma GCC unroll 3
    for (int t = 0; t < 3; ++t) {
      const __m512i p = _mm512_set1_epi32(static_cast<int>(digit[t][q]));
#pragma GCC unroll 4
      for (int m = 0; m < 4; ++m) acc[t][m] = _mm512_dpbusd_epi32(acc[t][m], p, e[m]);
    }
  }
  __m512 f[4];
#pragma GCC unroll 4
  for (int m = 0; m < 4; ++m) {
    const __m512 hi = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[2][m]), _mm512_set1_ps(256.0f), _mm512_cvtepi32_ps(acc[1][m]));
    f[m] = _mm512_mul_ps(_mm512_fmadd_ps(hi, _mm512_set1_ps(256.0f), _mm512_cvtepi32_ps(acc[0][m])), unit);
  }
  // Back to column order: output vector c is chunk c of f[0..3].
  const __m512 x01 = _mm512_shuffle_f32x4(f[0], f[1], _MM_SHUFFLE(1, 0, 1, 0));
  const __m512 x23 = _mm512_shuffle_f32x4(f[2], f[3], _MM_SHUFFLE(1, 0, 1, 0));
  const __m512 y01 = _mm512_shuffle_f32x4(f[0], f[1], _MM_SHUFFLE(3, 2, 3, 2));
  const __m512 y23 = _mm512_shuffle_f32x4(f[2], f[3], _MM_SHUFFLE(3, 2, 3, 2));
  const __m512 out[4] = {_mm512_shuffle_f32x4(x01, x23, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(x01, x23, _MM_SHUFFLE(3, 1, 3, 1)),
                         _mm512_shuffle_f32x4(y01, y23, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(y01, y23, _MM_SHUFFLE(3, 1, 3, 1))};
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    const __mmask16 w = lanes16(dv - c0 - 16 * c);
    float* oc = o + c0 + 16 * c;
    _mm512_mask_storeu_ps(oc, w, add ? _mm512_add_ps(_mm512_maskz_loadu_ps(w, oc), out[c]) : out[c]);
  }
}

}  // namespace

template <bool IntoL2>
bool qk_i8_row_vnni(int keys, int d, const float* q, const I8* k, std::int64_t ldk, float alpha, float* s,
                    int rows_ahead, RowsAfter next) {
  if (d > kMostD) return false;
  __m512 m = _mm512_setzero_ps();
  for (int x = 0; x < d; x += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_maskz_loadu_ps(lanes16(d - x), q + x)));
  const float qmax = _mm512_reduce_max_ps(m);  // (max drops NaN lanes: checked below)
  if (!(qmax > 0.0f && qmax <= 3.4e38f)) return false;
  for (int x = 0; x < d; x += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(lanes16(d - x), q + x);
    if (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q)) return false;
  }
  if (keys <= 0) return true;
  switch ((d + 63) / 64) {
    case 1: qk_row<1, IntoL2>(keys, d, q, qmax, k, ldk, alpha, s, rows_ahead, next); break;
    case 2: qk_row<2, IntoL2>(keys, d, q, qmax, k, ldk, alpha, s, rows_ahead, next); break;
    case 3: qk_row<3, IntoL2>(keys, d, q, qmax, k, ldk, alpha, s, rows_ahead, next); break;
    default: qk_row<4, IntoL2>(keys, d, q, qmax, k, ldk, alpha, s, rows_ahead, next); break;
  }
  return true;
}

template <bool IntoL2>
bool pv_i8_row_vnni(int kp, const float* pa, const I8* v, std::int64_t ldv, int dv, float* o, bool accumulate,
                    RowsAfter next) {
  // P finite, >= 0 and not all 0, else the widening kernels take the row.
  __m512 most = _mm512_setzero_ps();
  for (int j = 0; j < kp; j += kABlock) {
    const __m512 p = _mm512_maskz_loadu_ps(lanes16(kp - j), p_block(pa, j));
    if (_mm512_cmp_ps_mask(p, _mm512_setzero_ps(), _CMP_NGE_UQ)) return false;  // < 0 or NaN
    most = _mm512_max_ps(most, p);
  }
  const float pmax = _mm512_reduce_max_ps(most);
  if (!(pmax > 0.0f && pmax <= 3.4e38f)) return false;
  alignas(64) std::uint32_t digit[3][kChunk / 4];
  for (int k0 = 0; k0 < kp; k0 += kChunk) {
    const int n = kp - k0 < kChunk ? kp - k0 : kChunk;
    __m512 cmax = _mm512_setzero_ps();
    for (int j = 0; j < n; j += kABlock)
      cmax = _mm512_max_ps(cmax, _mm512_maskz_loadu_ps(lanes16(n - j), p_block(pa, k0 + j)));
    const float chunk_max = _mm512_reduce_max_ps(cmax);
    if (!(chunk_max > 0.0f)) {  // adds nothing
      if (!accumulate && k0 == 0)
        for (int c = 0; c < dv; c += 16) _mm512_mask_storeu_ps(o + c, lanes16(dv - c), _mm512_setzero_ps());
      accumulate = true;
      continue;
    }
    const __m512 to_units = _mm512_set1_ps(kPUnits / chunk_max);
    for (int j = 0; j < kChunk; j += kABlock) {  // (keys past n: digits 0)
      const __m512 p = _mm512_maskz_loadu_ps(lanes16(n - j), p_block(pa, k0 + j));
      __m512i units = _mm512_cvt_roundps_epi32(_mm512_mul_ps(p, to_units), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      units = _mm512_min_epi32(units, _mm512_set1_epi32(0xffffff));  // (p <= the chunk's largest)
#pragma GCC unroll 3
      for (int t = 0; t < 3; ++t)
        _mm_store_si128(reinterpret_cast<__m128i*>(&digit[t][j / 4]), _mm512_cvtepi32_epi8(_mm512_srli_epi32(units, 8 * t)));
    }
    const __m512 unit = _mm512_set1_ps(chunk_max / kPUnits);
    for (int c0 = 0; c0 < dv; c0 += 64)
      pv_columns64<IntoL2>(digit, unit, k0, n, kp, v, ldv, c0, dv, o, accumulate || k0 > 0, c0 == 0, next);
  }
  return true;
}

template bool qk_i8_row_vnni<false>(int, int, const float*, const I8*, std::int64_t, float, float*, int, RowsAfter);
template bool qk_i8_row_vnni<true>(int, int, const float*, const I8*, std::int64_t, float, float*, int, RowsAfter);
template bool pv_i8_row_vnni<false>(int, const float*, const I8*, std::int64_t, int, float*, bool, RowsAfter);
template bool pv_i8_row_vnni<true>(int, const float*, const I8*, std::int64_t, int, float*, bool, RowsAfter);

}  // namespace attnrt::kernels::avx512
