#include "tests/fuzz/fuzz_inputs.hpp"

#include <limits>

#include "tests/fuzz/rng.hpp"
#include "tests/reference.hpp"

namespace attnrt::fuzz {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr unsigned char kNanFill = 0xff;  // a NaN in fp32, fp16 and bf16 alike

double non_finite(Rng& r) {
  const double v[] = {kNaN, kInf, -kInf};
  return v[r.range(0, 2)];
}

void fill_uniform(GuardedView& t, Rng& r) {
  const auto& s = t.view().shape;
  for (std::int64_t b = 0; b < s[0]; ++b)
    for (std::int64_t h = 0; h < s[1]; ++h)
      for (std::int64_t i = 0; i < s[2]; ++i)
        for (std::int64_t d = 0; d < s[3]; ++d) t.set(b, h, i, d, r.real(-1, 1));
}

// Keys [lo, hi) of every query row of batch b.
struct Band {
  std::vector<std::int64_t> lo, hi;
};
Band band(const attnrt_params& p, const Case& c, std::int64_t b) {
  const std::int64_t n = p.kv_lens ? p.kv_lens[b] : c.N;
  Band out{std::vector<std::int64_t>(c.M), std::vector<std::int64_t>(c.M)};
  for (std::int64_t i = 0; i < c.M; ++i) test::visible_keys(p, c.M, n, i, &out.lo[i], &out.hi[i]);
  return out;
}

double bias_of(const Inputs& in, std::int64_t b, std::int64_t h, std::int64_t i, std::int64_t j) {
  if (!in.bias) return 0;
  return in.bias->get(in.spec.bias_batch1 ? 0 : b, in.spec.bias_heads1 ? 0 : h, i, j);
}

// NaN or inf in K and V rows no query of their KV head sees, and in bias
// entries outside every band that reads them; about half of each.
void hide_non_finite(Inputs& in, const attnrt_params& p, Rng& r) {
  const Case& c = in.spec;
  std::vector<Band> bands;
  for (std::int64_t b = 0; b < c.B; ++b) bands.push_back(band(p, c, b));
  const std::int64_t group = c.Hq / c.Hkv;
  for (std::int64_t b = 0; b < c.B; ++b)
    for (std::int64_t hk = 0; hk < c.Hkv; ++hk) {
      std::vector<char> seen(c.N, 0);
      for (std::int64_t h = hk * group; h < (hk + 1) * group; ++h)
        for (std::int64_t i = 0; i < c.M; ++i)
          for (std::int64_t j = bands[b].lo[i]; j < bands[b].hi[i]; ++j)
            seen[j] |= bias_of(in, b, h, i, j) != -kInf;
      for (std::int64_t j = 0; j < c.N; ++j) {
        if (seen[j] || !r.chance(50)) continue;
        in.k.set(b, hk, j, r.range(0, c.D - 1), non_finite(r));
        in.v.set(b, hk, j, r.range(0, c.Dv - 1), non_finite(r));
      }
    }
  if (!in.bias) return;
  const auto& bs = in.bias->view().shape;
  for (std::int64_t bb = 0; bb < bs[0]; ++bb)
    for (std::int64_t i = 0; i < c.M; ++i)
      for (std::int64_t j = 0; j < c.N; ++j) {
        bool seen = false;  // by a batch that reads this entry
        for (std::int64_t b = bb; b < (bs[0] == 1 ? c.B : bb + 1); ++b)
          seen |= bands[b].lo[i] <= j && j < bands[b].hi[i];
        if (seen) continue;
        for (std::int64_t bh = 0; bh < bs[1]; ++bh)
          if (in.bias->get(bb, bh, i, j) != -kInf && r.chance(50)) in.bias->set(bb, bh, i, j, non_finite(r));
      }
}

// One NaN in Q, K or bias, or an inf in V, anywhere: the reference says
// which rows it reaches.
void place_non_finite(Inputs& in, Rng& r) {
  const Case& c = in.spec;
  const std::int64_t b = r.range(0, c.B - 1), hk = r.range(0, c.Hkv - 1), j = r.range(0, c.N - 1);
  switch (r.range(0, in.bias ? 3 : 2)) {
    case 0: in.q.set(b, r.range(0, c.Hq - 1), r.range(0, c.M - 1), r.range(0, c.D - 1), kNaN); break;
    case 1: in.k.set(b, hk, j, r.range(0, c.D - 1), kNaN); break;
    case 2: in.v.set(b, hk, j, r.range(0, c.Dv - 1), r.chance(50) ? kInf : -kInf); break;
    default: {
      const auto& bs = in.bias->view().shape;
      in.bias->set(r.range(0, bs[0] - 1), r.range(0, bs[1] - 1), r.range(0, c.M - 1), j, kNaN);
    }
  }
}

}  // namespace

Inputs::Inputs(const Case& c)
    : q(c.dtype, {c.B, c.Hq, c.M, c.D}, c.q_strides, kNanFill),
      k(c.dtype, {c.B, c.Hkv, c.N, c.D}, c.k_strides, kNanFill),
      v(c.dtype, {c.B, c.Hkv, c.N, c.Dv}, c.v_strides, kNanFill),
      o(c.dtype, {c.B, c.Hq, c.M, c.Dv}, c.o_strides, kNanFill),
      kv_lens(c.kv_lens),
      spec(c) {
  Rng r(c.data_seed);
  fill_uniform(q, r);
  fill_uniform(k, r);
  fill_uniform(v, r);
  if (c.bias) {
    bias.emplace(ATTNRT_F32, GuardedView::Shape{c.bias_batch1 ? 1 : c.B, c.bias_heads1 ? 1 : c.Hq, c.M, c.N},
                 c.bias_strides, kNanFill);
    const auto& s = bias->view().shape;
    for (std::int64_t b = 0; b < s[0]; ++b)
      for (std::int64_t h = 0; h < s[1]; ++h)
        for (std::int64_t i = 0; i < s[2]; ++i)
          for (std::int64_t j = 0; j < s[3]; ++j)
            bias->set(b, h, i, j, r.range(0, 999) < c.bias_masked_per_mille ? -kInf : r.real(-1, 1));
  }
  if (c.lse) lse.emplace(ATTNRT_F32, GuardedView::Shape{c.B, c.Hq, c.M, 1}, c.lse_strides, kNanFill);
  if (c.hidden_nonfinite) hide_non_finite(*this, params(), r);
  if (c.visible_nonfinite) place_non_finite(*this, r);
  for (GuardedView* t : {&q, &k, &v}) t->make_read_only();
  if (bias) bias->make_read_only();
  o.snapshot();
  if (lse) lse->snapshot();
}

attnrt_params Inputs::params() const {
  attnrt_params p;
  attnrt_params_init(&p);
  p.scale = spec.scale;
  p.causal = spec.causal ? 1 : 0;
  p.align = spec.align;
  p.window_left = spec.window_left;
  p.window_right = spec.window_right;
  p.kv_lens = kv_lens.empty() ? nullptr : kv_lens.data();
  p.bias = bias ? &bias->view() : nullptr;
  p.softcap = spec.softcap;
  p.precision = spec.precision;
  p.strategy = spec.strategy;
  p.lse = lse ? &lse->view() : nullptr;
  p.alibi_slopes = spec.alibi_slopes.empty() ? nullptr : spec.alibi_slopes.data();
  p.sinks = spec.sinks.empty() ? nullptr : spec.sinks.data();
  return p;
}

}  // namespace attnrt::fuzz
