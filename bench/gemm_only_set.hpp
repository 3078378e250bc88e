// The GEMM-only ceiling as a kernel set: a real set whose softmax is made
// the identity, so attnrt's own pipelines, plans and threads compute
// O = mask(Q·Kᵀ·scale)·V unnormalized and do a call's FLOPs with none of the
// softmax's. The pipelines know nothing of it: the set's row max does
// nothing (every max stays -inf, so no rescale ever runs), its "exp2" copies
// S into an fp32 P panel with masked keys (-inf) as 0 (a 16-bit P panel is
// zeroed: O is then 0), and its normalize multiplies by 1. The caller turns
// softcap and bias off.
#pragma once

#include "kernels/kernel_set.hpp"

namespace attnrt::bench {

// The ceiling set of `base`: its tiles, packers and P·V (the accurate path;
// fast precision's P·V needs P in another type), with the softmax above.
// The kernels reach `base` through a pointer the last call set, so one
// ceiling set serves at a time per process (the bench times one at once).
const kernels::KernelSet& gemm_only_set(const kernels::KernelSet& base);

}  // namespace attnrt::bench
