// The SVE kernel sets (see sets.hpp for what each holds).
#pragma once

#include "kernels/kernel_set.hpp"

namespace attnrt::kernels::sve {

// A64FX, 512-bit vectors fixed at compile time; require kFeatureSve512, so
// the runtime never picks them at another vector length.
//   "sve512":      fp32/bf16 8x3, fp16 12x2 (mixed; noepi with fast exp2)
//   "sve512_12x2": fp32/bf16 12x2, fp16 as "sve512"
extern const SetsByDtype kA64fxSets;
extern const SetsByDtype kA64fx12x2Sets;

// "sve": vector-length agnostic, tiles sized from the vector length read at
// first use. Null on a CPU without SVE (checked through HWCAP before any SVE
// instruction runs), so the registry can list it on every AArch64 CPU.
const KernelSet* vla_kernel_set(DType t);

}  // namespace attnrt::kernels::sve
