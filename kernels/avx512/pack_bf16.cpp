// Packing bf16 Q, K and V into the pair panels of the avx512_bf16 set, where
// element (row i, depth p) sits at [p/2][i][p%2]: every 32-bit word holds
// the two bf16 values one vdpbf16ps lane multiplies.
//   Q: rows x d -> panels [dp/2][14][2]    K: keys x d -> panels [dp/2][32][2]
// A row's consecutive pairs are already such words, so Q and K are 16x16
// transposes of 32-bit words. V: keys x dv -> panels [kp/2][32][2] pairs
// rows 2j and 2j+1 column by column. Padding (odd d, odd keys, rows and
// columns past the end, and the amx_bf16 set's depth up to 32: the _to
// forms) is zero.
#include "kernels/avx512/intrinsics.hpp"

#include <algorithm>
#include <cstdint>

#include "kernels/avx512/convert.hpp"
#include "kernels/avx512/ops.hpp"
#include "kernels/avx512/transpose.hpp"

namespace attnrt::kernels::avx512 {
namespace {

// w (<= 32) bf16 values from p on, as 16 words (the last one half zero if w is odd).
__m512 load_pairs(const std::uint16_t* p, int w) {
  return _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(first32(w), p));
}

// Rows r0.. (h of them, at most 16) x depth [p, p + w) -> 16 columns of
// words, column j holding pair p/2 + j of every row.
void load_transposed_pairs(const std::uint16_t* row0, std::int64_t ld, int h, int p, int w,
                           __m512 c[16]) {
  for (int i = 0; i < 16; ++i)
    c[i] = i < h ? load_pairs(row0 + i * ld + p, w) : _mm512_setzero_ps();
  transpose16x16(c);
}

}  // namespace

void pack_q_pairs(const void* src, std::int64_t ld, int rows, int d, void* dst) {
  const auto* s = static_cast<const std::uint16_t*>(src);
  auto* out = static_cast<float*>(dst);  // one 32-bit word per pair
  const int dp = d + (d & 1);
  const __mmask16 lanes = first16(kMr);
  for (int r0 = 0; r0 < rows; r0 += kMr, out += static_cast<std::int64_t>(kMr) * (dp / 2)) {
    const int h = std::min(kMr, rows - r0);
    for (int p = 0; p < d; p += 32) {
      const int w = std::min(32, d - p);
      __m512 c[16];
      load_transposed_pairs(s + r0 * ld, ld, h, p, w, c);
      for (int j = 0; j < (w + 1) / 2; ++j)
        _mm512_mask_storeu_ps(out + (p / 2 + j) * kMr, lanes, c[j]);
    }
  }
}

void pack_k_pairs(const void* src, std::int64_t ld, int keys, int d, void* dst) {
  pack_k_pairs_to(src, ld, keys, d, d + (d & 1), dst);
}

void pack_k_pairs_to(const void* src, std::int64_t ld, int keys, int d, int dp, void* dst) {
  const auto* s = static_cast<const std::uint16_t*>(src);
  auto* out = static_cast<float*>(dst);
  for (int k0 = 0; k0 < keys; k0 += kNr, out += static_cast<std::int64_t>(kNr) * (dp / 2)) {
    for (int j = (d + 1) / 2; j < dp / 2; ++j) {
      _mm512_storeu_ps(out + j * kNr, _mm512_setzero_ps());
      _mm512_storeu_ps(out + j * kNr + 16, _mm512_setzero_ps());
    }
    for (int half = 0; half < kNr / 16; ++half) {
      const int h = std::clamp(keys - k0 - 16 * half, 0, 16);
      for (int p = 0; p < d; p += 32) {
        const int w = std::min(32, d - p);
        __m512 c[16];
        load_transposed_pairs(s + (k0 + 16 * half) * ld, ld, h, p, w, c);
        for (int j = 0; j < (w + 1) / 2; ++j)
          _mm512_storeu_ps(out + (p / 2 + j) * kNr + 16 * half, c[j]);
      }
    }
  }
}

void pack_v_pairs(const void* src, std::int64_t ld, int keys, int dv, void* dst) {
  pack_v_pairs_to(src, ld, keys, dv, keys + (keys & 1), dst);
}

void pack_v_pairs_to(const void* src, std::int64_t ld, int keys, int dv, int kp, void* dst) {
  const auto* s = static_cast<const std::uint16_t*>(src);
  auto* out = static_cast<std::uint32_t*>(dst);
  const std::int64_t panel = static_cast<std::int64_t>(kNv) * (kp / 2);  // words per column panel
  for (int c0 = 0; c0 < dv; c0 += kNv)
    for (int j = (keys + 1) / 2; j < kp / 2; ++j) {
      _mm512_storeu_si512(out + (c0 / kNv) * panel + j * kNv, _mm512_setzero_si512());
      _mm512_storeu_si512(out + (c0 / kNv) * panel + j * kNv + 16, _mm512_setzero_si512());
    }
  // unpack{lo,hi}_epi16 interleave within 128-bit lanes: lo holds columns
  // 8L..8L+3, hi 8L+4..8L+7 of lane L; these put them back in column order.
  const __m512i first = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
  const __m512i second = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
  for (int p = 0; p < keys; p += 2) {
    const std::uint16_t* even = s + p * ld;
    const std::uint16_t* odd = even + ld;
    for (int c0 = 0; c0 < dv; c0 += kNv) {
      const __mmask32 cols = first32(dv - c0);
      const __m512i a = _mm512_maskz_loadu_epi16(cols, even + c0);
      const __m512i b =
          p + 1 < keys ? _mm512_maskz_loadu_epi16(cols, odd + c0) : _mm512_setzero_si512();
      const __m512i lo = _mm512_unpacklo_epi16(a, b), hi = _mm512_unpackhi_epi16(a, b);
      std::uint32_t* o = out + (c0 / kNv) * panel + (p / 2) * kNv;
      _mm512_storeu_si512(o, _mm512_permutex2var_epi64(lo, first, hi));
      _mm512_storeu_si512(o + 16, _mm512_permutex2var_epi64(lo, second, hi));
    }
  }
}

}  // namespace attnrt::kernels::avx512
