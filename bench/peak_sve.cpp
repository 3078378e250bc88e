// Compiled with SVE enabled; called only where HWCAP says the CPU has SVE.
#include "bench/peak_sve.hpp"

#include <arm_sve.h>

namespace attnrt::bench {

// Sizeless SVE types cannot live in arrays, so the chains are spelled out.
#define ATTNRT_SVE_CHAINS(X) \
  X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) \
  X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)

#define ATTNRT_COUNT(c) +1
static_assert(0 ATTNRT_SVE_CHAINS(ATTNRT_COUNT) == kChainsSve, "one chain per kChainsSve");
#undef ATTNRT_COUNT

float fma_sve(std::int64_t iters) {
  const svbool_t all = svptrue_b32();
  const svfloat32_t a = svdup_f32(0.999999f), b = svdup_f32(1e-6f);
#define ATTNRT_INIT(c) svfloat32_t acc##c = svdup_f32(static_cast<float>(c));
  ATTNRT_SVE_CHAINS(ATTNRT_INIT)
  for (std::int64_t i = 0; i < iters; ++i) {
#define ATTNRT_STEP(c) acc##c = svmad_f32_x(all, acc##c, a, b);
    ATTNRT_SVE_CHAINS(ATTNRT_STEP)
  }
  svfloat32_t sum = svdup_f32(0.0f);
#define ATTNRT_SUM(c) sum = svadd_f32_x(all, sum, acc##c);
  ATTNRT_SVE_CHAINS(ATTNRT_SUM)
#undef ATTNRT_INIT
#undef ATTNRT_STEP
#undef ATTNRT_SUM
  return svaddv_f32(all, sum);
}

int sve_fp32_lanes() { return static_cast<int>(svcntw()); }

}  // namespace attnrt::bench
