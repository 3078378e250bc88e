// FZ16 (FPCR bit 19: flush fp16 subnormals to zero) for the fp16 kernels,
// entered and left around a pipeline by FpModeScope (kernels/kernel_set.hpp).
// A64FX runs fp16 arithmetic on subnormals far slower than on normals.
#pragma once

#include <cstdint>

namespace attnrt::kernels::sve {

inline constexpr std::uint64_t kFpcrFz16 = std::uint64_t{1} << 19;

// Sets FZ16 on this thread; returns the FPCR to restore.
std::uint64_t fz16_enter();
// Restores the FPCR fz16_enter returned.
void fz16_leave(std::uint64_t saved);

}  // namespace attnrt::kernels::sve
