#include "kernels/sve/fp_mode.hpp"

namespace attnrt::kernels::sve {

std::uint64_t fz16_enter() {
  std::uint64_t fpcr;
  __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
  if (!(fpcr & kFpcrFz16)) __asm__ volatile("msr fpcr, %0" : : "r"(fpcr | kFpcrFz16));
  return fpcr;
}

void fz16_leave(std::uint64_t saved) {
  std::uint64_t fpcr;
  __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
  if (fpcr != saved) __asm__ volatile("msr fpcr, %0" : : "r"(saved));
}

}  // namespace attnrt::kernels::sve
