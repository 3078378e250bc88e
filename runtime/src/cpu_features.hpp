// What this CPU and OS can run, detected once (cpuid and XSAVE state on
// x86-64, HWCAP and the SVE vector length on AArch64).
#pragma once

#include <cstdint>
#include <string>

namespace attnrt::rt {

struct CpuFeatures {
  std::uint32_t bits = 0;  // kernels::CpuFeature
  int sve_bits = 0;        // SVE vector length, 0 without SVE
  std::string describe() const;
};

const CpuFeatures& cpu_features();

}  // namespace attnrt::rt
