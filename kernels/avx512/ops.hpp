// The pieces of the avx512 kernel sets, defined in this folder's .cpp files
// and put together in kernel_set.cpp (fp32 compute) and kernel_set_bf16.cpp
// (bf16 pairs for vdpbf16ps). Files of the fp32 sets are compiled with
// AVX-512 F/BW/DQ/VL (+ FMA, F16C); files of the bf16 set add AVX512_BF16.
// Helpers in this folder's headers have internal linkage (static), so no
// copy compiled with one file's flags can be picked by the linker for
// another's.
#pragma once

#include <cstdint>

#include "kernels/convert.hpp"
#include "kernels/kernel_set.hpp"
#include "kernels/x86/prefetch_to.hpp"

namespace attnrt::kernels::avx512 {

// Micro-tile: 14 rows x 2 vectors of 16 fp32: 28 accumulators of the 32
// zmm, two for the B row; A is broadcast straight from memory.
inline constexpr int kMr = 14;
inline constexpr int kNr = 32;
inline constexpr int kNv = 32;
// fp32 A panels (Q, P) are in blocks of 16 k-columns (kernel_set.hpp,
// a_block): one zmm row per block, so exp2_rows and pack_q store Q and P
// rows without a transpose. (The bf16 pair panels keep a_block = k_pack.)
inline constexpr int kABlock = 16;

// fp32 panels (pack.cpp), for float, Fp16 and Bf16 inputs: Q in [14][16]
// blocks (kABlock), K and V in rows of 32.
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
// place on 12x2 tiles of rows x keys, any number of rows (qk_direct.cpp):
// the sets' FewRowKernels::qk past one row, for float, Fp16, Bf16 and the
// codes (I8, E4m3, E5m2); rows ahead prefetched from `next` on past the
// call's rows, into L1 or (IntoL2, StreamParams::into_l2) only L2.
template <bool IntoL2, class T>
void qk_fp32_12x2_direct(int rows, int keys, int d, const float* q, std::int64_t ldq, const void* k,
                         std::int64_t ldk, float alpha, float* s, std::int64_t lds, RowsAfter next);

// O[r][0..dv) (+)= P·V for rows r < rows <= kMr, V rows (of T, widened as
// loaded) read whole and in place (pv_direct_rows.cpp): the sets'
// FewRowKernels::pv_rows, for float, Fp16, Bf16 and the codes; prefetching
// as P says (x86/few_rows.hpp; the tiles past one row into L1, or only L2
// with Prefetch::l2).
template <x86::Prefetch P, class T>
void pv_fp32_14x2_direct_rows(int rows, int kp, const void* a, const void* v, std::int64_t ldv, int dv,
                              float* o, std::int64_t ldo, bool accumulate, RowsAfter next);

// One row's Q·Kᵀ over int8 codes on AVX512_VNNI (int8_vnni.cpp, compiled
// with it): as the few-row qk above for rows == 1, K rows prefetched
// rows_ahead keys on as P says; or false, having written nothing, for a row
// it does not take (D > 256, q not finite, its largest |q| below 2^-100).
template <x86::Prefetch P>
bool qk_i8_row_vnni(int keys, int d, const float* q, const I8* k, std::int64_t ldk, float alpha, float* s,
                    int rows_ahead, RowsAfter next);

// The same on AMX-INT8 tiles (qk_row_i8_amx.cpp, compiled with it, where
// the compiler has it): rows it does not take go to qk_i8_row_vnni.
template <x86::Prefetch P>
bool qk_i8_row_amx(int keys, int d, const float* q, const I8* k, std::int64_t ldk, float alpha, float* s,
                   int rows_ahead, RowsAfter next);
// The same for 1 <= rows <= 16 query rows, in passes of up to five; or
// false, having written nothing, for rows it does not take (D not a
// multiple of 4 or above 256, a row the digits do not represent).
template <x86::Prefetch P>
bool qk_i8_rows_amx(int rows, int keys, int d, const float* q, std::int64_t ldq, const I8* k, std::int64_t ldk,
                    float alpha, float* s, std::int64_t lds, int rows_ahead, RowsAfter next);

// One row's Q·Kᵀ over bf16 K rows on AVX512_BF16 (qk_row_bf16.cpp,
// compiled with it): as the few-row qk above for rows == 1; or false,
// having written nothing, for a row it does not take (D > 256, an element
// of q not a bf16 value).
template <x86::Prefetch P>
bool qk_bf16_row_dot(int keys, int d, const float* q, const Bf16* k, std::int64_t ldk, float alpha, float* s,
                     int rows_ahead, RowsAfter next);

// Q·Kᵀ of 1 <= rows <= 16 rows over bf16 K rows on AMX-BF16 tiles
// (qk_rows_bf16_amx.cpp, compiled with it, where the compiler has it): as
// the few-row qk above; or false, having written nothing, for rows it does
// not take (more than 16, D odd or above 256, above 128 and not a multiple
// of 32, an element of q not a bf16 value).
template <x86::Prefetch P>
bool qk_bf16_rows_amx(int rows, int keys, int d, const float* q, std::int64_t ldq, const Bf16* k, std::int64_t ldk,
                      float alpha, float* s, std::int64_t lds, int rows_ahead, RowsAfter next);

// bf16 pair panels [k/2][w][2] (pack_bf16.cpp), bf16 inputs.
void pack_q_pairs(const void* src, std::int64_t ld, int rows, int d, void* dst);
void pack_k_pairs(const void* src, std::int64_t ld, int keys, int d, void* dst);
void pack_v_pairs(const void* src, std::int64_t ld, int keys, int dv, void* dst);
// The same panels with their depth padded to dp (even, >= d) or kp (even,
// >= keys) with zeros: the amx_bf16 set's B tiles take 16 pairs at a time.
void pack_k_pairs_to(const void* src, std::int64_t ld, int keys, int d, int dp, void* dst);
void pack_v_pairs_to(const void* src, std::int64_t ld, int keys, int dv, int kp, void* dst);

// Softmax pieces on a 14-row strip (softmax_rows.cpp, softmax_rows_bf16.cpp,
// normalize.cpp). exp2_rows writes an fp32 P panel, exp2_rows_pairs a bf16
// pair panel.
void row_max(const float* s, std::int64_t lds, int rows, int cols, float* mx);
void exp2_rows(const float* s, std::int64_t lds, int rows, int cols, const float* m, float* sum,
               void* p_panel, Exp2Precision precision);
void exp2_rows_pairs(const float* s, std::int64_t lds, int rows, int cols, const float* m,
                     float* sum, void* p_panel, Exp2Precision precision);
void rescale(float* o, std::int64_t ldo, int cols, const float* alpha);
// rescale for the amx_bf16 set's 32-row strips.
void rescale_32(float* o, std::int64_t ldo, int cols, const float* alpha);
bool normalize(const float* o, std::int64_t ldo, int rows, int cols, const float* inv_sum,
               void* out, std::int64_t ld_out, DType out_type);

}  // namespace attnrt::kernels::avx512
