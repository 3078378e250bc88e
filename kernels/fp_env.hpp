// The floating-point environment every kernel runs in, whatever the thread
// that runs it had set: round to nearest, subnormals flushed to zero (in
// and out), exceptions masked. Flushing because subnormal P values are
// common (scores far below the row max, e.g. under ALiBi) and cost x86 and
// A64FX a microcode assist per operation (S2 with ALiBi ran 4x slower);
// what they would add is below 2^-126, under fp32's rounding of a row. The runtime holds it around
// each part of a call, on workers and on a caller that takes part alike, so
// that results do not depend on the caller's FP mode; a set's own mode
// (FpModeScope, e.g. SVE's FZ16) is entered on top of it.
#pragma once

#include <cstdint>

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace attnrt::kernels {

// Subnormals::kept: IEEE's default environment instead (round to nearest,
// exceptions masked, nothing flushed), where the cache writer's codes are
// those of the exact fp32 quotient, as documented.
enum class Subnormals { flushed, kept };

class DefaultFpEnvScope {
 public:
  explicit DefaultFpEnvScope(Subnormals s = Subnormals::flushed) : saved_(read()) {
    const std::uint64_t want = s == Subnormals::flushed ? kDefault : kIeee;
    if (mode_bits(saved_) != mode_bits(want)) write(want);
  }
  ~DefaultFpEnvScope() {
    if (mode_bits(read()) != mode_bits(saved_)) write(saved_);
  }
  DefaultFpEnvScope(const DefaultFpEnvScope&) = delete;
  DefaultFpEnvScope& operator=(const DefaultFpEnvScope&) = delete;

 private:
#if defined(__x86_64__)
  // MXCSR: all exceptions masked, round to nearest, FTZ (bit 15) and DAZ
  // (bit 6) on. The sticky flags (bits 0-5) are state, not mode: left as
  // they come.
  static constexpr std::uint64_t kDefault = 0x9fc0, kIeee = 0x1f80;
  static std::uint64_t mode_bits(std::uint64_t csr) { return csr & ~std::uint64_t{0x3f}; }
  static std::uint64_t read() { return _mm_getcsr(); }
  static void write(std::uint64_t csr) { _mm_setcsr(static_cast<unsigned>(csr)); }
#elif defined(__aarch64__)
  // FPCR: round to nearest, FZ (bit 24) on; FZ16, DN, AHP and trap
  // enables off.
  static constexpr std::uint64_t kDefault = std::uint64_t{1} << 24, kIeee = 0;
  static std::uint64_t mode_bits(std::uint64_t fpcr) { return fpcr; }
  static std::uint64_t read() {
    std::uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    return fpcr;
  }
  static void write(std::uint64_t fpcr) { __asm__ volatile("msr fpcr, %0" : : "r"(fpcr)); }
#else
  // Elsewhere the portable kernels run in the thread's environment.
  static constexpr std::uint64_t kDefault = 0, kIeee = 0;
  static std::uint64_t mode_bits(std::uint64_t) { return 0; }
  static std::uint64_t read() { return 0; }
  static void write(std::uint64_t) {}
#endif
  std::uint64_t saved_;
};

}  // namespace attnrt::kernels
