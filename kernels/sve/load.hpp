// Loading rows of the user's dtype as fp32 vectors (fp16 and bf16 widen
// exactly), contiguous or gathered.
#pragma once

#include <cstdint>

#include "kernels/convert.hpp"
#include "kernels/sve/flavor.hpp"

namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR {

// Lanes of pg from p[0..): 0 elsewhere (zeroing loads; bf16 shifts every
// lane, and 0 << 16 stays 0).
template <class T>
inline svfloat32_t load_f32(svbool_t pg, const T* p);
template <>
inline svfloat32_t load_f32<float>(svbool_t pg, const float* p) {
  return svld1(pg, p);
}
template <>
inline svfloat32_t load_f32<Fp16>(svbool_t pg, const Fp16* p) {
  // ld1h into 32-bit lanes puts each half in the low half, which FCVT reads.
  const svuint32_t h = svld1uh_u32(pg, reinterpret_cast<const std::uint16_t*>(p));
  return svcvt_f32_z(pg, svreinterpret_f16(h));
}
template <>
inline svfloat32_t load_f32<Bf16>(svbool_t pg, const Bf16* p) {
  const svuint32_t h = svld1uh_u32(pg, reinterpret_cast<const std::uint16_t*>(p));
  return svreinterpret_f32(svlsl_x(svptrue_b32(), h, 16u));
}
// fp8 through fp16, whose conversion is exact for every code: an E5M2 code
// is the top byte of the fp16 of its value; an E4M3 code's 7 magnitude
// bits shifted into fp16's exponent and mantissa give its value / 2^8, and
// S.1111.111 is NaN. (FCVT reads each 32-bit lane's low half, as for Fp16.)
template <>
inline svfloat32_t load_f32<E5m2>(svbool_t pg, const E5m2* p) {
  const svuint32_t c = svld1ub_u32(pg, reinterpret_cast<const std::uint8_t*>(p));
  return svcvt_f32_z(pg, svreinterpret_f16(svlsl_x(pg, c, 8u)));
}
template <>
inline svfloat32_t load_f32<E4m3>(svbool_t pg, const E4m3* p) {
  // Sign-extended, a code's bit 7 fills the lane's upper bits: shifted left
  // by 7 and all but bits 15 and 13..7 cleared, S.EEEE.MMM is fp16's sign,
  // its exponent's low four bits and its mantissa's top three; NaN
  // (S.1111.111) set to all ones, an fp16 NaN (x86/convert.hpp's load8).
  const svint32_t c = svld1sb_s32(pg, reinterpret_cast<const std::int8_t*>(p));
  const svuint32_t h = svand_x(pg, svreinterpret_u32(svlsl_x(pg, c, 7u)), 0xbf80u);
  const svbool_t nan = svcmpeq(pg, svand_x(pg, h, 0x3f80u), 0x3f80u);
  const svuint32_t fp16 = svorr_m(nan, h, 0xffffu);
  return svmul_z(pg, svcvt_f32_z(pg, svreinterpret_f16(fp16)), 256.0f);
}
template <>
inline svfloat32_t load_f32<I8>(svbool_t pg, const I8* p) {
  // ld1sb sign-extends each code into its 32-bit lane; SCVTF is exact.
  const svint32_t c = svld1sb_s32(pg, reinterpret_cast<const std::int8_t*>(p));
  return svcvt_f32_z(pg, c);
}

// Lanes of pg from p[idx[i]] (idx in elements).
template <class T>
inline svfloat32_t gather_f32(svbool_t pg, const T* p, svint32_t idx);
template <>
inline svfloat32_t gather_f32<float>(svbool_t pg, const float* p, svint32_t idx) {
  return svld1_gather_index(pg, p, idx);
}
template <>
inline svfloat32_t gather_f32<Fp16>(svbool_t pg, const Fp16* p, svint32_t idx) {
  const svuint32_t h = svld1uh_gather_s32index_u32(pg, reinterpret_cast<const std::uint16_t*>(p), idx);
  return svcvt_f32_z(pg, svreinterpret_f16(h));
}
template <>
inline svfloat32_t gather_f32<Bf16>(svbool_t pg, const Bf16* p, svint32_t idx) {
  const svuint32_t h = svld1uh_gather_s32index_u32(pg, reinterpret_cast<const std::uint16_t*>(p), idx);
  return svreinterpret_f32(svlsl_x(svptrue_b32(), h, 16u));
}

// How far ahead the direct kernels prefetch K and V rows is a stream
// setting of the CPU's row of kernels/tuning.hpp (StreamParams::bytes_ahead).
inline constexpr int kLineBytes = 256;

// Prefetches the `bytes` bytes at p, a line at a time.
[[gnu::always_inline]] inline void prefetch_bytes(const void* p, int bytes) {
  for (int b = 0; b < bytes; b += kLineBytes) __builtin_prefetch(static_cast<const char*>(p) + b, 0, 3);
}

}  // namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR
