// What one core is told about one (batch, query head): pointers, strides and
// the softmax parameters, already resolved by the runtime. Kernels and
// pipelines see nothing else: no threads, no allocation, no NUMA.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/kernel_set.hpp"

namespace attnrt::kernels {

struct HeadProblem {
  DType dtype;                // of Q, K, V and O
  int m;                      // query rows
  int n;                      // keys visible to this batch (its key length)
  int d, dv;                  // head dims of Q/K and of V/O
  const void* q; std::int64_t ldq;  // row strides, in elements
  const void* k; std::int64_t ldk;
  const void* v; std::int64_t ldv;
  void* o; std::int64_t ldo;
  float* lse;                 // null or [m] with stride ldlse, natural log; -inf for empty rows
  std::int64_t ldlse;
  const float* bias;          // null or [m x n_total] fp32, row stride ldbias
  std::int64_t ldbias;
  float scale;                // multiplies Q·Kᵀ
  float softcap;              // 0 = off
  // Query i sees keys j with lo(i) <= j < hi(i), the intersection of
  // [0, n) and the band [i + diag - left, i + diag + right]; left/right < 0
  // mean unbounded on that side. Causal is right = 0.
  std::int64_t diag, left, right;
  Exp2Precision precision;

  std::int64_t key_lo(std::int64_t i) const {
    return left < 0 ? 0 : std::clamp<std::int64_t>(i + diag - left, 0, n);
  }
  std::int64_t key_hi(std::int64_t i) const {
    return right < 0 ? n : std::clamp<std::int64_t>(i + diag + right + 1, 0, n);
  }
};

// A work item's slice of one head: query rows [row_begin, row_end) against
// keys [key_begin, key_end). A key range narrower than [0, n) is a split-KV
// part whose O and LSE are merged later through their log-sum-exp.
struct Tile {
  int row_begin, row_end;
  int key_begin, key_end;
};

// Scratch a pipeline may use, handed in by the scheduler; 64-byte aligned.
struct Workspace {
  void* data;
  std::size_t bytes;
};

}  // namespace attnrt::kernels
