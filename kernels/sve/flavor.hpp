// Which of the two SVE builds this translation unit is. The same sources are
// compiled twice: for A64FX with the vector length fixed at 512 bits
// (-msve-vector-bits=512), and vector-length agnostic for any other SVE CPU.
// Every name in kernels/sve lives in a namespace named after the build, so the
// two builds of one template never meet at link time (same source, different
// code: the 512-bit one must never run at another vector length).
#pragma once

#include <arm_sve.h>

#include <cstdint>

#if defined(__ARM_FEATURE_SVE_BITS) && __ARM_FEATURE_SVE_BITS == 512
#define ATTNRT_SVE_FLAVOR a64fx
#define ATTNRT_SVE_A64FX 1
#elif defined(__ARM_FEATURE_SVE_BITS) && __ARM_FEATURE_SVE_BITS != 0
#error "kernels/sve is built either for 512-bit vectors (A64FX) or vector-length agnostic"
#else
#define ATTNRT_SVE_FLAVOR vla
#define ATTNRT_SVE_A64FX 0
#endif

// Markers around one iteration of an inner loop, for bench/mca (which builds
// one kernel per translation unit with ATTNRT_MCA_MARKERS); empty otherwise.
#if defined(ATTNRT_MCA_MARKERS)
#define ATTNRT_MCA_BEGIN() __asm__ volatile("# LLVM-MCA-BEGIN")
#define ATTNRT_MCA_END() __asm__ volatile("# LLVM-MCA-END")
#else
#define ATTNRT_MCA_BEGIN() ((void)0)
#define ATTNRT_MCA_END() ((void)0)
#endif

namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR {

// fp32 lanes of a vector: a constant 16 on A64FX, read at run time otherwise.
inline int lanes32() {
#if ATTNRT_SVE_A64FX
  return 16;
#else
  return static_cast<int>(svcntw());
#endif
}

// Whether a kernel may re-touch its A panel while a large B tile streams
// through L1 (tuned for A64FX's 64 KiB, 4-way L1D with 256-byte lines).
inline constexpr bool kRetouchA = ATTNRT_SVE_A64FX;
inline constexpr std::int64_t kRetouchAboveBytes = 32 * 1024;

}  // namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR
