// The amx_bf16 set's A panels (amx_bf16.hpp): Q packed and P written as row
// blocks of 32 bf16 columns, 64 bytes a row, so neither needs a transpose.
#include "kernels/avx512/intrinsics.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>

#include "kernels/avx512/amx_bf16.hpp"
#include "kernels/avx512/convert.hpp"
#include "kernels/avx512/exp2.hpp"

namespace attnrt::kernels::avx512 {
namespace {

// 32 columns of one row of P: exp2(S - m) rounded to bf16 (columns past
// `valid` 0) and stored in order as its block's row; the rounded values
// summed into acc by a dot product with ones, so the sum is of what P·V weighs.
template <Exp2Precision P, bool Tail>
__m512 exp2_block_row(const float* row, __m512 m, int valid, std::uint16_t* out, __m512 acc) {
  __m512 lo, hi;
  if constexpr (Tail) {
    const __mmask16 v0 = first16(valid), v1 = first16(valid - 16);
    lo = _mm512_maskz_mov_ps(v0, exp2<P>(_mm512_sub_ps(_mm512_maskz_loadu_ps(v0, row), m)));
    hi = _mm512_maskz_mov_ps(v1, exp2<P>(_mm512_sub_ps(_mm512_maskz_loadu_ps(v1, row + 16), m)));
  } else {
    lo = exp2<P>(_mm512_sub_ps(_mm512_loadu_ps(row), m));
    hi = exp2<P>(_mm512_sub_ps(_mm512_loadu_ps(row + 16), m));
  }
  const __m512bh pb = _mm512_cvtne2ps_pbh(hi, lo);
  _mm512_storeu_si512(out, std::bit_cast<__m512i>(pb));
  return _mm512_dpbf16_ps(acc, pb, std::bit_cast<__m512bh>(_mm512_set1_epi16(0x3f80)));  // bf16 1.0
}

template <Exp2Precision P>
void exp2_impl(const float* s, std::int64_t lds, int rows, int cols, const float* mx, float* sum,
               std::uint16_t* p) {
  const int kp = round_up(cols, kAmxTile), full = cols / kAmxTile * kAmxTile;
  for (int r = 0; r < kAmxTile; ++r) {
    std::uint16_t* out = p + r * kAmxTile;  // block c/32 at c * 32
    if (r >= rows) {
      for (int c = 0; c < kp; c += kAmxTile) _mm512_storeu_si512(out + c * kAmxTile, _mm512_setzero_si512());
      continue;
    }
    const float* row = s + r * lds;
    const __m512 m = _mm512_set1_ps(mx[r]);
    __m512 acc = _mm512_setzero_ps();
    for (int c = 0; c < full; c += kAmxTile)
      acc = exp2_block_row<P, false>(row + c, m, kAmxTile, out + c * kAmxTile, acc);
    if (full < cols) acc = exp2_block_row<P, true>(row + full, m, cols - full, out + full * kAmxTile, acc);
    sum[r] += _mm512_reduce_add_ps(acc);
  }
}

}  // namespace

void pack_q_row_blocks(const void* src, std::int64_t ld, int rows, int d, void* dst) {
  const auto* s = static_cast<const std::uint16_t*>(src);
  auto* out = static_cast<std::uint16_t*>(dst);
  const int dp = round_up(d, kAmxTile);
  for (int r0 = 0; r0 < rows; r0 += kAmxTile, out += static_cast<std::int64_t>(kAmxTile) * dp) {
    const int h = std::min(kAmxTile, rows - r0);
    // Row by row, each read front to back.
    for (int i = 0; i < kAmxTile; ++i)
      for (int c = 0; c < dp; c += kAmxTile)
        _mm512_storeu_si512(out + c * kAmxTile + i * kAmxTile,
                            i < h ? _mm512_maskz_loadu_epi16(first32(d - c), s + (r0 + i) * ld + c)
                                  : _mm512_setzero_si512());
  }
}

void exp2_rows_row_blocks(const float* s, std::int64_t lds, int rows, int cols, const float* m, float* sum,
                          void* p_panel, Exp2Precision precision) {
  auto* p = static_cast<std::uint16_t*>(p_panel);
  if (precision == Exp2Precision::accurate)
    exp2_impl<Exp2Precision::accurate>(s, lds, rows, cols, m, sum, p);
  else
    exp2_impl<Exp2Precision::fast>(s, lds, rows, cols, m, sum, p);
}

}  // namespace attnrt::kernels::avx512
