// Every kernel set this build has, best first; the portable set is last and
// always present. A new ISA adds its folder and one line in registry.cpp.
#pragma once

#include <span>

#include "kernels/kernel_set.hpp"

namespace attnrt::kernels {

// Kernel sets for inputs of dtype t, in order of preference.
std::span<const KernelSet* const> kernel_sets(DType t);

}  // namespace attnrt::kernels
