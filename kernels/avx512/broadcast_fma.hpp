// acc += b * (the 32-bit element at a, broadcast): the multiply-adds of the
// avx512 micro-kernels, with the broadcast folded into the instruction's
// memory operand (m32{1to16}). Compilers keep a broadcast used by two FMAs
// in a register (vbroadcastss zmm, m32 + two register FMAs); on Zen 4 that
// broadcast also takes an FP pipe slot (llvm-mca's znver4 model: 42 instead
// of 28 cycles per 28 FMAs), while the folded form is a plain load there and
// costs the same as the register form on Intel cores. Hence inline assembly.
// The emulated test build uses the intrinsics instead.
#pragma once

#include "kernels/avx512/intrinsics.hpp"

#include <bit>
#include <cstdint>

namespace attnrt::kernels::avx512 {

static inline __m512 fmadd_bcast(__m512 acc, __m512 b, const float* a) {
#if defined(__GNUC__) && !defined(ATTNRT_AVX512_SIMDE)
  __asm__("vfmadd231ps %[a]%{1to16%}, %[b], %[acc]" : [acc] "+v"(acc) : [b] "v"(b), [a] "m"(*a));
  return acc;
#else
  return _mm512_fmadd_ps(_mm512_set1_ps(*a), b, acc);
#endif
}

// v, pinned to a register: GCC folds a load that several FMAs use into each
// of them (a memory operand each time), turning one load into several.
static inline __m512 in_register(__m512 v) {
#if defined(__GNUC__) && !defined(ATTNRT_AVX512_SIMDE)
  __asm__("" : "+v"(v));
#endif
  return v;
}

// acc[j] += b.pair[j] . (the bf16 pair at a), j < 16.
static inline __m512 dpbf16_bcast(__m512 acc, __m512bh b, const std::uint32_t* a) {
#if defined(__GNUC__) && !defined(ATTNRT_AVX512_SIMDE)
  __asm__("vdpbf16ps %[a]%{1to16%}, %[b], %[acc]" : [acc] "+v"(acc) : [b] "v"(b), [a] "m"(*a));
  return acc;
#else
  return _mm512_dpbf16_ps(acc, std::bit_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(*a))), b);
#endif
}

}  // namespace attnrt::kernels::avx512
