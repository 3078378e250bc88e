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

template <Exp2Precision P>
void exp2_impl(const float* s, std::int64_t lds, int rows, int cols, const float* mx, float* sum,
               std::uint16_t* p) {
  const int kp = round_up(cols, kAmxTile);
  const __m512i high_half = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
  for (int r = 0; r < kAmxTile; ++r) {
    std::uint16_t* out = p + r * kAmxTile;  // block c/32 at c * 32
    if (r >= rows) {
      for (int c = 0; c < kp; c += kAmxTile) _mm512_storeu_si512(out + c * kAmxTile, _mm512_setzero_si512());
      continue;
    }
    const float* row = s + r * lds;
    const __m512 m = _mm512_set1_ps(mx[r]);
    __m512 acc = _mm512_setzero_ps();
    for (int c = 0; c < kp; c += kAmxTile) {
      const __mmask16 v0 = first16(cols - c), v1 = first16(cols - c - 16);
      const __m512 lo = _mm512_maskz_mov_ps(v0, exp2<P>(_mm512_sub_ps(_mm512_maskz_loadu_ps(v0, row + c), m)));
      const __m512 hi =
          _mm512_maskz_mov_ps(v1, exp2<P>(_mm512_sub_ps(_mm512_maskz_loadu_ps(v1, row + c + 16), m)));
      const __m512i pb = std::bit_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));  // columns c.. in order
      _mm512_storeu_si512(out + c * kAmxTile, pb);
      // The rounded values back in fp32: even columns in the low halves of
      // the 32-bit lanes, odd ones in the high halves.
      acc = _mm512_add_ps(acc, _mm512_castsi512_ps(_mm512_slli_epi32(pb, 16)));
      acc = _mm512_add_ps(acc, _mm512_castsi512_ps(_mm512_and_si512(pb, high_half)));
    }
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
