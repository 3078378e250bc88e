// row[c] += first + step * c: ALiBi's term over a strip row of scores.
#pragma once

namespace attnrt::kernels {

void add_ramp(float* row, int cols, float first, float step);

}  // namespace attnrt::kernels
