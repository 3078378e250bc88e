// Partial results merged through their log-sum-exp: O = sum_i e^(l_i - l) O_i
// with l = log sum_i e^(l_i), one partial at a time in the order the caller
// fixes, each merge's weights in double (kernels/weighted_row.hpp). A row
// no partial reaches stays 0 with LSE -inf.
#pragma once

#include <attnrt/attnrt.h>

#include <cstdint>
#include <vector>

namespace attnrt::mpi {

// Dense fp32 [B, H, rows, dv] output and [B, H, rows] LSE, the LSE in
// double: a partial's LSE may move by an ALiBi term as large as the
// sequence (slope x distance), where fp32's spacing would skew the weights.
class Accumulator {
 public:
  void reset(std::int64_t batch, std::int64_t heads, std::int64_t rows, std::int64_t dv);
  // Merges rows [r0, r0 + len) of batches [b0, b1) (-1: all) of a dense
  // [B, H, rows, dv] partial of dtype t (its LSE dense fp32 [B, H, rows]),
  // head h's LSE plus head_shift[h] when given (its ALiBi offset term).
  void merge(const void* o, attnrt_dtype t, const float* lse, std::int64_t r0, std::int64_t len,
             const double* head_shift = nullptr, std::int64_t b0 = 0, std::int64_t b1 = -1);
  // The same with a double LSE (another accumulator's).
  void merge(const void* o, attnrt_dtype t, const double* lse, std::int64_t r0, std::int64_t len);
  // Head h's sink logit (natural units, -inf: none) joins every row's
  // denominator and LSE, with no value: what the core does with params.sinks.
  void add_sinks(const float* sinks);
  // Writes the result into a strided view o (and lse, if not null).
  void write(const attnrt_tensor& o, const attnrt_tensor* lse) const;
  float* o() { return o_.data(); }
  double* lse() { return lse_.data(); }

 private:
  template <class LseOf>
  void merge_rows(const void* o, attnrt_dtype t, std::int64_t r0, std::int64_t len, std::int64_t b0, std::int64_t b1,
                  LseOf lse_of);

  std::int64_t b_ = 0, h_ = 0, rows_ = 0, dv_ = 0;
  std::vector<float> o_;
  std::vector<double> lse_;
  std::vector<float> part_;   // a partial's row as fp32
  std::vector<double> sum_;   // a merge's weighted row
};

}  // namespace attnrt::mpi
