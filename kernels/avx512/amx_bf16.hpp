// The amx_bf16 set's pieces (Sapphire Rapids and later: AMX-TILE and
// AMX-BF16), defined in gemm_amx_bf16.cpp and a_panels_amx_bf16.cpp and put
// together in kernel_set_amx_bf16.cpp. No intrinsics here.
//
// Tiles of 32 rows x 32 columns, k in steps of 32 (the set's k_pack, so no
// tile ever has a tail): A panels (Q, P) are row blocks [k/32][32][32] of
// bf16, row-major within a block, as an A tile loads 16 rows of 64 bytes;
// B panels (K, V) are the avx512_bf16 set's pairs [k/2][32][2], whose 16
// pair rows of 16 keys (or columns) are a B tile, 128 bytes apart.
#pragma once

#include <cstdint>

#include "kernels/kernel_set.hpp"

namespace attnrt::kernels::avx512 {

inline constexpr int kAmxTile = 32;  // mr = nr = nv = k_pack = a_block

// The tile configuration, loaded around a pipeline (KernelSet::
// fp_mode_enter/leave): every tile 16 rows of 64 bytes. Leaving releases
// the tiles (their state back to init, so Linux saves no tile data on a
// switch) unless the scope found them so configured; tile data a caller
// held on its thread in another configuration is lost.
std::uint64_t amx_bf16_tiles_enter();
void amx_bf16_tiles_leave(std::uint64_t);

// S[32 x 32] = alpha * A·B over dp; O[32 x 32] = A·B (init) or += A·B (acc)
// over kp. dp and kp are multiples of 32.
void qk_amx_bf16(int dp, const void* a, const void* b, float alpha, float* s, std::int64_t lds);
void pv_amx_bf16_init(int kp, const void* a, const void* b, float* o, std::int64_t ldo);
void pv_amx_bf16_acc(int kp, const void* a, const void* b, float* o, std::int64_t ldo);

// Q rows (bf16) into row-block A panels, zeros past rows and d.
void pack_q_row_blocks(const void* src, std::int64_t ld, int rows, int d, void* dst);
// P = exp2(S - m) rounded to bf16 into a row-block A panel (rows >= `rows`
// and columns past cols up to the next 32 are 0); sum[r] adds row r's
// rounded values, so what P·V weighs sums to what O is divided by.
void exp2_rows_row_blocks(const float* s, std::int64_t lds, int rows, int cols, const float* m, float* sum,
                          void* p_panel, Exp2Precision precision);

// The tiles' throughput loop (as throughput.hpp's): four chains of
// tdpbf16ps, each 16x16x32 multiply-adds, for attnrt-bench's peak of the
// set's arithmetic. Needs kFeatureAmxBf16.
float tile_dot_chains(std::int64_t iters);
inline constexpr double kTileDotChainsFlops = 4 * 2.0 * 16 * 16 * 32;

}  // namespace attnrt::kernels::avx512
