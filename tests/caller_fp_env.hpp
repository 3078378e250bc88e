// A floating-point environment a caller may leave on its thread, set for a
// scope: how the tests check that no entry point's result depends on it
// (each holds a mode of its own; kernels/fp_env.hpp).
#pragma once

#include <cfenv>

namespace attnrt::test {

struct CallerFpMode {
  int rounding = FE_TONEAREST;  // FE_TONEAREST, FE_UPWARD, FE_DOWNWARD or FE_TOWARDZERO
  bool flush = false;           // subnormals flushed: x86's FTZ and DAZ, AArch64's FZ (elsewhere nothing)
  bool is_default() const { return rounding == FE_TONEAREST && !flush; }
};

class CallerFpEnv {
 public:
  explicit CallerFpEnv(CallerFpMode mode);
  ~CallerFpEnv();
  CallerFpEnv(const CallerFpEnv&) = delete;
  CallerFpEnv& operator=(const CallerFpEnv&) = delete;

 private:
  int saved_rounding_;
  unsigned long long saved_control_;  // MXCSR or FPCR, where the flush bits live
};

}  // namespace attnrt::test
