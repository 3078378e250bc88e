// row[c] += step * (first + c): ALiBi's term over a strip row of scores,
// with integer key offsets so that near its peak it is exact to a rounding.
#pragma once

#include <cstdint>

namespace attnrt::kernels {

void add_ramp(float* row, int cols, std::int64_t first, float step);

}  // namespace attnrt::kernels
