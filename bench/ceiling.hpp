// The GEMM-only ceiling of a call: attnrt's own pipeline, plan and threads
// with the softmax replaced by identity (gemm_only_set.hpp), so
// O = mask(Q·Kᵀ·scale)·V, unnormalized. It does the call's FLOPs, so
// 1 - attnrt/ceiling GFLOP/s is what the softmax and its bookkeeping cost.
// It is not attention and is not checked against the reference; it writes
// its own O, NaN until written, and finite_output() shows that it ran.
#pragma once

#include <attnrt/attnrt.h>

#include "bench/engine.hpp"
#include "bench/workload.hpp"
#include "runtime/internal/attnrt_internal.hpp"

namespace attnrt::bench {

class Ceiling {
 public:
  // `plan` is the call's plan; the ceiling runs it on the GEMM-only set of
  // its kernel set, without softcap or bias.
  Ceiling(Engine& engine, const Workload& w, const attnrt_params& p, const rt::Plan& plan);

  void run();  // the timed part
  // Every element of the last run's O is finite (a row it skipped stays NaN).
  // Inputs in [-1, 1] keep unnormalized sums far from fp16's range.
  bool finite_output() const;

 private:
  Engine& engine_;
  const Workload& w_;
  attnrt_params params_;
  rt::Plan plan_;
  Buffer ob_;
  Tensor o_;
};

}  // namespace attnrt::bench
