// The SVE FMA throughput loop, in its own file so that only it is compiled
// with SVE enabled (the bench must start on any AArch64 CPU).
#pragma once

#include <cstdint>

namespace attnrt::bench {

#if defined(ATTNRT_BENCH_HAVE_SVE_PEAK)
inline constexpr int kChainsSve = 24;  // A64FX: 2 pipes x latency 9 needs 18
float fma_sve(std::int64_t iters);     // kChainsSve chains of full SVE vectors
int sve_fp32_lanes();                  // fp32 lanes in one SVE vector (svcntw)
#endif

}  // namespace attnrt::bench
