#include "tests/reference.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace attnrt::test {
namespace {

double half_to_double(std::uint16_t h) {
  const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  const double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (e == 0x1f) return m ? std::numeric_limits<double>::quiet_NaN() : sign * INFINITY;
  if (e == 0) return sign * std::ldexp(m, -24);
  return sign * std::ldexp(1024 + m, e - 25);
}

double bf16_to_double(std::uint16_t h) {
  const std::uint32_t u = static_cast<std::uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

double load(const attnrt_tensor& t, std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) {
  const std::int64_t off = b * t.stride[0] + h * t.stride[1] + s * t.stride[2] + d;
  switch (t.dtype) {
    case ATTNRT_F32: return static_cast<const float*>(t.data)[off];
    case ATTNRT_F16: return half_to_double(static_cast<const std::uint16_t*>(t.data)[off]);
    case ATTNRT_BF16: return bf16_to_double(static_cast<const std::uint16_t*>(t.data)[off]);
  }
  return std::numeric_limits<double>::quiet_NaN();
}

void visible_keys(const attnrt_params& p, std::int64_t m, std::int64_t n, std::int64_t i,
                  std::int64_t* lo, std::int64_t* hi) {
  const std::int64_t diag = p.align == ATTNRT_ALIGN_BOTTOM_RIGHT ? n - m : 0;
  std::int64_t right = p.window_right;
  if (p.causal) right = right < 0 ? 0 : std::min<std::int64_t>(right, 0);
  *lo = p.window_left < 0 ? 0 : std::clamp<std::int64_t>(i + diag - p.window_left, 0, n);
  *hi = right < 0 ? n : std::clamp<std::int64_t>(i + diag + right + 1, 0, n);
}

RefRow reference_row(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                     const attnrt_params& p, std::int64_t b, std::int64_t h, std::int64_t i) {
  const std::int64_t M = q.shape[2], D = q.shape[3], Dv = v.shape[3];
  const std::int64_t n = p.kv_lens ? p.kv_lens[b] : k.shape[2];
  const std::int64_t hk = h / (q.shape[1] / k.shape[1]);
  const double scale = p.scale != 0.0f ? p.scale : 1.0 / std::sqrt(static_cast<double>(D));
  std::int64_t lo, hi;
  visible_keys(p, M, n, i, &lo, &hi);

  RefRow r{std::vector<double>(Dv, 0.0), -INFINITY};
  std::vector<double> s;
  double mx = -INFINITY;
  bool nan = false;
  for (std::int64_t j = lo; j < hi; ++j) {
    double dot = 0;
    for (std::int64_t d = 0; d < D; ++d) dot += load(q, b, h, i, d) * load(k, b, hk, j, d);
    double x = dot * scale;
    if (p.softcap > 0) x = p.softcap * std::tanh(x / p.softcap);
    if (p.bias) {
      const attnrt_tensor& bi = *p.bias;
      x += load(bi, bi.shape[0] == 1 ? 0 : b, bi.shape[1] == 1 ? 0 : h, i, j);
    }
    nan |= std::isnan(x);
    s.push_back(x);
    if (x > mx) mx = x;
  }
  if (nan) {
    std::fill(r.o.begin(), r.o.end(), std::numeric_limits<double>::quiet_NaN());
    r.lse = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  if (mx == -INFINITY) return r;  // nothing visible (or every score -inf): zeros, -inf
  double sum = 0;
  for (std::int64_t j = lo; j < hi; ++j) {
    const double w = std::exp(s[j - lo] - mx);
    sum += w;
    if (w == 0) continue;  // a masked (-inf) key contributes nothing, even a NaN in V
    for (std::int64_t c = 0; c < Dv; ++c) r.o[c] += w * load(v, b, hk, j, c);
  }
  for (double& x : r.o) x /= sum;
  r.lse = mx + std::log(sum);
  return r;
}

RefResult reference_forward(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                            const attnrt_params& p) {
  const std::int64_t B = q.shape[0], H = q.shape[1], M = q.shape[2], Dv = v.shape[3];
  RefResult res{std::vector<double>(B * H * M * Dv), std::vector<double>(B * H * M)};
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t i = 0; i < M; ++i) {
        const RefRow row = reference_row(q, k, v, p, b, h, i);
        std::copy(row.o.begin(), row.o.end(), res.o.begin() + ((b * H + h) * M + i) * Dv);
        res.lse[(b * H + h) * M + i] = row.lse;
      }
  return res;
}

}  // namespace attnrt::test
