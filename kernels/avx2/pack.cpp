// Packing Q, K and V into the fp32 panels the avx2 micro-kernels read,
// widening fp16 (F16C) and bf16 (a 16-bit shift) on the way.
//   Q: rows x d -> panels of [6][8] blocks (row copies; ops.hpp, kABlock)
//   K: keys x d -> panels [d][16]   (two transposed 8x8 blocks per 8 d)
//   V: keys x dv -> panels [keys][16] (row copies)
// and widen_rows: fp16/bf16 rows to dense fp32 rows (the direct path's Q).
// Padding rows and columns are zero.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/x86/convert.hpp"
#include "kernels/x86/lanes.hpp"
#include "kernels/avx2/ops.hpp"
#include "kernels/avx2/transpose.hpp"

namespace attnrt::kernels::avx2 {
using namespace x86;  // the 256-bit helpers shared with the avx512 folder
namespace {

// 8 rows x up to 8 elements starting at column p of `row0` (rows >= h are
// zero), loaded as row vectors.
template <class T, int R>
void load_rows(const T* row0, std::int64_t ld, int h, int p, int w, __m256 r[R]) {
  for (int i = 0; i < R; ++i) r[i] = i < h ? load_upto8(row0 + i * ld + p, w) : _mm256_setzero_ps();
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
        store_upto8(out + p * kMr + i * w, i < h ? load_upto8(s + (r0 + i) * ld + p, w) : _mm256_setzero_ps(), w);
      }
  }
}

template <class T>
void pack_k(const void* src, std::int64_t ld, int keys, int d, void* dst) {
  const T* s = static_cast<const T*>(src);
  float* out = static_cast<float*>(dst);
  for (int k0 = 0; k0 < keys; k0 += kNr, out += static_cast<std::int64_t>(kNr) * d) {
    for (int half = 0; half < kNr / 8; ++half) {
      const int h = std::clamp(keys - k0 - 8 * half, 0, 8);
      // The eight rows of the next tile's half, one cache line ahead of
      // their use: eight streams at once are more than the hardware
      // prefetcher follows well.
      const int h_next = std::clamp(keys - k0 - kNr - 8 * half, 0, 8);
      const T* next = s + (k0 + kNr + 8 * half) * ld;
      for (int p = 0; p < d; p += 8) {
        const int w = std::min(8, d - p);
        if (p % (64 / sizeof(T)) == 0)
          for (int i = 0; i < h_next; ++i) _mm_prefetch(reinterpret_cast<const char*>(next + i * ld + p), _MM_HINT_T0);
        __m256 r[8];
        load_rows<T, 8>(s + (k0 + 8 * half) * ld, ld, h, p, w, r);
        transpose8x8(r);
        for (int j = 0; j < w; ++j) _mm256_storeu_ps(out + (p + j) * kNr + 8 * half, r[j]);
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
      _mm256_storeu_ps(o, load_upto8(row + c0, dv - c0));
      _mm256_storeu_ps(o + 8,
                       c0 + 8 < dv ? load_upto8(row + c0 + 8, dv - c0 - 8) : _mm256_setzero_ps());
    }
  }
}

template <class T>
void widen_rows(const void* src, std::int64_t ld, int rows, int cols, float* dst) {
  const T* s = static_cast<const T*>(src);
  for (int r = 0; r < rows; ++r, s += ld, dst += cols)
    for (int c = 0; c < cols; c += 8) store_upto8(dst + c, load_upto8(s + c, cols - c), cols - c);
}
// float only to name it in make_set<float>, which leaves widen_rows null.
template void widen_rows<float>(const void*, std::int64_t, int, int, float*);
template void widen_rows<Fp16>(const void*, std::int64_t, int, int, float*);
template void widen_rows<Bf16>(const void*, std::int64_t, int, int, float*);

#define ATTNRT_AVX2_PACKERS(T)                                         \
  template void pack_q<T>(const void*, std::int64_t, int, int, void*); \
  template void pack_k<T>(const void*, std::int64_t, int, int, void*); \
  template void pack_v<T>(const void*, std::int64_t, int, int, void*);
ATTNRT_AVX2_PACKERS(float)
ATTNRT_AVX2_PACKERS(Fp16)
ATTNRT_AVX2_PACKERS(Bf16)
#undef ATTNRT_AVX2_PACKERS

}  // namespace attnrt::kernels::avx2
