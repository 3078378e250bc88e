#include "tests/caller_fp_env.hpp"

#include <stdexcept>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace attnrt::test {
namespace {

#if defined(__x86_64__)
constexpr unsigned long long kFlushBits = 0x8040;  // MXCSR FTZ (bit 15), DAZ (bit 6)
unsigned long long read_control() { return _mm_getcsr(); }
void write_control(unsigned long long v) { _mm_setcsr(static_cast<unsigned>(v)); }
#elif defined(__aarch64__)
constexpr unsigned long long kFlushBits = 1ull << 24;  // FPCR FZ
unsigned long long read_control() {
  unsigned long long v;
  __asm__ volatile("mrs %0, fpcr" : "=r"(v));
  return v;
}
void write_control(unsigned long long v) { __asm__ volatile("msr fpcr, %0" : : "r"(v)); }
#else
constexpr unsigned long long kFlushBits = 0;
unsigned long long read_control() { return 0; }
void write_control(unsigned long long) {}
#endif

}  // namespace

CallerFpEnv::CallerFpEnv(CallerFpMode mode) : saved_rounding_(std::fegetround()), saved_control_(read_control()) {
  if (std::fesetround(mode.rounding) != 0) throw std::invalid_argument("CallerFpEnv: a rounding mode this CPU lacks");
  if (mode.flush) write_control(read_control() | kFlushBits);
}

CallerFpEnv::~CallerFpEnv() {
  write_control(saved_control_);
  std::fesetround(saved_rounding_);
}

}  // namespace attnrt::test
