#pragma once
#include "kernels/kernel_set.hpp"

namespace attnrt::kernels::generic {
// The portable set for inputs of dtype t (computes in fp32), compiled for the
// architecture's baseline ISA.
namespace baseline {
const KernelSet* kernel_set(DType t);
}
// The same source compiled for x86-64-v3 (AVX2 + FMA); x86-64 builds only.
namespace x86_v3 {
const KernelSet* kernel_set(DType t);
}
}  // namespace attnrt::kernels::generic
