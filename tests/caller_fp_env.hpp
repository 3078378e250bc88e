// A floating-point environment a caller may leave on its thread, set for a
// scope: how the tests check that no entry point's result depends on it
// (each holds a mode of its own; kernels/fp_env.hpp). Header-only, so any
// test (the scheduler's link no test support) may use it.
#pragma once

#include <cfenv>
#include <stdexcept>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace attnrt::test {

struct CallerFpMode {
  int rounding = FE_TONEAREST;  // FE_TONEAREST, FE_UPWARD, FE_DOWNWARD or FE_TOWARDZERO
  bool flush = false;           // subnormals flushed: x86's FTZ and DAZ, AArch64's FZ (elsewhere nothing)
  bool is_default() const { return rounding == FE_TONEAREST && !flush; }
};

class CallerFpEnv {
 public:
  explicit CallerFpEnv(CallerFpMode mode) : saved_rounding_(std::fegetround()), saved_control_(read_control()) {
    if (std::fesetround(mode.rounding) != 0) throw std::invalid_argument("CallerFpEnv: a rounding mode this CPU lacks");
    if (mode.flush) write_control(read_control() | kFlushBits);
  }
  ~CallerFpEnv() {
    write_control(saved_control_);
    std::fesetround(saved_rounding_);
  }
  CallerFpEnv(const CallerFpEnv&) = delete;
  CallerFpEnv& operator=(const CallerFpEnv&) = delete;

 private:
#if defined(__x86_64__)
  static constexpr unsigned long long kFlushBits = 0x8040;  // MXCSR FTZ (bit 15), DAZ (bit 6)
  static unsigned long long read_control() { return _mm_getcsr(); }
  static void write_control(unsigned long long v) { _mm_setcsr(static_cast<unsigned>(v)); }
#elif defined(__aarch64__)
  static constexpr unsigned long long kFlushBits = 1ull << 24;  // FPCR FZ
  static unsigned long long read_control() {
    unsigned long long v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    return v;
  }
  static void write_control(unsigned long long v) { __asm__ volatile("msr fpcr, %0" : : "r"(v)); }
#else
  static constexpr unsigned long long kFlushBits = 0;
  static unsigned long long read_control() { return 0; }
  static void write_control(unsigned long long) {}
#endif

  int saved_rounding_;
  unsigned long long saved_control_;  // MXCSR or FPCR, where the flush bits live
};

}  // namespace attnrt::test
