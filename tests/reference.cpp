#include "tests/reference.hpp"

#include <algorithm>
#include <array>
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

// Rows [0, rows) of head (b, h) of t, widened to double, dense [rows][dim].
std::vector<double> widen(const attnrt_tensor& t, std::int64_t b, std::int64_t h, std::int64_t rows) {
  const std::int64_t dim = t.shape[3];
  std::vector<double> out(rows * dim);
  for (std::int64_t s = 0; s < rows; ++s)
    for (std::int64_t d = 0; d < dim; ++d) out[s * dim + d] = load(t, b, h, s, d);
  return out;
}

// The one definition of a reference output row. q_row: [D]; key(j) and
// value(j) give pointers to key/value row j as double; bias(j) the additive
// bias of key j (0 without bias), ALiBi included; sink the head's sink logit
// (-inf: none), a key with no value.
template <class Key, class Value, class Bias>
RefRow attend(const attnrt_params& p, std::int64_t D, std::int64_t Dv, std::int64_t lo, std::int64_t hi,
              const double* q_row, Key key, Value value, Bias bias, double sink) {
  const double scale = p.scale != 0.0f ? p.scale : 1.0 / std::sqrt(static_cast<double>(D));
  RefRow r{std::vector<double>(Dv, 0.0), -INFINITY};
  std::vector<double> s;
  s.reserve(std::max<std::int64_t>(0, hi - lo));
  double mx = sink;
  bool nan = false;
  for (std::int64_t j = lo; j < hi; ++j) {
    if (bias(j) == -INFINITY) {  // hidden: its K and V are never read
      s.push_back(-INFINITY);
      continue;
    }
    const double* k = key(j);
    double dot = 0;
    for (std::int64_t d = 0; d < D; ++d) dot += q_row[d] * k[d];
    double x = dot * scale;
    if (p.softcap > 0) x = p.softcap * std::tanh(x / p.softcap);
    x += bias(j);
    nan |= std::isnan(x) || x == INFINITY;  // +inf: its weight e^(inf - inf) is NaN
    s.push_back(x);
    if (x > mx) mx = x;
  }
  if (nan) {
    std::fill(r.o.begin(), r.o.end(), std::numeric_limits<double>::quiet_NaN());
    r.lse = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  if (mx == -INFINITY) return r;  // nothing visible (or every score -inf): zeros, -inf
  double sum = sink == -INFINITY ? 0 : std::exp(sink - mx);
  for (std::int64_t j = lo; j < hi; ++j) {
    const double w = std::exp(s[j - lo] - mx);
    sum += w;
    if (w == 0) continue;  // a masked (-inf) key contributes nothing, even a NaN in V
    const double* v = value(j);
    for (std::int64_t c = 0; c < Dv; ++c) r.o[c] += w * v[c];
  }
  for (double& x : r.o) x /= sum;
  r.lse = mx + std::log(sum);
  return r;
}

// The bias tensor's entry plus ALiBi's slope * (key - query position), the
// query at i + diag as the causal alignment places it.
double bias_at(const attnrt_params& p, std::int64_t b, std::int64_t h, std::int64_t i, std::int64_t j,
               std::int64_t diag) {
  double x = 0.0;
  if (p.bias) {
    const attnrt_tensor& bi = *p.bias;
    x = load(bi, bi.shape[0] == 1 ? 0 : b, bi.shape[1] == 1 ? 0 : h, i, j);
  }
  if (p.alibi_slopes) x += static_cast<double>(p.alibi_slopes[h]) * static_cast<double>(j - (i + diag));
  return x;
}

double sink_of(const attnrt_params& p, std::int64_t h) { return p.sinks ? p.sinks[h] : -INFINITY; }

// Where the causal alignment puts query 0 among n keys.
std::int64_t diag_of(const attnrt_params& p, std::int64_t m, std::int64_t n) {
  return p.align == ATTNRT_ALIGN_BOTTOM_RIGHT ? n - m : 0;
}

// The value of code c of type t, from its bit fields.
double decode(attnrt_dtype t, std::uint8_t c) {
  const double sign = c & 0x80 ? -1.0 : 1.0;
  switch (t) {
    case ATTNRT_I8: return static_cast<std::int8_t>(c);
    case ATTNRT_F8_E4M3: {  // S.EEEE.MMM, bias 7; S.1111.111 is NaN, no inf
      const int e = (c >> 3) & 15, m = c & 7;
      if (e == 15 && m == 7) return std::numeric_limits<double>::quiet_NaN();
      return sign * (e == 0 ? std::ldexp(m, -9) : std::ldexp(8 + m, e - 10));
    }
    case ATTNRT_F8_E5M2: {  // S.EEEEE.MM, bias 15, IEEE inf and NaN
      const int e = (c >> 2) & 31, m = c & 3;
      if (e == 31) return m ? std::numeric_limits<double>::quiet_NaN() : sign * INFINITY;
      return sign * (e == 0 ? std::ldexp(m, -16) : std::ldexp(4 + m, e - 17));
    }
    default: break;
  }
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

// A table: the tests decode millions of codes, many of them under qemu.
double code_to_double(attnrt_dtype t, std::uint8_t c) {
  static const auto table = [] {
    std::array<std::array<double, 256>, 3> v;
    for (int i = 0; i < 256; ++i) {
      v[0][i] = decode(ATTNRT_I8, static_cast<std::uint8_t>(i));
      v[1][i] = decode(ATTNRT_F8_E4M3, static_cast<std::uint8_t>(i));
      v[2][i] = decode(ATTNRT_F8_E5M2, static_cast<std::uint8_t>(i));
    }
    return v;
  }();
  switch (t) {
    case ATTNRT_I8: return table[0][c];
    case ATTNRT_F8_E4M3: return table[1][c];
    case ATTNRT_F8_E5M2: return table[2][c];
    default: return std::numeric_limits<double>::quiet_NaN();
  }
}

double load(const attnrt_tensor& t, std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) {
  const std::int64_t off = b * t.stride[0] + h * t.stride[1] + s * t.stride[2] + d;
  switch (t.dtype) {
    case ATTNRT_F32: return static_cast<const float*>(t.data)[off];
    case ATTNRT_F16: return half_to_double(static_cast<const std::uint16_t*>(t.data)[off]);
    case ATTNRT_BF16: return bf16_to_double(static_cast<const std::uint16_t*>(t.data)[off]);
    case ATTNRT_I8:
    case ATTNRT_F8_E4M3:
    case ATTNRT_F8_E5M2: return code_to_double(t.dtype, static_cast<const std::uint8_t*>(t.data)[off]);
  }
  return std::numeric_limits<double>::quiet_NaN();
}

void visible_keys(const attnrt_params& p, std::int64_t m, std::int64_t n, std::int64_t i,
                  std::int64_t* lo, std::int64_t* hi) {
  const std::int64_t diag = diag_of(p, m, n);
  std::int64_t right = p.window_right;
  if (p.causal) right = right < 0 ? 0 : std::min<std::int64_t>(right, 0);
  // In 128 bits: a window side up to INT64_MAX means what it says.
  using Wide = __int128;
  *lo = p.window_left < 0 ? 0 : static_cast<std::int64_t>(std::clamp<Wide>(Wide{i} + diag - p.window_left, 0, n));
  *hi = right < 0 ? n : static_cast<std::int64_t>(std::clamp<Wide>(Wide{i} + diag + right + 1, 0, n));
}

RefRow reference_row(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                     const attnrt_params& p, std::int64_t b, std::int64_t h, std::int64_t i) {
  const std::int64_t M = q.shape[2], D = q.shape[3], Dv = v.shape[3];
  const std::int64_t n = p.kv_lens ? p.kv_lens[b] : k.shape[2];
  const std::int64_t hk = h / (q.shape[1] / k.shape[1]);
  std::int64_t lo, hi;
  visible_keys(p, M, n, i, &lo, &hi);
  std::vector<double> q_row(D), k_row(D), v_row(Dv);
  for (std::int64_t d = 0; d < D; ++d) q_row[d] = load(q, b, h, i, d);
  auto key = [&](std::int64_t j) {
    for (std::int64_t d = 0; d < D; ++d) k_row[d] = load(k, b, hk, j, d);
    return k_row.data();
  };
  auto value = [&](std::int64_t j) {
    for (std::int64_t c = 0; c < Dv; ++c) v_row[c] = load(v, b, hk, j, c);
    return v_row.data();
  };
  auto bias = [&](std::int64_t j) { return bias_at(p, b, h, i, j, diag_of(p, M, n)); };
  return attend(p, D, Dv, lo, hi, q_row.data(), key, value, bias, sink_of(p, h));
}

RefResult reference_forward(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                            const attnrt_params& p) {
  const std::int64_t B = q.shape[0], H = q.shape[1], M = q.shape[2], D = q.shape[3];
  const std::int64_t Hkv = k.shape[1], N = k.shape[2], Dv = v.shape[3];
  RefResult res{std::vector<double>(B * H * M * Dv), std::vector<double>(B * H * M)};
  // Same rows as reference_row, with each head's inputs widened once.
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t hk = 0; hk < Hkv; ++hk) {
      const std::int64_t n = p.kv_lens ? p.kv_lens[b] : N;
      const std::vector<double> kd = widen(k, b, hk, n), vd = widen(v, b, hk, n);
      auto key = [&](std::int64_t j) { return kd.data() + j * D; };
      auto value = [&](std::int64_t j) { return vd.data() + j * Dv; };
      const std::int64_t group = H / Hkv;
      for (std::int64_t h = hk * group; h < (hk + 1) * group; ++h) {
        const std::vector<double> qd = widen(q, b, h, M);
        for (std::int64_t i = 0; i < M; ++i) {
          std::int64_t lo, hi;
          visible_keys(p, M, n, i, &lo, &hi);
          auto bias = [&](std::int64_t j) { return bias_at(p, b, h, i, j, diag_of(p, M, n)); };
          const RefRow row = attend(p, D, Dv, lo, hi, qd.data() + i * D, key, value, bias, sink_of(p, h));
          std::copy(row.o.begin(), row.o.end(), res.o.begin() + ((b * H + h) * M + i) * Dv);
          res.lse[(b * H + h) * M + i] = row.lse;
        }
      }
    }
  return res;
}

}  // namespace attnrt::test
