// Merging split-KV partials. When the scheduler splits a line's keys over
// several workers, each piece holds that line's O normalized over its own
// keys and the matching log-sum-exp. The full result weighs piece i by
// exp(lse_i - max lse). Pieces are always combined in key order, so the
// result does not depend on which worker finished first.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "kernels/kernel_set.hpp"
#include "scheduler/function_ref.hpp"

namespace attnrt::rt {

// One call's state, carved from the calling thread's scratch memory (a
// worker's arena workspace serves other callers' parts before this call's
// pieces are merged): the partition's state, a pending-piece count per split
// line, a cache line each so that workers finishing pieces do not contend,
// and each piece slot's partial O (the call's dtype, row stride dv) and LSE.
class CallScratch {
 public:
  CallScratch(int workers, int parts_per_worker, int piece_rows, int dv, kernels::DType dtype);
  void* partition_state() const { return base_; }
  std::atomic_ref<int> pending(int line) const {
    return std::atomic_ref<int>(*reinterpret_cast<int*>(base_ + state_bytes_ + line * kLine));
  }
  void* piece_o(int slot) const { return pieces_ + slot * piece_bytes_; }
  float* piece_lse(int slot) const { return reinterpret_cast<float*>(pieces_ + slot * piece_bytes_ + o_bytes_); }

 private:
  static constexpr std::size_t kLine = 64;
  std::size_t state_bytes_, o_bytes_, piece_bytes_;
  char* base_;
  char* pieces_;
};

// One piece of `rows` rows: O (dtype, row stride ldo) and LSE (stride 1).
struct PartialRows {
  const void* o;
  std::int64_t ldo;
  const float* lse;
};

// Writes rows [0, rows) of the merged O (dtype, row stride ld_out) and, if
// lse_out is not null, their LSE (stride ld_lse). `pieces` calls its argument
// once per piece, in merge order. A row no piece saw a key for gets O = 0
// and LSE = -inf (the sink, with one). lse_shift(r):
// what the pieces' LSE of row r leave out (kernels::HeadProblem::lse_unshifted),
// added to the merged LSE. sink: the rows' head's sink logit (natural units,
// -inf for none), joined here in double rather than in a piece: in a piece's
// unshifted frame it would sit a whole ALiBi shift away from the keys, where
// fp32 loses its low bits. A row with NaN or inf in any piece is not merged
// but left to exact(r), which computes it over all its keys: a piece weighs
// its keys against its own largest score, so whether an inf in V at a key
// of tiny weight counts (double's e^x underflowing, as the reference has
// it) would depend on where the pieces split the keys.
void merge_partials(int rows, int dv, kernels::DType dtype,
                    scheduler::FunctionRef<void(scheduler::FunctionRef<void(const PartialRows&)>)> pieces,
                    scheduler::FunctionRef<double(int)> lse_shift, float sink, void* out, std::int64_t ld_out,
                    float* lse_out, std::int64_t ld_lse, scheduler::FunctionRef<void(int)> exact);

}  // namespace attnrt::rt
