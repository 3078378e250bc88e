// The correctness oracle: plain attention accumulated in double, with exactly
// the semantics attnrt documents (attnrt.h). Every kernel, pipeline and the
// public call are checked against it; attnrt-bench uses it on sampled rows.
#pragma once

#include <attnrt/attnrt.h>

#include <cstdint>
#include <vector>

namespace attnrt::test {

// The value of a 1-byte K/V code (int8, fp8 E4M3 or E5M2) before its scale,
// decoded from the format's definition (NaN for any other dtype).
double code_to_double(attnrt_dtype t, std::uint8_t c);

// Reads element [b, h, s, d] of a view as double (fp16/bf16 widened exactly;
// a quantized K/V element as its code's value, unscaled).
double load(const attnrt_tensor& t, std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d);

// Output row o[b, h, i, 0..Dv) and its log-sum-exp (natural log), computed
// in double. A row that sees no key gives zeros and -inf; NaN in anything a
// row sees makes that row NaN.
struct RefRow {
  std::vector<double> o;
  double lse;
};
RefRow reference_row(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                     const attnrt_params& p, std::int64_t b, std::int64_t h, std::int64_t i);

// Every row: o is dense [B, Hq, M, Dv], lse dense [B, Hq, M].
struct RefResult {
  std::vector<double> o, lse;
};
RefResult reference_forward(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                            const attnrt_params& p);

// Key interval [lo, hi) query i of a batch with key length n sees (the
// mask rule, stated once for the tests).
void visible_keys(const attnrt_params& p, std::int64_t m, std::int64_t n, std::int64_t i,
                  std::int64_t* lo, std::int64_t* hi);

}  // namespace attnrt::test
