// The GEMM-only ceiling as a kernel set: a real set whose softmax does no
// work, so attnrt's own pipelines, plans and threads do a call's FLOPs with
// none of the softmax's. The pipelines know nothing of it: the set's row
// max does nothing (every max stays -inf, so no rescale ever runs), its
// "exp2" zeroes the P panel (O is then 0) and its normalize multiplies by
// 1. The caller turns softcap and bias off.
#pragma once

#include "kernels/kernel_set.hpp"

namespace attnrt::bench {

// The ceiling set of `base`: its tiles, packers and P·V (the accurate path;
// fast precision's P·V needs P in another type), with the softmax above.
// The kernels reach `base` through a pointer the last call set, so one
// ceiling set serves at a time per process (the bench times one at once).
const kernels::KernelSet& gemm_only_set(const kernels::KernelSet& base);

}  // namespace attnrt::bench
