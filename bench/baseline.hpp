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

// Runs this program again (argv as given) with OPENBLAS_CORETYPE naming the
// widest kernels the CPU runs, where OpenBLAS fell back to its generic
// x86-64 core on a CPU it does not know (OpenBLAS 0.3.21 on a Xeon of
// model 207: sgemm 3x slower than its AVX-512 kernels). Returns when
// nothing is to be done: OPENBLAS_CORETYPE already set, OpenBLAS's own
// choice kept, or the program could not be run again.
void give_openblas_its_kernels(char** argv);

}  // namespace attnrt::bench
