// The pieces of the avx2 kernel sets, defined in this folder's .cpp files
// and put together in kernel_set.cpp. Every file here is compiled with
// -mavx2 -mfma -mf16c and nothing else is; helpers in this folder's headers
// have internal linkage (static) so that no copy compiled with these flags
// can be picked by the linker for code that runs on any CPU.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/kernel_set.hpp"

namespace attnrt::kernels::avx2 {

// Micro-tile: 6 rows x 2 vectors of 8 fp32 (12 accumulators of the 16 ymm).
inline constexpr int kMr = 6;
inline constexpr int kNr = 16;
inline constexpr int kNv = 16;
// A panels (Q, P) are in blocks of 8 k-columns (kernel_set.hpp, a_block):
// one ymm row per block, so Q and P rows are stored without a transpose.
inline constexpr int kABlock = 8;

// Lane mask with lanes [0, n) set, n in [0, 8].
static inline __m256i first_lanes(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The first n (<= 8) lanes of v stored at p; nothing past them is written.
static inline void store_upto8(float* p, __m256 v, int n) {
  if (n >= 8)
    _mm256_storeu_ps(p, v);
  else
    _mm256_maskstore_ps(p, first_lanes(n), v);
}

// Packers (pack.cpp), instantiated for float, Fp16 and Bf16 inputs.
template <class T>
void pack_q(const void* src, std::int64_t ld, int rows, int d, void* dst);
template <class T>
void pack_k(const void* src, std::int64_t ld, int keys, int d, void* dst);
template <class T>
void pack_v(const void* src, std::int64_t ld, int keys, int dv, void* dst);

// Softmax pieces on a 6-row strip (softmax_rows.cpp, normalize.cpp).
void row_max(const float* s, std::int64_t lds, int cols, float* mx);
void exp2_rows(const float* s, std::int64_t lds, int cols, const float* m, float* sum,
               void* p_panel, Exp2Precision precision);
void rescale(float* o, std::int64_t ldo, int cols, const float* alpha);
void normalize(const float* o, std::int64_t ldo, int rows, int cols, const float* inv_sum,
               void* out, std::int64_t ld_out, DType out_type);

}  // namespace attnrt::kernels::avx2
