#include "runtime/src/split_kv.hpp"

#include <cmath>
#include <limits>

#include "kernels/convert.hpp"
#include "kernels/pipelines/exact_rows.hpp"
#include "kernels/weighted_row.hpp"
#include "scheduler/partition.hpp"
#include "scheduler/thread_scratch.hpp"

namespace attnrt::rt {
namespace {

constexpr std::size_t line_up(std::size_t x, std::size_t line) { return (x + line - 1) / line * line; }

}  // namespace

CallScratch::CallScratch(int workers, int parts_per_worker, int piece_rows, int dv, kernels::DType dtype) {
  const std::size_t parts = static_cast<std::size_t>(workers) * parts_per_worker;
  const std::size_t slots = 2 * parts;  // Partition::slots() at most
  state_bytes_ = line_up(scheduler::Partition::state_bytes(workers, parts_per_worker), kLine);
  const std::size_t pending_bytes = (parts + 1) * kLine;
  o_bytes_ = line_up(static_cast<std::size_t>(piece_rows) * dv * kernels::dtype_size(dtype), kLine);
  piece_bytes_ = o_bytes_ + line_up(piece_rows * sizeof(float), kLine);
  base_ = static_cast<char*>(scheduler::thread_scratch(state_bytes_ + pending_bytes + slots * piece_bytes_));
  pieces_ = base_ + state_bytes_ + pending_bytes;
}

void merge_partials(int rows, int dv, kernels::DType dtype,
                    scheduler::FunctionRef<void(scheduler::FunctionRef<void(const PartialRows&)>)> pieces,
                    scheduler::FunctionRef<double(int)> lse_shift, float sink, void* out, std::int64_t ld_out,
                    float* lse_out, std::int64_t ld_lse, scheduler::FunctionRef<void(int)> exact) {
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  const std::size_t esz = kernels::dtype_size(dtype);
  double acc[kernels::kMaxHeadDim];
  float row[kernels::kMaxHeadDim];  // a piece's row, then the merged row
  for (int r = 0; r < rows; ++r) {
    // In the pieces' frame (the ALiBi shift left out); the sink a logit with no value.
    const double shift = lse_shift(r), frame_sink = static_cast<double>(sink) - shift;
    double mx = frame_sink;
    bool nonfinite = false;
    pieces([&](const PartialRows& p) {
      mx = p.lse[r] > mx ? p.lse[r] : mx;
      kernels::load_row(static_cast<const char*>(p.o) + r * p.ldo * esz, dv, row, dtype);
      nonfinite |= std::isnan(p.lse[r]) || kernels::any_nonfinite(row, dv);
    });
    if (nonfinite) {
      exact(r);
      continue;
    }
    double sum = 0;
    for (int c = 0; c < dv; ++c) acc[c] = 0;
    if (mx != kNegInf) {
      if (frame_sink != kNegInf) sum = std::exp(frame_sink - mx);
      pieces([&](const PartialRows& p) {
        if (p.lse[r] == -std::numeric_limits<float>::infinity()) return;  // saw no key: holds zeros
        // The piece's row as fp32 first: the dtype is decided once per row,
        // and the weighted sum is a plain loop the compiler vectorizes.
        sum += kernels::add_weighted_row(acc, dv, static_cast<double>(p.lse[r]) - mx, [&] {
          kernels::load_row(static_cast<const char*>(p.o) + r * p.ldo * esz, dv, row, dtype);
          return row;
        });
      });
    }
    const float lse = mx == kNegInf ? -std::numeric_limits<float>::infinity()
                                    : static_cast<float>(mx + std::log(sum) + shift);
    const double inv = sum > 0 ? 1.0 / sum : 0.0;
    for (int c = 0; c < dv; ++c) row[c] = static_cast<float>(acc[c] * inv);
    kernels::store_row(row, dv, static_cast<char*>(out) + r * ld_out * esz, dtype);
    if (lse_out) lse_out[r * ld_lse] = lse;
  }
}

}  // namespace attnrt::rt
