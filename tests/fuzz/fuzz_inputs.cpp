#include "tests/fuzz/fuzz_inputs.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "tests/fuzz/fuzz_call.hpp"
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

// Keys [lo, hi) of every query row of sequence b.
struct Band {
  std::vector<std::int64_t> lo, hi;
};
Band band(const attnrt_params& p, const Case& c, std::int64_t b) {
  const std::int64_t m = c.q_rows(b), n = c.keys(b);
  Band out{std::vector<std::int64_t>(m), std::vector<std::int64_t>(m)};
  for (std::int64_t i = 0; i < m; ++i) test::visible_keys(p, m, n, i, &out.lo[i], &out.hi[i]);
  return out;
}

double bias_of(const Inputs& in, std::int64_t b, std::int64_t h, std::int64_t i, std::int64_t j) {
  if (!in.bias) return 0;
  return in.bias->get(in.spec.bias_batch1 ? 0 : b, in.spec.bias_heads1 ? 0 : h, i, j);
}

bool fp8(attnrt_dtype t) { return t == ATTNRT_F8_E4M3 || t == ATTNRT_F8_E5M2; }

// A code of t that decodes to NaN, or (E5M2, which has them) to +-inf.
std::uint8_t non_finite_code(attnrt_dtype t, Rng& r) {
  const std::uint8_t sign = r.chance(50) ? 0x80 : 0;
  if (t == ATTNRT_F8_E4M3) return sign | 0x7f;  // S.1111.111, E4M3's only NaN (it has no inf)
  return static_cast<std::uint8_t>(sign | (0x7c + r.range(0, 3)));  // S.11111.MM: inf (MM = 0) or NaN
}

// The scale element key (pb, hk, row) reads.
std::array<std::int64_t, 3> scale_index(const Case& c, std::int64_t pb, std::int64_t hk, std::int64_t row) {
  if (c.scale_grain == ScaleGrain::token) return {pb, hk, row};
  return {0, c.scale_grain == ScaleGrain::head ? hk : 0, 0};
}

// Element d (drawn) of row (pb, hk, row) of K or V made non-finite: the
// value itself, an fp8 code, or (int8, which has no such code) the row's
// own scale when scales are per token; nothing with a shared int8 scale.
void hide_in(GuardedView& t, std::optional<GuardedView>& scale, const Case& c, std::array<std::int64_t, 2> slot,
             std::int64_t hk, std::int64_t dim, Rng& r) {
  const auto [pb, row] = slot;
  const attnrt_dtype dt = t.view().dtype;
  if (!c.quantized()) t.set(pb, hk, row, r.range(0, dim - 1), non_finite(r));
  else if (fp8(dt)) t.set_code(pb, hk, row, r.range(0, dim - 1), non_finite_code(dt, r));
  else if (c.scale_grain == ScaleGrain::token) scale->set(pb, hk, row, 0, non_finite(r));
}

