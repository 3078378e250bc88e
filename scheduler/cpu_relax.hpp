// A spin-wait's pause: frees the core's shared resources to its sibling
// hyperthread and slows the loop's polling of a contended line.
#pragma once

namespace attnrt::scheduler {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace attnrt::scheduler
