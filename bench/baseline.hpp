// The baseline attnrt is compared with, run in the same process on the same
// inputs and threads: the materialized computation a user would write with
// a BLAS. Per (batch, head): S = Q·Kᵀ, scale, mask and softmax in plain C++,
// O = P·V.
#pragma once

#include <attnrt/attnrt.h>

#include <memory>
#include <string>

#include "bench/workload.hpp"

namespace attnrt::bench {

class Baseline {
 public:
  virtual ~Baseline() = default;
  virtual void run() = 0;                       // the timed part
  virtual attnrt_tensor output() const = 0;     // fp32 O [B, Hq, M, Dv] of the last run
};

// Prepares the baseline for w on `threads` workers: inputs converted to fp32
// and scratch allocated here, outside the timed run(). nullptr when this
// build has no baseline.
std::unique_ptr<Baseline> make_baseline(const Workload& w, int threads);

// What the baseline is ("OpenBLAS 0.3.21 ... sgemm, ..."), or why there is none.
std::string baseline_description();

}  // namespace attnrt::bench
