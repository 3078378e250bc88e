// The pieces of the avx2 kernel sets, defined in this folder's .cpp files
// and put together in kernel_set.cpp. Every file here is compiled with
// -mavx2 -mfma -mf16c and nothing else is; helpers in this folder's headers
// have internal linkage (static) so that no copy compiled with these flags
// can be picked by the linker for code that runs on any CPU.
#pragma once

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

// Packers (pack.cpp), instantiated for float, Fp16 and Bf16 inputs.
template <class T>
void pack_q(const void* src, std::int64_t ld, int rows, int d, void* dst);
template <class T>
void pack_k(const void* src, std::int64_t ld, int keys, int d, void* dst);
template <class T>
void pack_v(const void* src, std::int64_t ld, int keys, int dv, void* dst);
// fp16/bf16 rows to dense fp32 rows (FewRowKernels::widen_rows), for Fp16 and Bf16.
template <class T>
void widen_rows(const void* src, std::int64_t ld, int rows, int cols, float* dst);

// Q·Kᵀ with Q rows (fp32) and K rows (of T, widened as loaded) read in
// place on 3x4 tiles, any number of rows (qk_direct.cpp): the sets'
// FewRowKernels::qk past kFewRowsMax rows, for float, Fp16 and Bf16.
template <class T>
void qk_fp32_3x4_direct(int rows, int keys, int d, const float* q, std::int64_t ldq, const void* k,
                        std::int64_t ldk, float alpha, float* s, std::int64_t lds, RowsAfter next);

// Softmax pieces on a 6-row strip (softmax_rows.cpp, normalize.cpp).
void row_max(const float* s, std::int64_t lds, int rows, int cols, float* mx);
void exp2_rows(const float* s, std::int64_t lds, int rows, int cols, const float* m, float* sum,
               void* p_panel, Exp2Precision precision);
void rescale(float* o, std::int64_t ldo, int cols, const float* alpha);
bool normalize(const float* o, std::int64_t ldo, int rows, int cols, const float* inv_sum,
               void* out, std::int64_t ld_out, DType out_type);

}  // namespace attnrt::kernels::avx2
