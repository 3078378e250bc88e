// Partial results merged through their log-sum-exp: O = sum_i e^(l_i - l) O_i
// with l = log sum_i e^(l_i), one partial at a time in the order the caller
// fixes, each merge's weights in double (kernels/weighted_row.hpp). A row
// no partial reaches stays 0 with LSE -inf.
#pragma once

#include <attnrt/attnrt.h>

#include <cstdint>
#include <vector>

namespace attnrt::mpi {

// Dense fp32 [B, H, rows, dv] output and [B, H, rows] LSE.
class Accumulator {
 public:
  void reset(std::int64_t batch, std::int64_t heads, std::int64_t rows, std::int64_t dv);
  // Merges rows [r0, r0 + len) of a dense [B, H, rows, dv] partial of dtype t
  // (its LSE dense fp32 [B, H, rows]).
  void merge(const void* o, attnrt_dtype t, const float* lse, std::int64_t r0, std::int64_t len);
  // Writes the result into a strided view o (and lse, if not null).
  void write(const attnrt_tensor& o, const attnrt_tensor* lse) const;
  float* o() { return o_.data(); }
  float* lse() { return lse_.data(); }

 private:
  std::int64_t b_ = 0, h_ = 0, rows_ = 0, dv_ = 0;
  std::vector<float> o_, lse_;
  std::vector<float> part_;   // a partial's row as fp32
  std::vector<double> sum_;   // a merge's weighted row
};

}  // namespace attnrt::mpi
