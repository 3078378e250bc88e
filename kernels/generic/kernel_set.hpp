#pragma once
#include "kernels/kernel_set.hpp"

namespace attnrt::kernels::generic {
// The portable set for inputs of dtype t (computes in fp32), compiled for the
// architecture's baseline ISA.
namespace baseline {
extern const SetsByDtype kSets;
}
// The same source compiled for x86-64-v3 (AVX2 + FMA); x86-64 builds only.
namespace x86_v3 {
extern const SetsByDtype kSets;
}
}  // namespace attnrt::kernels::generic
