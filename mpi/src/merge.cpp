#include "mpi/src/merge.hpp"

#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/convert.hpp"
#include "kernels/weighted_row.hpp"

namespace attnrt::mpi {

// (The core's scalar conversions: round to nearest even, NaN kept.)
float load_elem(const void* base, attnrt_dtype t, std::int64_t i) {
  switch (t) {
    case ATTNRT_F32: return static_cast<const float*>(base)[i];
    case ATTNRT_F16: return kernels::fp16_to_float(static_cast<const std::uint16_t*>(base)[i]);
    case ATTNRT_BF16: return kernels::bf16_to_float(static_cast<const std::uint16_t*>(base)[i]);
    default: break;  // (quantized dtypes are K/V only; check.cpp refuses them here)
  }
  return 0.0f;
}

void store_elem(void* base, attnrt_dtype t, std::int64_t i, float x) {
  switch (t) {
    case ATTNRT_F32: static_cast<float*>(base)[i] = x; return;
    case ATTNRT_F16: static_cast<std::uint16_t*>(base)[i] = kernels::float_to_fp16(x); return;
    case ATTNRT_BF16: static_cast<std::uint16_t*>(base)[i] = kernels::float_to_bf16(x); return;
    default: return;  // (as in load_elem)
  }
}

void Accumulator::reset(std::int64_t batch, std::int64_t heads, std::int64_t rows, std::int64_t dv) {
  b_ = batch, h_ = heads, rows_ = rows, dv_ = dv;
  o_.assign(static_cast<std::size_t>(batch * heads * rows * dv), 0.0f);
  lse_.assign(static_cast<std::size_t>(batch * heads * rows), -std::numeric_limits<float>::infinity());
  part_.resize(static_cast<std::size_t>(dv));
  sum_.resize(static_cast<std::size_t>(dv));
}

void Accumulator::merge(const void* o, attnrt_dtype t, const float* lse, std::int64_t r0, std::int64_t len) {
  constexpr float kNone = -std::numeric_limits<float>::infinity();
  const int n = static_cast<int>(dv_);
  for (std::int64_t bh = 0; bh < b_ * h_; ++bh)
    for (std::int64_t r = r0; r < r0 + len; ++r) {
      const std::int64_t row = bh * rows_ + r;
      const float lp = lse[row];
      if (lp == kNone) continue;  // saw no key: adds nothing
      float& la = lse_[row];
      float* acc = &o_[row * dv_];
      for (int d = 0; d < n; ++d) part_[d] = load_elem(o, t, row * dv_ + d);
      if (la == kNone) {  // the first partial of this row: taken as it is
        std::memcpy(acc, part_.data(), static_cast<std::size_t>(n) * sizeof(float));
        la = lp;
        continue;
      }
      // The larger LSE's row weighs 1, the other e^(its LSE - the larger),
      // in double as the core's split-KV merge weighs (a weight fp32 makes
      // 0 would turn an inf of that row into NaN).
      const bool acc_larger = la >= lp;
      const float* big = acc_larger ? acc : part_.data();
      const float* small = acc_larger ? part_.data() : acc;
      for (int d = 0; d < n; ++d) sum_[d] = big[d];
      const double w = kernels::add_weighted_row(sum_.data(), n, acc_larger ? double{lp} - la : double{la} - lp,
                                                 [&] { return small; });
      for (int d = 0; d < n; ++d) acc[d] = static_cast<float>(sum_[d] / (1.0 + w));
      la = static_cast<float>(static_cast<double>(acc_larger ? la : lp) + std::log1p(w));
    }
}

void Accumulator::write(const attnrt_tensor& o, const attnrt_tensor* lse) const {
  for (std::int64_t b = 0; b < b_; ++b)
    for (std::int64_t h = 0; h < h_; ++h)
      for (std::int64_t r = 0; r < rows_; ++r) {
        const std::int64_t row = (b * h_ + h) * rows_ + r;
        const std::int64_t at = b * o.stride[0] + h * o.stride[1] + r * o.stride[2];
        if (o.dtype == ATTNRT_F32)
          std::memcpy(static_cast<float*>(o.data) + at, &o_[row * dv_], static_cast<std::size_t>(dv_) * 4);
        else
          for (std::int64_t d = 0; d < dv_; ++d) store_elem(o.data, o.dtype, at + d, o_[row * dv_ + d]);
        if (lse)
          static_cast<float*>(lse->data)[b * lse->stride[0] + h * lse->stride[1] + r * lse->stride[2]] = lse_[row];
      }
}

}  // namespace attnrt::mpi
