#include "mpi/src/merge.hpp"

#include <cmath>
#include <limits>

#include "kernels/convert.hpp"
#include "kernels/weighted_row.hpp"

namespace attnrt::mpi {

namespace {
constexpr double kNone = -std::numeric_limits<double>::infinity();

// The core's dtype of a Q/O view (the same values; check.cpp refuses the
// quantized ones here).
kernels::DType dtype_of(attnrt_dtype t) { return static_cast<kernels::DType>(t); }
}  // namespace

void Accumulator::reset(std::int64_t batch, std::int64_t heads, std::int64_t rows, std::int64_t dv) {
  b_ = batch, h_ = heads, rows_ = rows, dv_ = dv;
  o_.assign(static_cast<std::size_t>(batch * heads * rows * dv), 0.0f);
  lse_.assign(static_cast<std::size_t>(batch * heads * rows), kNone);
  part_.resize(static_cast<std::size_t>(dv));
  sum_.resize(static_cast<std::size_t>(dv));
}

template <class LseOf>
void Accumulator::merge_rows(const void* o, attnrt_dtype t, std::int64_t r0, std::int64_t len, std::int64_t b0,
                             std::int64_t b1, LseOf lse_of) {
  const int n = static_cast<int>(dv_);
  for (std::int64_t bh = b0 * h_; bh < (b1 < 0 ? b_ : b1) * h_; ++bh)
    for (std::int64_t r = r0; r < r0 + len; ++r) {
      const std::int64_t row = bh * rows_ + r;
      const double lp = lse_of(row, bh % h_);
      if (lp == kNone) continue;  // saw no key: adds nothing
      double& la = lse_[row];
      float* acc = &o_[row * dv_];
      const void* src = static_cast<const char*>(o) + row * dv_ * kernels::dtype_size(dtype_of(t));
      if (la == kNone) {  // the first partial of this row: taken as it is
        kernels::load_row(src, n, acc, dtype_of(t));
        la = lp;
        continue;
      }
      kernels::load_row(src, n, part_.data(), dtype_of(t));
      // The larger LSE's row weighs 1, the other e^(its LSE - the larger),
      // in double as the core's split-KV merge weighs (a weight fp32 makes
      // 0 would turn an inf of that row into NaN).
      const bool acc_larger = la >= lp;
      const float* big = acc_larger ? acc : part_.data();
      const float* small = acc_larger ? part_.data() : acc;
      for (int d = 0; d < n; ++d) sum_[d] = big[d];
      const double w = kernels::add_weighted_row(sum_.data(), n, acc_larger ? lp - la : la - lp, [&] { return small; });
      for (int d = 0; d < n; ++d) acc[d] = static_cast<float>(sum_[d] / (1.0 + w));
      la = (acc_larger ? la : lp) + std::log1p(w);
    }
}

void Accumulator::merge(const void* o, attnrt_dtype t, const float* lse, std::int64_t r0, std::int64_t len,
                        const double* head_shift, std::int64_t b0, std::int64_t b1) {
  merge_rows(o, t, r0, len, b0, b1, [&](std::int64_t row, std::int64_t h) {
    const double l = lse[row];
    return head_shift && l != kNone ? l + head_shift[h] : l;
  });
}

void Accumulator::merge(const void* o, attnrt_dtype t, const double* lse, std::int64_t r0, std::int64_t len) {
  merge_rows(o, t, r0, len, 0, -1, [&](std::int64_t row, std::int64_t) { return lse[row]; });
}

void Accumulator::add_sinks(const float* sinks) {
  for (std::int64_t bh = 0; bh < b_ * h_; ++bh) {
    const double s = sinks[bh % h_];
    if (s == kNone) continue;
    for (std::int64_t r = 0; r < rows_; ++r) {
      double& la = lse_[bh * rows_ + r];
      if (la == kNone) {  // no key: O stays 0, the LSE is the sink's
        la = s;
        continue;
      }
      const kernels::SinkJoin<double> join = kernels::join_sink(la - s);
      la = (la >= s ? la : s) + join.rest;
      float* acc = &o_[(bh * rows_ + r) * dv_];
      for (std::int64_t d = 0; d < dv_; ++d) acc[d] = static_cast<float>(acc[d] * join.share);
    }
  }
}

void Accumulator::write(const attnrt_tensor& o, const attnrt_tensor* lse) const {
  for (std::int64_t b = 0; b < b_; ++b)
    for (std::int64_t h = 0; h < h_; ++h)
      for (std::int64_t r = 0; r < rows_; ++r) {
        const std::int64_t row = (b * h_ + h) * rows_ + r;
        const std::int64_t at = b * o.stride[0] + h * o.stride[1] + r * o.stride[2];
        kernels::store_row(&o_[row * dv_], static_cast<int>(dv_),
                           static_cast<char*>(o.data) + at * kernels::dtype_size(dtype_of(o.dtype)), dtype_of(o.dtype));
        if (lse)
          static_cast<float*>(lse->data)[b * lse->stride[0] + h * lse->stride[1] + r * lse->stride[2]] =
              static_cast<float>(lse_[row]);
      }
}

}  // namespace attnrt::mpi
