#include "kernels/pipelines/exact_rows.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/convert.hpp"
#include "kernels/pipelines/kv_runs.hpp"
#include "kernels/pipelines/scores.hpp"
#include "kernels/weighted_row.hpp"

namespace attnrt::kernels {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Key j's K (V) row as fp32, dequantized and rounded to the dtype as the
// pipelines stage it (kv_runs.hpp).
void load_kv_row(const HeadProblem& p, KvSide side, std::int64_t j, float* row) {
  const bool k = side == KvSide::k;
  const int n = k ? p.d : p.dv;
  const char* src = static_cast<const char*>(k ? p.k : p.v) +
                    (k ? p.k_offset(j) : p.v_offset(j)) * static_cast<std::int64_t>(p.kv_elem_bytes());
  if (p.kv_format == KvFormat::plain) return load_row(src, n, row, p.dtype);
  alignas(64) std::byte staged[kMaxHeadDim * sizeof(float)];
  const float* scale = k ? p.k_scale + p.k_scale_offset(j) : p.v_scale + p.v_scale_offset(j);
  dequant_rows(p.kv_format, reinterpret_cast<const std::uint8_t*>(src), 0, 1, n, scale, 0, staged, n, p.dtype);
  load_row(staged, n, row, p.dtype);
}

}  // namespace

bool any_nonfinite(const float* row, int n) {
  bool bad = false;
  for (int c = 0; c < n; ++c) bad |= (std::bit_cast<std::uint32_t>(row[c]) & 0x7f800000u) == 0x7f800000u;
  return bad;
}

// Packed row r over the tile's keys, as the reference defines it.
void exact_row(const HeadProblem& p, const Tile& t, int r) {
  const std::size_t esz = dtype_size(p.dtype);
  const std::int64_t i = r % p.m;
  const std::int64_t lo = std::max<std::int64_t>(p.key_lo(i), t.key_begin);
  const std::int64_t hi = std::min<std::int64_t>(p.key_hi(i), t.key_end);
  const float* bias = p.bias ? p.bias + p.bias_offset(r) : nullptr;
  const double slope = p.alibi ? p.alibi[r / p.m] : 0.0;
  // The sink joins the tile that starts at key 0 (as in end_row_block).
  const double sink = p.sinks && t.key_begin == 0 ? p.sinks[r / p.m] : -kInf;
  float q[kMaxHeadDim], row[kMaxHeadDim];
  double acc[kMaxHeadDim] = {};
  load_row(static_cast<const char*>(p.q) + p.q_offset(r) * esz, p.d, q, p.dtype);
  // The score of key j, or false where the row cannot see it.
  const auto score = [&](std::int64_t j, double* s) {
    if (bias && bias[j] == -std::numeric_limits<float>::infinity()) return false;
    load_kv_row(p, KvSide::k, j, row);
    double dot = 0;
    for (int c = 0; c < p.d; ++c) dot += static_cast<double>(q[c]) * row[c];
    double x = dot * p.scale;
    if (p.softcap > 0.0f) x = p.softcap * std::tanh(x / p.softcap);
    if (bias) x += bias[j];
    *s = x + slope * static_cast<double>(j - (i + p.diag));
    return true;
  };
  double mx = sink, sum = 0, s;  // the sink counts as a key with no value
  bool nan = false;
  for (std::int64_t j = lo; j < hi; ++j)
    if (score(j, &s)) {
      nan |= std::isnan(s) || s == kInf;  // a +inf score: inf - inf, as the reference has it
      mx = std::max(mx, s);
    }
  if (sink != -kInf && !nan) sum = std::exp(sink - mx);
  if (!nan && mx != -kInf)
    for (std::int64_t j = lo; j < hi; ++j) {
      if (!score(j, &s)) continue;
      sum += add_weighted_row(acc, p.dv, s - mx, [&] {
        load_kv_row(p, KvSide::v, j, row);
        return row;
      });
    }
  // NaN seen: NaN; nothing seen: zeros and -inf; else the weighted mean.
  const double inv = nan ? std::numeric_limits<double>::quiet_NaN() : sum > 0 ? 1.0 / sum : 0.0;
  for (int c = 0; c < p.dv; ++c) row[c] = static_cast<float>(acc[c] * inv);
  store_row(row, p.dv, static_cast<char*>(p.o) + p.o_offset(r) * esz, p.dtype);
  const double shift = p.lse_unshifted ? alibi_peak_shift(p, r) : 0.0;
  if (p.lse)
    p.lse[p.lse_offset(r)] = nan ? std::numeric_limits<float>::quiet_NaN()
                             : mx == -kInf ? -std::numeric_limits<float>::infinity()
                                           : static_cast<float>(mx + std::log(sum) - shift);
}

}  // namespace attnrt::kernels
