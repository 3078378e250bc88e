// The avx2 kernel sets (AVX2 + FMA + F16C): fp32 compute for fp32, fp16 and
// bf16 inputs. This header has no intrinsics; any file may include it.
#pragma once

#include <cstdint>

#include "kernels/kernel_set.hpp"

namespace attnrt::kernels::avx2 {

// The sets for fp32, fp16 and bf16 inputs.
extern const SetsByDtype kSets;

// y[i] = exp2(x[i]) with the sets' vector exp2, for tests and benchmarks.
// Needs kFeatureX86V3.
void exp2_array(const float* x, float* y, std::int64_t n, Exp2Precision precision);

}  // namespace attnrt::kernels::avx2