// NaN or inf in K and V rows no query of their KV head sees (in any
// sequence, pages being shared), and in bias entries outside every band
// that reads them; about half of each.
void hide_non_finite(Inputs& in, const attnrt_params& p, Rng& r) {
  const Case& c = in.spec;
  std::vector<Band> bands;
  for (std::int64_t b = 0; b < c.seqs(); ++b) bands.push_back(band(p, c, b));
  const std::int64_t group = c.Hq / c.Hkv, rows = c.kv_shape(1)[2];
  std::vector<char> seen(c.kv_shape(1)[0] * c.Hkv * rows, 0);
  auto seen_at = [&](std::int64_t b, std::int64_t hk, std::int64_t j) -> char& {
    const auto [pb, row] = c.kv_slot(b, j);
    return seen[(pb * c.Hkv + hk) * rows + row];
  };
  for (std::int64_t b = 0; b < c.seqs(); ++b)
    for (std::int64_t hk = 0; hk < c.Hkv; ++hk)
      for (std::int64_t h = hk * group; h < (hk + 1) * group; ++h)
        for (std::int64_t i = 0; i < c.q_rows(b); ++i)
          for (std::int64_t j = bands[b].lo[i]; j < bands[b].hi[i]; ++j)
            seen_at(b, hk, j) |= bias_of(in, b, h, i, j) != -kInf;
  for (std::int64_t b = 0; b < c.seqs(); ++b)
    for (std::int64_t hk = 0; hk < c.Hkv; ++hk)  // dense K/V: the rows past kv_lens too
      for (std::int64_t j = 0; j < (c.varlen || c.paged ? c.keys(b) : c.N); ++j) {
        if (seen_at(b, hk, j) || !r.chance(50)) continue;
        hide_in(in.k, in.k_scale, c, c.kv_slot(b, j), hk, c.D, r);
        hide_in(in.v, in.v_scale, c, c.kv_slot(b, j), hk, c.Dv, r);
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

// The same for serving inputs: a NaN anywhere in Q, or at a key a sequence
// has, a NaN in K or an inf in V (E4M3, without inf: a NaN; int8: its
// scale, whichever keys share it).
void place_non_finite_serving(Inputs& in, Rng& r) {
  const Case& c = in.spec;
  const auto& qs = in.q.view().shape;
  const std::int64_t b = r.range(0, c.seqs() - 1), what = r.range(0, 2);
  if (what == 0 || c.keys(b) == 0) {
    in.q.set(r.range(0, qs[0] - 1), r.range(0, qs[1] - 1), r.range(0, qs[2] - 1), r.range(0, c.D - 1), kNaN);
    return;
  }
  const auto [pb, row] = c.kv_slot(b, r.range(0, c.keys(b) - 1));
  const std::int64_t hk = r.range(0, c.Hkv - 1);
  GuardedView& t = what == 1 ? in.k : in.v;
  const std::int64_t d = r.range(0, (what == 1 ? c.D : c.Dv) - 1);
  const double value = what == 1 ? kNaN : r.chance(50) ? kInf : -kInf;
  if (!c.quantized()) {
    t.set(pb, hk, row, d, value);
  } else if (fp8(c.kv_dtype)) {
    const bool inf = what == 2 && c.kv_dtype == ATTNRT_F8_E5M2;
    t.set_code(pb, hk, row, d, inf ? (value > 0 ? 0x7c : 0xfc) : non_finite_code(ATTNRT_F8_E4M3, r));
  } else {
    const auto [sb, sh, ss] = scale_index(c, pb, hk, row);
    (what == 1 ? in.k_scale : in.v_scale)->set(sb, sh, ss, 0, value);
  }
}

// A code of c's K/V format: int8 any; fp8 any finite one (wide_codes), else
// one of the top three binades or zero, so that scores spread.
std::uint8_t draw_code(const Case& c, Rng& r) {
  const double top = test::code_to_double(c.kv_dtype, c.kv_dtype == ATTNRT_F8_E4M3 ? 0x7e : 0x7b);
  for (;;) {
    const auto code = static_cast<std::uint8_t>(r.range(0, 255));
    const double v = test::code_to_double(c.kv_dtype, code);
    if (c.kv_dtype == ATTNRT_I8) return code;
    if (std::isfinite(v) && (c.wide_codes || v == 0 || std::abs(v) >= top / 8)) return code;
  }
}

// A scale that brings the format's largest code to at most 1: values stay
// within [-1, 1] as in the plain cases.
double draw_scale(const Case& c, Rng& r) {
  const double unit = c.kv_dtype == ATTNRT_I8 ? 128 : c.kv_dtype == ATTNRT_F8_E4M3 ? 448 : 57344;
  return r.real(0.5, 1) / unit;
}

// One cache_write through the case's writer, in the caller's modes it
// names; "" or why it failed.
std::string write(const Case& c, WriterRuntimes on, const attnrt_tensor& src, const attnrt_tensor& cache,
                  const attnrt_tensor& scale, const std::int64_t* slots) {
  const test::CallerFpEnv env(c.caller_fp);
  if (c.writer == Writer::c || c.writer == Writer::c_runtime) {
    const attnrt_status st = c.writer == Writer::c ? attnrt_cache_write(&src, &cache, &scale, slots)
                                                   : attnrt_runtime_cache_write(on.c, &src, &cache, &scale, slots);
    return st == ATTNRT_OK ? "" : attnrt_last_error();
  }
  const attnrt::Tensor cpp_scale = to_cpp(scale);
  try {
    if (c.writer == Writer::cpp) attnrt::cache_write(to_cpp(src), to_cpp(cache), &cpp_scale, slots);
    else on.cpp->cache_write(to_cpp(src), to_cpp(cache), &cpp_scale, slots);
  } catch (const attnrt::Error& e) {
    return e.what();
  }
  return "";
}

// Quantized K/V of a written case: fp32 rows from U(-1, 1) stored by the
// case's writer into every slot a sequence reads (a shared page once), all
// KV heads of a slot per token; per-token scales written by it, per-head
// ones (drawn before) read. A write past a view's span faults on its guard
// page (the crash note names the case); into its padding, or a refusal,
// aborts here with the reason.
void write_serving_kv(Inputs& in, WriterRuntimes on, Rng& r) {
  const Case& c = in.spec;
  const std::int64_t rows = c.kv_shape(1)[2];
  std::vector<char> filled(c.kv_shape(1)[0] * rows, 0);
  std::vector<std::int64_t> slots;
  for (std::int64_t b = 0; b < c.seqs(); ++b)
    for (std::int64_t j = 0; j < c.keys(b); ++j)
      if (const auto [pb, row] = c.kv_slot(b, j); !std::exchange(filled[pb * rows + row], 1))
        slots.push_back(pb * rows + row);
  const std::int64_t tokens = static_cast<std::int64_t>(slots.size());
  if (tokens == 0) return;
  for (auto [t, scale, dim, name] : {std::tuple{&in.k, &in.k_scale, c.D, "k"}, std::tuple{&in.v, &in.v_scale, c.Dv, "v"}}) {
    std::vector<float> rows_in(static_cast<std::size_t>(tokens * c.Hkv * dim));
    for (float& x : rows_in) x = static_cast<float>(r.real(-1, 1));
    const attnrt_tensor src{rows_in.data(), ATTNRT_F32, {1, c.Hkv, tokens, dim}, {c.Hkv * tokens * dim, dim, c.Hkv * dim}};
    t->snapshot();
    (*scale)->snapshot();
    const std::string failed = write(c, on, src, t->view(), (*scale)->view(), slots.data());
    const char* why = !failed.empty()                ? failed.c_str()
                      : !t->padding_intact()         ? "wrote into the view's padding"
                      : !(*scale)->padding_intact()  ? "wrote into the scale view's padding"
                                                     : nullptr;
    // Each row back: its code the nearest to x / scale (the fp32 quotient,
    // saturated at the format's top) within half a step, so in its slot and
    // rounded right.
    const double top = test::code_to_double(c.kv_dtype, c.kv_dtype == ATTNRT_I8 ? 0x7f : c.kv_dtype == ATTNRT_F8_E4M3 ? 0x7e : 0x7b);
    const double rel = c.kv_dtype == ATTNRT_F8_E4M3 ? 0x1p-4 : 0x1p-3, sub = c.kv_dtype == ATTNRT_F8_E4M3 ? 0x1p-10 : 0x1p-17;
    for (std::int64_t i = 0; i < tokens && !why; ++i)
      for (std::int64_t hk = 0; hk < c.Hkv && !why; ++hk) {
        const std::int64_t pb = slots[i] / rows, row = slots[i] % rows;
        const auto [sb, sh, ss] = scale_index(c, pb, hk, row);
        const double sc = (*scale)->get(sb, sh, ss, 0);
        for (std::int64_t d = 0; d < dim && !why; ++d) {
          const float quotient = rows_in[(i * c.Hkv + hk) * dim + d] / static_cast<float>(sc);  // fp32, as promised
          const double want = std::clamp(static_cast<double>(quotient), -top, top);
          const double err = std::abs(t->get(pb, hk, row, d) - want);
          const double step = c.kv_dtype == ATTNRT_I8 ? 0.5 : std::max(std::abs(want) * rel, sub);
          if (!(err <= step * (1 + 1e-6))) why = "a code is not the nearest to its value";
        }
      }
    if (why) {
      std::fprintf(stderr, "attnrt-fuzz: attnrt_cache_write into %s: %s\n", name, why);
      std::abort();
    }
  }
}

// K and V of a serving case: the rows of every key a sequence has (a
// shared page once), values or codes with their scales; everything else
// keeps the NaN fill (int8: code -1, scale NaN).
void fill_serving_kv(Inputs& in, WriterRuntimes on, Rng& r) {
  const Case& c = in.spec;
  if (c.quantized()) {
    for (auto [scale, strides] : {std::pair{&in.k_scale, &c.k_scale_strides}, std::pair{&in.v_scale, &c.v_scale_strides}}) {
      scale->emplace(ATTNRT_F32, c.scale_shape(), *strides, kNanFill);
      if (c.scale_grain != ScaleGrain::token)
        for (std::int64_t h = 0; h < c.scale_shape()[1]; ++h) (*scale)->set(0, h, 0, 0, draw_scale(c, r));
    }
  }
  if (c.written) return write_serving_kv(in, on, r);
  const std::int64_t rows = c.kv_shape(1)[2];
  std::vector<char> filled(c.kv_shape(1)[0] * c.Hkv * rows, 0);
  for (std::int64_t b = 0; b < c.seqs(); ++b)
    for (std::int64_t j = 0; j < c.keys(b); ++j)
      for (std::int64_t hk = 0; hk < c.Hkv; ++hk) {
        const auto [pb, row] = c.kv_slot(b, j);
        if (std::exchange(filled[(pb * c.Hkv + hk) * rows + row], 1)) continue;
        for (auto [t, scale, dim] : {std::tuple{&in.k, &in.k_scale, c.D}, std::tuple{&in.v, &in.v_scale, c.Dv}}) {
          if (c.quantized() && c.scale_grain == ScaleGrain::token) (*scale)->set(pb, hk, row, 0, draw_scale(c, r));
          for (std::int64_t d = 0; d < dim; ++d) {
            if (c.quantized()) t->set_code(pb, hk, row, d, draw_code(c, r));
            else t->set(pb, hk, row, d, r.real(-1, 1));
          }
        }
      }
}

// What the reference reads: key j of sequence b at [b, hk, j] of a dense
// tensor, code * scale rounded once to fp32 (the product is exact in
// double), then to `dtype`. Dense K/V keep all N rows (bias and kv_lens
// index them).
void gather(const Case& c, const GuardedView& t, const std::optional<GuardedView>& scale, std::int64_t dim,
            attnrt_dtype dtype, std::optional<GuardedView>& into) {
  std::int64_t n = 1;
  for (std::int64_t b = 0; b < c.seqs(); ++b) n = std::max(n, c.varlen || c.paged ? c.keys(b) : c.N);
  GuardedView& out = into.emplace(dtype, GuardedView::Shape{c.B, c.Hkv, n, dim},
                                  GuardedView::Strides{c.Hkv * n * dim, n * dim, dim}, kNanFill);
  for (std::int64_t b = 0; b < c.seqs(); ++b)
    for (std::int64_t hk = 0; hk < c.Hkv; ++hk)
      for (std::int64_t j = 0; j < c.keys(b); ++j) {
        const auto [pb, row] = c.kv_slot(b, j);
        double s = 1;
        if (scale) {
          const auto [sb, sh, ss] = scale_index(c, pb, hk, row);
          s = scale->get(sb, sh, ss, 0);
        }
        for (std::int64_t d = 0; d < dim; ++d) out.set(b, hk, j, d, static_cast<float>(t.get(pb, hk, row, d) * s));
      }
}

}  // namespace

Inputs::Inputs(const Case& c, WriterRuntimes on)
    : q(c.dtype, c.q_shape(c.D), c.q_strides, kNanFill),
      k(c.kv_dtype, c.kv_shape(c.D), c.k_strides, kNanFill),
      v(c.kv_dtype, c.kv_shape(c.Dv), c.v_strides, kNanFill),
      o(c.dtype, c.q_shape(c.Dv), c.o_strides, kNanFill),
      kv_lens(c.kv_lens),
      spec(c) {
  Rng r(c.data_seed);
  fill_uniform(q, r);
  if (c.serving()) {
    fill_serving_kv(*this, on, r);
  } else {
    fill_uniform(k, r);
    fill_uniform(v, r);
  }
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
  if (c.lse) lse.emplace(ATTNRT_F32, c.q_shape(1), c.lse_strides, kNanFill);
  if (c.hidden_nonfinite) hide_non_finite(*this, params(), r);
  if (c.visible_nonfinite) (c.serving() ? place_non_finite_serving : place_non_finite)(*this, r);
  if (c.serving()) {
    gather(c, k, k_scale, c.D, ATTNRT_F32, k_ref);
    gather(c, v, v_scale, c.Dv, ATTNRT_F32, v_ref);
  }
  if (c.quantized() && c.dtype != ATTNRT_F32) {
    gather(c, k, k_scale, c.D, c.dtype, k_ref_q);
    gather(c, v, v_scale, c.Dv, c.dtype, v_ref_q);
  }
  for (GuardedView* t : {&q, &k, &v}) t->make_read_only();
  for (auto* t : {&bias, &k_scale, &v_scale})
    if (*t) (*t)->make_read_only();
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
  if (spec.varlen) {
    p.cu_seqlens_q = spec.cu_q.data();
    p.cu_seqlens_k = spec.cu_k.empty() ? nullptr : spec.cu_k.data();
    p.num_seqs = spec.seqs();
  }
  if (spec.paged) {
    p.block_table = spec.block_table.data();
    p.block_table_stride = spec.table_stride;
  }
  p.k_scale = k_scale ? &k_scale->view() : nullptr;
  p.v_scale = v_scale ? &v_scale->view() : nullptr;
  return p;
}

}  // namespace attnrt::fuzz
