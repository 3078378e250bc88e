#pragma once
#include "kernels/kernel_set.hpp"

namespace attnrt::kernels::generic {
// The portable set for inputs of dtype t (computes in fp32).
const KernelSet* kernel_set(DType t);
}  // namespace attnrt::kernels::generic
