// The pipelines' own loops over a row, built for the widest ISA the CPU has
// (AVX-512, AVX2, SVE; the pipelines themselves are built for the baseline).
#pragma once

#include <cstdint>

namespace attnrt::kernels {

// row[c] += step * (first + c): ALiBi's term over a strip row of scores,
// with integer key offsets so that near its peak it is exact to a rounding.
void add_ramp(float* row, int cols, std::int64_t first, float step);

// bank[c] = bank[c] * w + o[c], c < n: a row's fp32 sums into its double
// bank (strip.hpp).
void add_to_bank(double* bank, double w, const float* o, int n);
// o[c] = bank[c] * w + o[c] rounded to fp32, c < n: the bank back.
void add_from_bank(const double* bank, double w, float* o, int n);

}  // namespace attnrt::kernels
