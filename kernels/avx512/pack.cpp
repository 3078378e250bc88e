// Packing Q, K and V into the fp32 panels the avx512 fp32 micro-kernels
// read, widening fp16 (vcvtph2ps) and bf16 (a 16-bit shift) on the way.
//   Q: rows x d -> panels of [14][16] blocks (row copies; ops.hpp, kABlock)
//   K: keys x d -> panels [d][32]      (two transposed 16x16 blocks per 16 d)
//   V: keys x dv -> panels [keys][32]  (row copies)
// and widen_rows: fp16/bf16 rows to dense fp32 rows (the direct path's Q).
// Padding rows and columns are zero.
#include "kernels/avx512/intrinsics.hpp"

#include <algorithm>
#include <cstdint>

#include "kernels/avx512/convert.hpp"
#include "kernels/avx512/ops.hpp"
#include "kernels/avx512/transpose.hpp"

namespace attnrt::kernels::avx512 {
namespace {

// Rows [0, 16) of a block: h real rows from row0, each w (<= 16) elements
// from column p; the rest zero. Then transposed: r[j] is column p + j.
// Meanwhile the same columns of the next block's first next_h rows are
// prefetched: a block reads 16 rows a row stride apart, a pattern the
// hardware prefetchers pick up late, and K usually comes from L3 or memory
// (S1, B1 H16 M=N=512 D128 on Zen 5: pack_k 3.4% of the call, waiting on
// these loads, then 1.75%; attnrt-ab 1.016x, 16 pairs).
template <class T>
void load_transposed(const T* row0, std::int64_t ld, int h, int p, int w, int next_h, __m512 r[16]) {
  for (int i = 0; i < 16; ++i) {
    if (i < next_h) _mm_prefetch(reinterpret_cast<const char*>(row0 + (16 + i) * ld + p), _MM_HINT_T0);
    r[i] = i < h ? load16(row0 + i * ld + p, w) : _mm512_setzero_ps();
  }
  transpose16x16(r);
}

}  // namespace

template <class T>
void pack_q(const void* src, std::int64_t ld, int rows, int d, void* dst) {
  const T* s = static_cast<const T*>(src);
  float* out = static_cast<float*>(dst);
  for (int r0 = 0; r0 < rows; r0 += kMr, out += static_cast<std::int64_t>(kMr) * d) {
    const int h = std::min(kMr, rows - r0);
    // Row by row: each row is read front to back, one stream at a time.
    for (int i = 0; i < kMr; ++i)
      for (int p = 0; p < d; p += kABlock) {
        const int w = std::min(kABlock, d - p);
        store16(out + p * kMr + i * w, i < h ? load16(s + (r0 + i) * ld + p, w) : _mm512_setzero_ps(), w);
      }
  }
}

template <class T>
void pack_k(const void* src, std::int64_t ld, int keys, int d, void* dst) {
  const T* s = static_cast<const T*>(src);
  float* out = static_cast<float*>(dst);
  for (int k0 = 0; k0 < keys; k0 += kNr, out += static_cast<std::int64_t>(kNr) * d) {
    for (int half = 0; half < kNr / 16; ++half) {
      const int h = std::clamp(keys - k0 - 16 * half, 0, 16);
      const int next_h = std::clamp(keys - k0 - 16 * half - 16, 0, 16);
      for (int p = 0; p < d; p += 16) {
        const int w = std::min(16, d - p);
        __m512 c[16];
        load_transposed(s + (k0 + 16 * half) * ld, ld, h, p, w, next_h, c);
        for (int j = 0; j < w; ++j) _mm512_storeu_ps(out + (p + j) * kNr + 16 * half, c[j]);
      }
    }
  }
}

template <class T>
void pack_v(const void* src, std::int64_t ld, int keys, int dv, void* dst) {
  // Key-major, so the user's V is read front to back once.
  const T* s = static_cast<const T*>(src);
  float* out = static_cast<float*>(dst);
  const std::int64_t panel = static_cast<std::int64_t>(kNv) * keys;
  for (int p = 0; p < keys; ++p) {
    const T* row = s + p * ld;
    for (int c0 = 0; c0 < dv; c0 += kNv) {
      float* o = out + (c0 / kNv) * panel + p * kNv;
      _mm512_storeu_ps(o, load16(row + c0, dv - c0));
      _mm512_storeu_ps(o + 16, load16(row + c0 + 16, dv - c0 - 16));
    }
  }
}

template <class T>
void widen_rows(const void* src, std::int64_t ld, int rows, int cols, float* dst) {
  const T* s = static_cast<const T*>(src);
  for (int r = 0; r < rows; ++r, s += ld, dst += cols) {
    // Whole vectors with a constant mask (plain moves): masked stores are
    // slow on Zen 4, so only the tail takes one.
    int c = 0;
    for (; c + 16 <= cols; c += 16) _mm512_storeu_ps(dst + c, load16(s + c, 16));
    if (c < cols) store16(dst + c, load16(s + c, cols - c), cols - c);
  }
}
// float only to name it in make_set<float>, which leaves widen_rows null.
template void widen_rows<float>(const void*, std::int64_t, int, int, float*);
template void widen_rows<Fp16>(const void*, std::int64_t, int, int, float*);
template void widen_rows<Bf16>(const void*, std::int64_t, int, int, float*);

#define ATTNRT_AVX512_PACKERS(T)                                       \
  template void pack_q<T>(const void*, std::int64_t, int, int, void*); \
  template void pack_k<T>(const void*, std::int64_t, int, int, void*); \
  template void pack_v<T>(const void*, std::int64_t, int, int, void*);
ATTNRT_AVX512_PACKERS(float)
ATTNRT_AVX512_PACKERS(Fp16)
ATTNRT_AVX512_PACKERS(Bf16)
#undef ATTNRT_AVX512_PACKERS

}  // namespace attnrt::kernels::avx512
