// The A operand of the avx512 micro-kernels' multiply-adds: one element (or
// bf16 pair) of the A panel, broadcast to all lanes in a register
// (vbroadcastss / vpbroadcastd zmm, m32, a load-port operation on Intel
// cores) and used by the row's two multiply-adds.
//
// The broadcast folded into each FMA's memory operand (vfmadd231ps zmm, zmm,
// m32{1to16}) halves the GEMM's throughput on Ice Lake-SP: the 14x32 fp32
// kernel ran at 50% of the FMA peak in L1 that way and at 89-91% with the
// register broadcast (measured on this project's Xeon, model 106; llvm-mca
// had modelled both forms alike on Intel). GCC folds a _mm512_set1_ps of a
// load into the FMAs that use it, so the broadcast is pinned to a register.
#pragma once

#include "kernels/avx512/intrinsics.hpp"

#include <cstdint>

namespace attnrt::kernels::avx512 {

// v, pinned to a register: GCC folds a load that several FMAs use into each
// of them (a memory operand each time), turning one load into several.
static inline __m512 in_register(__m512 v) {
#if defined(__GNUC__) && !defined(ATTNRT_AVX512_SIMDE)
  __asm__("" : "+v"(v));
#endif
  return v;
}

static inline __m256 in_register(__m256 v) {
#if defined(__GNUC__) && !defined(ATTNRT_AVX512_SIMDE)
  __asm__("" : "+v"(v));
#endif
  return v;
}
static inline __m512i in_register(__m512i v) {
#if defined(__GNUC__) && !defined(ATTNRT_AVX512_SIMDE)
  __asm__("" : "+v"(v));
#endif
  return v;
}

// The float at a in all 16 lanes.
static inline __m512 broadcast(const float* a) { return in_register(_mm512_set1_ps(*a)); }

// The 32 bits at a (a bf16 pair) in all 16 lanes.
static inline __m512i broadcast(const std::uint32_t* a) {
  return in_register(_mm512_set1_epi32(static_cast<int>(*a)));
}

}  // namespace attnrt::kernels::avx512
