// attnrt_mpi_forward under mpirun (ctest runs it on 1, 2, 3 and 4 ranks):
// every rank builds the same global problem (seeded from the spec's name),
// takes its shard, and checks its rows against the double reference and
// the single-process attnrt result; repeated runs give the same bits; rows
// that see no key give zeros and -inf; bad inputs give the same error on
// every rank.
#include <attnrt/attnrt_mpi.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <algorithm>
#include <cfenv>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "tests/caller_fp_env.hpp"
#include "tests/harness.hpp"

namespace attnrt::test {
namespace {

int rank_of(MPI_Comm c = MPI_COMM_WORLD) { int r; MPI_Comm_rank(c, &r); return r; }
int size_of(MPI_Comm c = MPI_COMM_WORLD) { int s; MPI_Comm_size(c, &s); return s; }

// Global row of local row i of rank r of p, holding `len` rows (the layouts
// of attnrt_mpi.h, stated again here).
std::int64_t global_row(attnrt_mpi_layout layout, int r, int p, std::int64_t len, std::int64_t i) {
  switch (layout) {
    case ATTNRT_MPI_CONTEXT_ZIGZAG: {
      const std::int64_t half = len / 2;
      return i < half ? r * half + i : (2 * p - 1 - r) * half + (i - half);
    }
    case ATTNRT_MPI_CONTEXT:
    case ATTNRT_MPI_KEYS: return r * len + i;
    case ATTNRT_MPI_HEADS: break;
  }
  return i;
}

// Rows [.., rows, ..] of a global tensor picked by `row` into a new tensor.
template <class Row>
HostTensor shard(const HostTensor& g, std::int64_t rows, Row row, Layout layout = Layout::bshd) {
  const auto s = g.shape();
  HostTensor t(g.dtype(), {s[0], s[1], rows, s[3]}, layout, kNanFill);
  for (std::int64_t b = 0; b < s[0]; ++b)
    for (std::int64_t h = 0; h < s[1]; ++h)
      for (std::int64_t i = 0; i < rows; ++i)
        for (std::int64_t d = 0; d < s[3]; ++d) t.set(b, h, i, d, g.get(b, h, row(i), d));
  return t;
}

// How each rank keeps its keys (but head parallel's): dense, or in pages
// of `page` keys in a pool of its own, shuffled ([pages, Hkv, page, D], or
// [pages, page, Hkv, D] token-major), at q's dtype or as int8/fp8 codes
// with an fp32 scale per (token, head) (with fp32 Q: the reference's K/V
// are code x scale rounded to q's dtype, the core's may keep fp32).
struct Cache {
  int page = 0;                     // 0: dense [B, Hkv, n, D]
  attnrt_dtype codes = ATTNRT_F32;  // ATTNRT_F32: not quantized
  bool token_major = false;
  bool head_scales = false;  // one scale per KV head ([1, Hkv, 1, 1], broadcast), not per token
  bool quantized() const { return codes != ATTNRT_F32; }
};

// One distributed case: a global spec (M and N the whole sequences), cut by
// `layout` over the ranks of WORLD.
struct Case {
  Spec spec;  // M, N: per rank for the context layouts, scaled below
  attnrt_mpi_layout layout;
  Cache cache{};  // not with ATTNRT_MPI_HEADS
};

struct Result {
  HostTensor o;
  std::optional<HostTensor> lse;
  attnrt_mpi_stats stats{};
};

const char* layout_name(attnrt_mpi_layout l) {
  static const char* names[] = {"context", "zigzag", "keys", "heads"};
  return names[l];
}
std::string cache_name(const Cache& c) {
  std::string name;
  if (c.page) name += "_paged" + std::to_string(c.page) + (c.token_major ? "tm" : "");
  if (c.quantized()) name += std::string("_") + dtype_name(c.codes) + (c.head_scales ? "_headscale" : "");
  return name;
}
void PrintTo(const Case& c, std::ostream* os) { *os << layout_name(c.layout) << " " << c.spec.name() << cache_name(c.cache); }

class Distributed {
 public:
  // edit: changes the global problem's inputs before they are sharded.
  explicit Distributed(Case c, const std::function<void(Problem&)>& edit = {})
      : c_(c), p_(size_of()), r_(rank_of()) {
    Spec& g = c_.spec;
    m_ = g.M, n_ = g.N;
    if (c.layout == ATTNRT_MPI_CONTEXT || c.layout == ATTNRT_MPI_CONTEXT_ZIGZAG) g.M *= p_;
    if (c.layout != ATTNRT_MPI_HEADS) g.N *= p_;
    if (c.layout == ATTNRT_MPI_KEYS) m_ = g.M;
    if (c.layout != ATTNRT_MPI_HEADS)  // key lengths of the global sequences: as given per rank, times the ranks
      for (std::int64_t& len : g.kv_lens) len *= p_;
    problem_.emplace(g);
    if (edit) edit(*problem_);
    // Members only: q_row_ keeps q_row past the constructor.
    const auto kv_row = [this](std::int64_t i) {
      return global_row(c_.layout == ATTNRT_MPI_KEYS ? ATTNRT_MPI_CONTEXT : c_.layout, r_, p_, n_, i);
    };
    const auto q_row = [this](std::int64_t i) { return c_.layout == ATTNRT_MPI_KEYS ? i : global_row(c_.layout, r_, p_, m_, i); };
    if (c.layout == ATTNRT_MPI_HEADS) {
      // Heads split as evenly as GQA groups allow: rank r takes KV heads
      // [r*Hkv/p, (r+1)*Hkv/p) and their query heads (maybe none).
      kv0_ = r_ * g.Hkv / p_, kv1_ = (r_ + 1) * g.Hkv / p_;
      const std::int64_t group = g.Hq / g.Hkv;
      q_.emplace(heads(problem_->q(), kv0_ * group, kv1_ * group));
      k_.emplace(heads(problem_->k(), kv0_, kv1_));
      v_.emplace(heads(problem_->v(), kv0_, kv1_));
      if (const HostTensor* bias = problem_->bias(); bias && bias->shape()[1] != 1)
        bias_.emplace(heads(*bias, kv0_ * group, kv1_ * group));
    } else {
      if (c.cache.quantized()) quantize();
      q_.emplace(shard(problem_->q(), m_, q_row));
      k_.emplace(shard(problem_->k(), n_, kv_row, Layout::bhsd));
      v_.emplace(shard(problem_->v(), n_, kv_row));
      if (c.cache.page || c.cache.quantized()) keep_cache();
      // A bias over the rank's rows and the keys they see: all keys on the
      // ring, its own in the key layout.
      if (const HostTensor* bias = problem_->bias()) {
        const auto bs = bias->shape();
        const bool keys = c.layout == ATTNRT_MPI_KEYS;
        bias_.emplace(ATTNRT_F32, HostTensor::Shape{bs[0], bs[1], m_, keys ? n_ : g.N}, Layout::bhsd, kNanFill);
        for (std::int64_t b = 0; b < bs[0]; ++b)
          for (std::int64_t h = 0; h < bs[1]; ++h)
            for (std::int64_t i = 0; i < m_; ++i)
              for (std::int64_t j = 0; j < (keys ? n_ : g.N); ++j) bias_->set(b, h, i, j, bias->get(b, h, q_row(i), keys ? kv_row(j) : j));
      }
    }
    q_row_ = q_row;
  }

  Result run(MPI_Comm comm = MPI_COMM_WORLD) {
    const auto s = q_->shape();
    Result res{HostTensor(c_.spec.dtype, {s[0], s[1], s[2], c_.spec.Dv}, Layout::bhsd, kCanaryFill), std::nullopt, {}};
    if (c_.spec.lse) res.lse.emplace(ATTNRT_F32, HostTensor::Shape{s[0], s[1], s[2], 1}, Layout::bhsd, kCanaryFill);
    attnrt_mpi_params mp;
    attnrt_mpi_params_init(&mp);
    mp.attn = problem_->params(res.lse ? &res.lse->c() : nullptr, kernels::Strategy::online);
    mp.attn.strategy = ATTNRT_STRATEGY_AUTO;
    if (c_.layout == ATTNRT_MPI_HEADS) {  // the per-head arrays of this rank's heads
      const std::int64_t h0 = kv0_ * (c_.spec.Hq / c_.spec.Hkv);
      if (mp.attn.alibi_slopes) mp.attn.alibi_slopes += h0;
      if (mp.attn.sinks) mp.attn.sinks += h0;
    }
    if (bias_) mp.attn.bias = &bias_->c();
    mp.layout = c_.layout;
    mp.stats = &res.stats;
    const attnrt_tensor *k = &k_->c(), *v = &v_->c();
    if (cache_k_) {  // the rank's pools or codes, as a server keeps them
      k = &cache_k_->c(), v = &cache_v_->c();
      if (scale_k_) mp.attn.k_scale = &scale_k_->c(), mp.attn.v_scale = &scale_v_->c();
      if (c_.cache.page) {
        mp.attn.block_table = table_.data(), mp.attn.block_table_stride = n_ / c_.cache.page;
        mp.attn.kv_lens = lens_.data();
      }
    }
    const attnrt_status st = attnrt_mpi_forward(comm, &q_->c(), k, v, &res.o.c(), &mp);
    EXPECT_EQ(st, ATTNRT_OK) << attnrt_mpi_last_error();
    return res;
  }

  // This rank's rows against the double reference and single-process attnrt.
  void expect_matches(const Result& res) {
    const Spec& g = c_.spec;
    const RefResult ref = problem_->reference();
    HostTensor single(g.dtype, {g.B, g.Hq, g.M, g.Dv}, Layout::bhsd, kCanaryFill);
    const attnrt_params sp = problem_->params(nullptr, kernels::Strategy::online);
    ASSERT_EQ(attnrt_attention_forward(&problem_->q().c(), &problem_->k().c(), &problem_->v().c(), &single.c(), &sp), ATTNRT_OK)
        << attnrt_last_error();
    const Tolerance tol = tolerance(g.dtype, g.precision);
    const auto s = res.o.shape();
    const std::int64_t h0 = c_.layout == ATTNRT_MPI_HEADS ? kv0_ * (g.Hq / g.Hkv) : 0;
    int bad = 0;
    for (std::int64_t b = 0; b < s[0]; ++b)
      for (std::int64_t h = 0; h < s[1]; ++h)
        for (std::int64_t i = 0; i < s[2]; ++i) {
          const std::int64_t gi = c_.layout == ATTNRT_MPI_HEADS ? i : q_row_(i);
          const std::int64_t row = (b * g.Hq + h0 + h) * g.M + gi;
          const double lref = ref.lse[row];
          for (std::int64_t d = 0; d < g.Dv; ++d) {
            const double got = res.o.get(b, h, i, d), want = ref.o[row * g.Dv + d];
            const double one = single.get(b, h0 + h, gi, d);
            if (std::isinf(lref) && got != 0.0) ++bad;  // a row that sees no key: exactly 0
            const bool close = (got == want || std::abs(got - want) <= tol.o) &&  // (== for an inf in V's column)
                               (got == one || std::abs(got - one) <= 2 * tol.o);
            if (!close) {
              if (bad++ < 5)
                ADD_FAILURE() << "rank " << r_ << " b" << b << " h" << h << " row " << gi << " d" << d << ": got " << got
                              << ", reference " << want << ", single-process " << one;
            }
          }
          if (res.lse) {
            const double l = res.lse->get(b, h, i, 0);
            const bool ok = std::isinf(lref) ? (std::isinf(l) && l < 0) : std::abs(l - lref) <= lse_tolerance(tol, lref);
            if (!ok && bad++ < 5) ADD_FAILURE() << "rank " << r_ << " lse row " << gi << ": " << l << " vs " << lref;
          }
        }
    EXPECT_EQ(bad, 0);
    EXPECT_TRUE(res.o.outside_intact());
    if (res.lse) {
      EXPECT_TRUE(res.lse->outside_intact());
    }
  }

 private:
  // Draws the global K and V as codes with a scale per (token, head), the
  // same on every rank, and makes the problem's K and V their values (code
  // x scale in fp32, as the core computes them).
  void quantize() {
    const Spec& g = c_.spec;
    const attnrt_dtype t = c_.cache.codes;
    std::mt19937 rng(seed_of(g.name() + "codes"));
    const double top = t == ATTNRT_I8 ? 127 : t == ATTNRT_F8_E4M3 ? 448 : 57344;  // largest code value
    std::uniform_real_distribution<double> u(0.5 / top, 1.0 / top);
    for (auto [codes, scales, values] : {std::tuple{&codes_k_, &scales_k_, &problem_->k()}, {&codes_v_, &scales_v_, &problem_->v()}}) {
      const auto sh = values->shape();
      codes->emplace(t, sh, Layout::bhsd, 0);
      scales->emplace(ATTNRT_F32, HostTensor::Shape{sh[0], sh[1], sh[2], 1}, Layout::bhsd, 0);
      for (std::int64_t b = 0; b < sh[0]; ++b)
        for (std::int64_t h = 0; h < sh[1]; ++h)
          for (std::int64_t j = 0; j < sh[2]; ++j) {
            // (per head: head h's first token's draw for all of its tokens)
            const float scale = !c_.cache.head_scales || (b == 0 && j == 0) ? static_cast<float>(u(rng))
                                                                               : static_cast<float>((*scales)->get(0, h, 0, 0));
            (*scales)->set(b, h, j, 0, scale);
            for (std::int64_t d = 0; d < sh[3]; ++d) {
              std::uint8_t code;
              do code = static_cast<std::uint8_t>(rng());  // any finite code (int8: not -128)
              while (t == ATTNRT_I8 ? code == 0x80 : t == ATTNRT_F8_E4M3 ? (code & 0x7f) == 0x7f : (code & 0x7c) == 0x7c);
              (*codes)->set_code(b, h, j, d, code);
              values->set(b, h, j, d, static_cast<float>((*codes)->get(b, h, j, d)) * scale);
            }
          }
    }
  }

  // This rank's n keys as the case keeps them: dense codes and scales, or
  // pages of both pools (and of the scales), shuffled among two pages no
  // sequence names (NaN, or code 0xff).
  void keep_cache() {
    const Spec& g = c_.spec;
    const Cache& cc = c_.cache;
    const std::int64_t page = cc.page ? cc.page : n_, pps = n_ / page, pages = cc.page ? g.B * pps + 2 : g.B;
    ASSERT_EQ(n_ % page, 0) << "a case's keys per rank fill its pages";
    std::vector<std::int32_t> perm(static_cast<std::size_t>(pages));
    for (std::int64_t i = 0; i < pages; ++i) perm[i] = static_cast<std::int32_t>(i);
    if (cc.page) std::shuffle(perm.begin(), perm.end(), std::mt19937(seed_of(g.name()) + r_));
    const Layout layout = cc.token_major ? Layout::bshd : Layout::bhsd;
    const auto place = [&](std::int64_t b, std::int64_t j) {  // local key j of sequence b: (page, row)
      return std::pair{cc.page ? perm[b * pps + j / page] : b, cc.page ? j % page : j};
    };
    for (auto [cache, scale, values, codes, scales] :
         {std::tuple{&cache_k_, &scale_k_, &problem_->k(), &codes_k_, &scales_k_},
          {&cache_v_, &scale_v_, &problem_->v(), &codes_v_, &scales_v_}}) {
      const auto sh = values->shape();
      cache->emplace(cc.codes == ATTNRT_F32 ? g.dtype : cc.codes, HostTensor::Shape{pages, sh[1], page, sh[3]}, layout, kNanFill);
      if (cc.quantized())
        scale->emplace(ATTNRT_F32, cc.head_scales ? HostTensor::Shape{1, sh[1], 1, 1} : HostTensor::Shape{pages, sh[1], page, 1},
                       layout, kNanFill);
      for (std::int64_t b = 0; b < sh[0]; ++b)
        for (std::int64_t h = 0; h < sh[1]; ++h)
          for (std::int64_t j = 0; j < n_; ++j) {
            const auto [pg, row] = place(b, j);
            const std::int64_t gj = global_row(c_.layout == ATTNRT_MPI_KEYS ? ATTNRT_MPI_CONTEXT : c_.layout, r_, p_, n_, j);
            for (std::int64_t d = 0; d < sh[3]; ++d)
              if (cc.quantized())
                (*cache)->set_code(pg, h, row, d, static_cast<std::uint8_t>((*codes)->bits(b, h, gj, d)));
              else
                (*cache)->set(pg, h, row, d, values->get(b, h, gj, d));
            if (cc.quantized()) (*scale)->set(cc.head_scales ? 0 : pg, h, cc.head_scales ? 0 : row, 0, (*scales)->get(b, h, gj, 0));
          }
    }
    if (!cc.page) return;
    for (std::int64_t b = 0; b < g.B; ++b)
      for (std::int64_t s = 0; s < pps; ++s) table_.push_back(perm[b * pps + s]);
    lens_ = g.kv_lens.empty() ? std::vector<std::int64_t>(static_cast<std::size_t>(g.B), g.N) : g.kv_lens;
  }

  static HostTensor heads(const HostTensor& g, std::int64_t h0, std::int64_t h1) {
    const auto s = g.shape();
    HostTensor t(g.dtype(), {s[0], std::max<std::int64_t>(h1 - h0, 1), s[2], s[3]}, Layout::bhsd, kNanFill);
    for (std::int64_t b = 0; b < s[0]; ++b)
      for (std::int64_t h = h0; h < h1; ++h)
        for (std::int64_t i = 0; i < s[2]; ++i)
          for (std::int64_t d = 0; d < s[3]; ++d) t.set(b, h - h0, i, d, g.get(b, h, i, d));
    return t;
  }

  Case c_;
  int p_, r_;
  std::int64_t m_ = 0, n_ = 0, kv0_ = 0, kv1_ = 0;
  std::optional<Problem> problem_;
  std::optional<HostTensor> q_, k_, v_;
  std::optional<HostTensor> codes_k_, codes_v_, scales_k_, scales_v_;  // the global codes (quantized cases)
  std::optional<HostTensor> cache_k_, cache_v_, scale_k_, scale_v_;    // this rank's, as Cache says
  std::optional<HostTensor> bias_;  // this rank's part of the bias
  std::vector<std::int32_t> table_;
  std::vector<std::int64_t> lens_;
  std::function<std::int64_t(std::int64_t)> q_row_;
};

// Bits of a result, to compare runs.
std::vector<std::uint32_t> bits(const HostTensor& t) {
  std::vector<std::uint32_t> out;
  const auto s = t.shape();
  for (std::int64_t b = 0; b < s[0]; ++b)
    for (std::int64_t h = 0; h < s[1]; ++h)
      for (std::int64_t i = 0; i < s[2]; ++i)
        for (std::int64_t d = 0; d < s[3]; ++d) out.push_back(t.bits(b, h, i, d));
  return out;
}

class Forward : public ::testing::TestWithParam<Case> {};

TEST_P(Forward, MatchesSingleProcessAndRepeats) {
  Distributed dist(GetParam());
  const Result first = dist.run();
  dist.expect_matches(first);
  const Result again = dist.run();
  EXPECT_EQ(bits(first.o), bits(again.o)) << "a second run gave other bits";
  if (first.lse) {
    EXPECT_EQ(bits(*first.lse), bits(*again.lse));
  }
  EXPECT_EQ(first.stats.steps, GetParam().layout <= ATTNRT_MPI_CONTEXT_ZIGZAG ? size_of() : 1);
}

Spec spec(attnrt_dtype t, std::int64_t hq, std::int64_t hkv, std::int64_t m, std::int64_t n, std::int64_t d, bool causal,
          attnrt_causal_align align = ATTNRT_ALIGN_BOTTOM_RIGHT) {
  Spec s;
  s.dtype = t, s.B = 2, s.Hq = hq, s.Hkv = hkv, s.M = m, s.N = n, s.D = d, s.Dv = d, s.causal = causal, s.align = align;
  return s;
}

// A spec with more of the core's inputs set by `edit`.
template <class Edit>
Spec with(Spec s, Edit edit) {
  edit(s);
  return s;
}
const auto alibi_sinks = [](Spec& s) { s.alibi = s.sinks = true; };

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(layout_name(info.param.layout)) + "_" + info.param.spec.name() + cache_name(info.param.cache);
}

INSTANTIATE_TEST_SUITE_P(
    Mpi, Forward,
    ::testing::Values(
        // Context parallel, odd shards, GQA, not causal and causal, both alignments.
        Case{spec(ATTNRT_F32, 4, 2, 37, 37, 40, false), ATTNRT_MPI_CONTEXT},
        Case{spec(ATTNRT_F32, 4, 2, 37, 37, 40, true), ATTNRT_MPI_CONTEXT},
        Case{spec(ATTNRT_F16, 4, 1, 24, 24, 64, true), ATTNRT_MPI_CONTEXT},
        Case{spec(ATTNRT_BF16, 2, 2, 24, 24, 64, true), ATTNRT_MPI_CONTEXT},
        // More queries than keys, bottom-right: the first ranks' rows see no key.
        Case{spec(ATTNRT_F32, 2, 1, 20, 6, 32, true), ATTNRT_MPI_CONTEXT},
        Case{spec(ATTNRT_F32, 2, 1, 6, 20, 32, true, ATTNRT_ALIGN_TOP_LEFT), ATTNRT_MPI_CONTEXT},
        // Shards large enough for the core's multi-block paths.
        Case{spec(ATTNRT_F32, 2, 1, 160, 160, 128, true), ATTNRT_MPI_CONTEXT},
        Case{spec(ATTNRT_BF16, 2, 2, 128, 128, 128, true), ATTNRT_MPI_CONTEXT_ZIGZAG},
        // Zig-zag, every dtype.
        Case{spec(ATTNRT_F32, 4, 2, 34, 34, 48, true), ATTNRT_MPI_CONTEXT_ZIGZAG},
        Case{spec(ATTNRT_F16, 4, 4, 16, 16, 64, true), ATTNRT_MPI_CONTEXT_ZIGZAG},
        Case{spec(ATTNRT_BF16, 4, 2, 16, 16, 64, true), ATTNRT_MPI_CONTEXT_ZIGZAG},
        Case{spec(ATTNRT_F32, 2, 2, 22, 10, 32, true), ATTNRT_MPI_CONTEXT_ZIGZAG},
        // Decode: few rows against sharded keys; with 2 keys per rank and 7
        // rows, some ranks' keys are all beyond some rows (empty shards).
        Case{spec(ATTNRT_F32, 8, 2, 3, 50, 64, false), ATTNRT_MPI_KEYS},
        Case{spec(ATTNRT_F32, 8, 2, 7, 2, 64, true), ATTNRT_MPI_KEYS},
        Case{spec(ATTNRT_F16, 4, 4, 1, 33, 128, true), ATTNRT_MPI_KEYS},
        Case{spec(ATTNRT_BF16, 4, 1, 4, 16, 64, true, ATTNRT_ALIGN_TOP_LEFT), ATTNRT_MPI_KEYS},
        // ALiBi and sinks: each call's bias is the global one moved by the
        // pair's offset (given back in the merge), sinks join once at the end.
        Case{with(spec(ATTNRT_F32, 4, 2, 37, 37, 40, true), alibi_sinks), ATTNRT_MPI_CONTEXT},
        Case{with(spec(ATTNRT_F32, 2, 1, 20, 6, 32, true), alibi_sinks), ATTNRT_MPI_CONTEXT},
        Case{with(spec(ATTNRT_BF16, 4, 2, 16, 16, 64, true), alibi_sinks), ATTNRT_MPI_CONTEXT_ZIGZAG},
        Case{with(spec(ATTNRT_F32, 4, 4, 24, 24, 32, false), [](Spec& s) { s.alibi = true; }), ATTNRT_MPI_CONTEXT_ZIGZAG},
        Case{with(spec(ATTNRT_F32, 8, 2, 3, 50, 64, false), alibi_sinks), ATTNRT_MPI_KEYS},
        Case{with(spec(ATTNRT_F16, 4, 4, 1, 33, 128, true), [](Spec& s) { s.sinks = true; }), ATTNRT_MPI_KEYS},
        // Offsets of thousands of keys, slopes up to 1/2 (biases of +-1500,
        // not causal: keys after a query count too).
        Case{with(spec(ATTNRT_F32, 8, 2, 2, 1024, 32, false), alibi_sinks), ATTNRT_MPI_KEYS},
        Case{with(spec(ATTNRT_F32, 8, 2, 256, 256, 32, false), alibi_sinks), ATTNRT_MPI_CONTEXT_ZIGZAG},
        // Decode batches of other lengths over a key-sharded cache: each
        // sequence's keys end on some rank (or none: length 0), its band
        // placed by its own length.
        Case{with(spec(ATTNRT_F32, 4, 2, 1, 20, 32, true), [](Spec& s) { s.kv_lens = {13, 0}; }), ATTNRT_MPI_KEYS},
        Case{with(spec(ATTNRT_BF16, 4, 4, 3, 16, 64, true), [](Spec& s) { s.kv_lens = {16, 5}, alibi_sinks(s); }),
             ATTNRT_MPI_KEYS},
        Case{with(spec(ATTNRT_F32, 2, 1, 4, 24, 32, false), [](Spec& s) { s.kv_lens = {2, 23}, s.window_left = 6; }),
             ATTNRT_MPI_KEYS},
        // Sequences shorter than the shards hold, in the ring: a block past a
        // sequence's end is no call, its band placed by its own length.
        Case{with(spec(ATTNRT_F32, 4, 2, 18, 18, 32, true), [](Spec& s) { s.kv_lens = {11, 18}; }), ATTNRT_MPI_CONTEXT},
        Case{with(spec(ATTNRT_BF16, 4, 2, 16, 16, 64, true), [](Spec& s) { s.kv_lens = {0, 9}, alibi_sinks(s); }),
             ATTNRT_MPI_CONTEXT_ZIGZAG},
        // Sliding windows, causal and not, across shard boundaries.
        Case{with(spec(ATTNRT_F32, 4, 2, 37, 37, 40, true), [](Spec& s) { s.window_left = 20; }), ATTNRT_MPI_CONTEXT},
        Case{with(spec(ATTNRT_F32, 2, 2, 22, 30, 32, false), [](Spec& s) { s.window_left = 9, s.window_right = 3; }),
             ATTNRT_MPI_CONTEXT},
        Case{with(spec(ATTNRT_F32, 4, 2, 34, 34, 48, true), [](Spec& s) { s.window_left = 25, alibi_sinks(s); }),
             ATTNRT_MPI_CONTEXT_ZIGZAG},
        Case{with(spec(ATTNRT_BF16, 4, 1, 4, 16, 64, true, ATTNRT_ALIGN_TOP_LEFT), [](Spec& s) { s.window_left = 5; }),
             ATTNRT_MPI_KEYS},
        // A key-sharded serving cache: each rank's keys in shuffled pages of
        // its own pool (1 to 16 keys, either pool layout), as int8 or fp8
        // codes with scales per token, dense codes too; GQA, kv_lens ending
        // on any rank, windows cut mid-page, ALiBi and sinks.
        Case{spec(ATTNRT_F32, 8, 2, 1, 48, 64, true), ATTNRT_MPI_KEYS, {16}},
        Case{with(spec(ATTNRT_BF16, 4, 2, 3, 32, 64, true), [](Spec& s) { s.kv_lens = {32, 5}; }), ATTNRT_MPI_KEYS,
             {8, ATTNRT_F32, true}},
        Case{spec(ATTNRT_F32, 4, 2, 2, 40, 64, true), ATTNRT_MPI_KEYS, {0, ATTNRT_I8}},
        Case{with(spec(ATTNRT_F32, 8, 2, 3, 64, 64, true), [](Spec& s) { s.window_left = 21, s.kv_lens = {50, 64}, alibi_sinks(s); }),
             ATTNRT_MPI_KEYS, {16, ATTNRT_I8}},
        Case{spec(ATTNRT_F32, 4, 4, 1, 12, 32, false), ATTNRT_MPI_KEYS, {1, ATTNRT_F8_E4M3, true}},
        Case{with(spec(ATTNRT_F32, 4, 1, 2, 20, 32, true), [](Spec& s) { s.window_left = 7; }), ATTNRT_MPI_KEYS,
             {5, ATTNRT_F8_E5M2}},
        // The ring over such caches: each rank's pages (and codes, with their
        // scales) gathered once into its first block.
        Case{spec(ATTNRT_F32, 4, 2, 37, 48, 40, true), ATTNRT_MPI_CONTEXT, {16, ATTNRT_I8}},
        Case{with(spec(ATTNRT_BF16, 4, 2, 16, 16, 64, true), [](Spec& s) { s.kv_lens = {0, 9}, alibi_sinks(s); }),
             ATTNRT_MPI_CONTEXT_ZIGZAG, {4, ATTNRT_F32, true}},
        Case{with(spec(ATTNRT_F32, 4, 2, 34, 34, 48, true), [](Spec& s) { s.window_left = 25; }), ATTNRT_MPI_CONTEXT_ZIGZAG,
             {0, ATTNRT_F8_E4M3}},
        // Scales per KV head, broadcast over tokens: spread per key in a ring
        // block, cut whole by the key layout's calls.
        Case{spec(ATTNRT_F32, 4, 2, 20, 24, 32, true), ATTNRT_MPI_CONTEXT, {8, ATTNRT_I8, false, true}},
        Case{spec(ATTNRT_F32, 4, 2, 2, 24, 32, true), ATTNRT_MPI_KEYS, {0, ATTNRT_F8_E5M2, true, true}},
        Case{spec(ATTNRT_F32, 4, 2, 2, 24, 32, true), ATTNRT_MPI_KEYS, {8, ATTNRT_I8, false, true}},
        // A bias (-inf entries, a row all -inf): a speculative tree's mask over
        // a rank's own keys, or a ring rank's rows over all keys; its columns
        // follow each call's keys, paged and quantized caches too.
        Case{with(spec(ATTNRT_F32, 4, 2, 4, 24, 32, true), [](Spec& s) { s.bias = BiasKind::full, s.bias_masked_row = true; }),
             ATTNRT_MPI_KEYS},
        Case{with(spec(ATTNRT_F32, 4, 2, 3, 40, 32, false), [](Spec& s) { s.bias = BiasKind::heads1, s.kv_lens = {29, 40}; }),
             ATTNRT_MPI_KEYS, {0, ATTNRT_I8}},
        Case{with(spec(ATTNRT_F32, 4, 2, 20, 20, 32, true), [](Spec& s) { s.bias = BiasKind::batch1, s.window_left = 9; }),
             ATTNRT_MPI_CONTEXT},
        Case{with(spec(ATTNRT_F32, 4, 2, 16, 16, 64, true), [](Spec& s) { s.bias = BiasKind::both1, alibi_sinks(s); }),
             ATTNRT_MPI_CONTEXT_ZIGZAG, {4, ATTNRT_I8}},
        Case{with(spec(ATTNRT_BF16, 4, 4, 12, 30, 32, true), [](Spec& s) { s.bias = BiasKind::full; }), ATTNRT_MPI_HEADS},
        // Head parallel, the rank's call the core's own: every input it takes.
        Case{spec(ATTNRT_F32, 8, 4, 40, 40, 64, true), ATTNRT_MPI_HEADS},
        Case{spec(ATTNRT_F16, 4, 4, 17, 30, 32, false), ATTNRT_MPI_HEADS},
        Case{with(spec(ATTNRT_F32, 8, 4, 9, 40, 64, true), [](Spec& s) { s.window_left = 7, s.kv_lens = {40, 0}, alibi_sinks(s); }),
             ATTNRT_MPI_HEADS}),
    case_name);

// An inf in V on a rank whose keys all score ~158 below rank 0's: its
// partial's weight, e^-158, is 0 in fp32, and the merge once made that
// column NaN where the reference and single-process attnrt keep the inf.
TEST(MpiForward, InfInVOfAShardFarBelowSurvivesTheMerge) {
  Distributed dist(Case{spec(ATTNRT_F32, 2, 1, 1, 16, 32, false), ATTNRT_MPI_KEYS}, [](Problem& p) {
    const auto [B, Hkv, N, D] = p.k().shape();
    for (std::int64_t b = 0; b < B; ++b) {
      for (std::int64_t h = 0; h < p.q().shape()[1]; ++h)
        for (std::int64_t d = 0; d < D; ++d) p.q().set(b, h, 0, d, 1.0);
      for (std::int64_t h = 0; h < Hkv; ++h)
        for (std::int64_t j = 0; j < N; ++j) {
          for (std::int64_t d = 0; d < D; ++d) p.k().set(b, h, j, d, j < 16 ? 14.0 : -14.0);  // scores +-79
          p.v().set(b, h, j, 0, j == N - 1 ? std::numeric_limits<double>::infinity() : 0.5);
        }
    }
  });
  dist.expect_matches(dist.run());
}

// The caller's rounding mode never reaches a result: the merges in double
// and the output's rounding run in the library's environment, as the
// core's do (ring and key layouts; head parallel is one core call).
TEST(MpiForward, TheCallersRoundingModeDoesNotReachTheResult) {
  for (const attnrt_mpi_layout layout : {ATTNRT_MPI_CONTEXT, ATTNRT_MPI_KEYS}) {
    SCOPED_TRACE(layout_name(layout));
    Distributed dist(Case{with(spec(ATTNRT_F32, 4, 2, 8, 16, 32, true), alibi_sinks), layout});
    const Result nearest = dist.run();
    const Result upward = [&] {
      const CallerFpEnv env({.rounding = FE_UPWARD});
      return dist.run();
    }();
    EXPECT_EQ(bits(nearest.o), bits(upward.o));
    if (nearest.lse) {
      EXPECT_EQ(bits(*nearest.lse), bits(*upward.lse));
    }
  }
}

// Random bands over every layout (head parallel too): windows on either side
// or both, causal or not, both alignments, shards of few and many rows,
// batches of one or two, V's width apart from K's, every dtype, ALiBi,
// sinks and softcap, a bias, sequences shorter than the keys
// the ranks hold (kv_lens), paged and quantized caches, each
// against the double reference and the single-process call. The specs are
// drawn from one seed, the same on every rank; ATTNRT_MPI_RANDOM_SEED and
// ATTNRT_MPI_RANDOM_CASES draw others, for a longer hunt by hand.
std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 0) : fallback;
}

TEST(MpiForward, RandomBandsMatch) {
  const std::uint64_t seed = env_or("ATTNRT_MPI_RANDOM_SEED", 20261201), cases = env_or("ATTNRT_MPI_RANDOM_CASES", 96);
  std::mt19937 rng(static_cast<std::uint32_t>(seed));
  const auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  for (std::uint64_t n = 0; n < cases; ++n) {
    const auto layout = static_cast<attnrt_mpi_layout>(pick(0, 3));
    // Head parallel gives each of up to 4 ranks a KV head at least.
    const std::int64_t hkv = layout == ATTNRT_MPI_HEADS ? 4 : pick(1, 4), m = 2 * pick(1, 12), keys = 2 * pick(1, 12);
    constexpr attnrt_dtype kDtypes[] = {ATTNRT_F32, ATTNRT_F32, ATTNRT_F16, ATTNRT_BF16};
    Spec s = spec(kDtypes[pick(0, 3)], hkv * pick(1, 2), hkv, layout == ATTNRT_MPI_KEYS ? pick(1, 5) : m,
                  keys, 32, pick(0, 1) == 1, pick(0, 1) ? ATTNRT_ALIGN_TOP_LEFT : ATTNRT_ALIGN_BOTTOM_RIGHT);
    s.B = pick(1, 2);
    if (pick(0, 1)) s.Dv = 8 * pick(2, 6);
    if (pick(0, 2)) s.window_left = pick(0, 3 * keys);
    if (pick(0, 2)) s.window_right = pick(0, 2 * keys);
    s.alibi = pick(0, 1) == 1, s.sinks = pick(0, 1) == 1;
    if (pick(0, 3) == 0) s.softcap = static_cast<float>(pick(5, 30));
    if (pick(0, 1))
      for (std::int64_t b = 0; b < s.B; ++b) s.kv_lens.push_back(pick(0, keys));
    Cache cache;  // a rank's keys dense or paged, quantized or not
    if (layout != ATTNRT_MPI_HEADS) {
      const std::int64_t pages[] = {0, 1, 2, keys / 2, keys};
      constexpr attnrt_dtype kCodes[] = {ATTNRT_F32, ATTNRT_F32, ATTNRT_I8, ATTNRT_F8_E4M3};
      cache = {static_cast<int>(pages[pick(0, 4)]), kCodes[pick(0, 3)], pick(0, 1) == 1};
      if (s.dtype != ATTNRT_F32) cache.codes = ATTNRT_F32;  // (the reference's K/V: code x scale at q's dtype)
    }
    constexpr BiasKind kBias[] = {BiasKind::none, BiasKind::none, BiasKind::full, BiasKind::heads1, BiasKind::both1};
    if (!(layout == ATTNRT_MPI_KEYS && cache.page)) s.bias = kBias[pick(0, 4)];  // (no bias with pages read in place)
    s.bias_masked_row = s.bias != BiasKind::none && pick(0, 1) == 1;
    SCOPED_TRACE(::testing::PrintToString(Case{s, layout, cache}));
    Distributed dist(Case{s, layout, cache});
    dist.expect_matches(dist.run());
  }
}

// Head parallel hands the core every input it takes: a paged int8 cache
// (scales per token), kv_lens, ALiBi and sinks give the core's own bits.
TEST(MpiHeads, ServingInputsPassThrough) {
  constexpr std::int64_t kB = 2, kH = 2, kD = 32, kPage = 8, kPages = 4;
  std::mt19937 rng(7 + rank_of());
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> q(kB * kH * kD), o1(q.size(), -7.0f), o2(q.size(), -7.0f);
  std::vector<std::int8_t> kc(kPages * kH * kPage * kD), vc(kc.size());
  std::vector<float> ks(kPages * kH * kPage), vs(ks.size());
  for (float& x : q) x = u(rng);
  for (std::size_t i = 0; i < kc.size(); ++i) kc[i] = static_cast<std::int8_t>(rng() % 255 - 127), vc[i] = static_cast<std::int8_t>(rng() % 255 - 127);
  for (std::size_t i = 0; i < ks.size(); ++i) ks[i] = 0.01f + 0.001f * (i % 7), vs[i] = 0.02f - 0.001f * (i % 5);
  const std::int32_t table[kB * 2] = {3, 0, 2, -1};  // sequence 1's second slot is past its keys
  const std::int64_t lens[kB] = {12, 5};
  const float slopes[kH] = {0.5f, 0.125f}, sinks[kH] = {0.3f, -1.0f};
  const attnrt_tensor tq{q.data(), ATTNRT_F32, {kB, kH, 1, kD}, {kH * kD, kD, kD}};
  const attnrt_tensor tk{kc.data(), ATTNRT_I8, {kPages, kH, kPage, kD}, {kH * kPage * kD, kPage * kD, kD}};
  const attnrt_tensor tv{vc.data(), ATTNRT_I8, {kPages, kH, kPage, kD}, {kH * kPage * kD, kPage * kD, kD}};
  const attnrt_tensor tks{ks.data(), ATTNRT_F32, {kPages, kH, kPage, 1}, {kH * kPage, kPage, 1}};
  const attnrt_tensor tvs{vs.data(), ATTNRT_F32, {kPages, kH, kPage, 1}, {kH * kPage, kPage, 1}};
  attnrt_tensor to1{o1.data(), ATTNRT_F32, {kB, kH, 1, kD}, {kH * kD, kD, kD}}, to2 = to1;
  to2.data = o2.data();
  attnrt_mpi_params mp;
  attnrt_mpi_params_init(&mp);
  mp.layout = ATTNRT_MPI_HEADS;
  attnrt_params& a = mp.attn;
  a.block_table = table, a.block_table_stride = 2, a.kv_lens = lens, a.k_scale = &tks, a.v_scale = &tvs;
  a.alibi_slopes = slopes, a.sinks = sinks, a.causal = 1;
  ASSERT_EQ(attnrt_mpi_forward(MPI_COMM_WORLD, &tq, &tk, &tv, &to1, &mp), ATTNRT_OK) << attnrt_mpi_last_error();
  ASSERT_EQ(attnrt_attention_forward(&tq, &tk, &tv, &to2, &a), ATTNRT_OK) << attnrt_last_error();
  EXPECT_EQ(std::memcmp(o1.data(), o2.data(), o1.size() * sizeof(float)), 0);
  EXPECT_NE(o1[0], -7.0f);
}

// Continuous batching over a key-sharded paged cache: packed query rows
// (cu_seqlens_q: a decode row, a prefill chunk, a sequence with no rows
// now, one with no keys yet) against each rank's pages of every sequence's
// keys [r n, (r + 1) n), fp32 or int8 codes with scales per token; each
// sequence against the double reference on its own keys.
TEST(MpiKeys, PackedRowsOverAPagedCacheMatch) {
  constexpr std::int64_t kHq = 4, kHkv = 2, kD = 32, kPage = 8, kSlots = 3, kN = kPage * kSlots;  // n keys a rank
  const int p = size_of(), r = rank_of();
  const std::vector<std::int32_t> m = {1, 3, 0, 5, 2};
  const std::vector<std::int64_t> len = {kN * p - 1, 5, 2 * p, kN * p, 0};
  const std::int64_t seqs = static_cast<std::int64_t>(m.size());
  std::vector<std::int32_t> cu{0};
  for (std::int32_t x : m) cu.push_back(cu.back() + x);
  for (const bool codes : {false, true}) {
    SCOPED_TRACE(codes ? "int8 codes" : "fp32");
    std::mt19937 rng(codes ? 5 : 6);  // the same global problem on every rank
    std::uniform_real_distribution<double> u(-1.0, 1.0), scale(0.004, 0.008);
    HostTensor q(ATTNRT_F32, {1, kHq, cu.back(), kD}, Layout::bhsd, kNanFill);
    q.fill_uniform(rng);
    const HeadTerms heads(kHq, !codes, !codes, rng);
    // Every sequence's keys, dense (the reference's), and as the ranks keep them.
    std::vector<HostTensor> kd, vd;
    const attnrt_dtype kv_type = codes ? ATTNRT_I8 : ATTNRT_F32;
    const std::int64_t pages = seqs * kSlots + 1;
    HostTensor kp(kv_type, {pages, kHkv, kPage, kD}, Layout::bhsd, kNanFill), vp(kp.dtype(), kp.shape(), Layout::bhsd, kNanFill);
    HostTensor ks(ATTNRT_F32, {pages, kHkv, kPage, 1}, Layout::bhsd, kNanFill), vs(ks.dtype(), ks.shape(), Layout::bhsd, kNanFill);
    std::vector<std::int32_t> perm(static_cast<std::size_t>(pages));
    for (std::int64_t i = 0; i < pages; ++i) perm[i] = static_cast<std::int32_t>(i);
    std::shuffle(perm.begin(), perm.end(), std::mt19937(40 + r));
    for (std::int64_t b = 0; b < seqs; ++b) {
      kd.emplace_back(ATTNRT_F32, HostTensor::Shape{1, kHkv, std::max<std::int64_t>(len[b], 1), kD}, Layout::bhsd, kNanFill);
      vd.emplace_back(ATTNRT_F32, kd.back().shape(), Layout::bhsd, kNanFill);
      for (auto [dense, pool, scales] : {std::tuple{&kd.back(), &kp, &ks}, {&vd.back(), &vp, &vs}})
        for (std::int64_t h = 0; h < kHkv; ++h)
          for (std::int64_t j = 0; j < len[b]; ++j) {
            const std::int64_t local = j - r * kN;
            const bool mine = local >= 0 && local < kN;
            const std::int64_t page = mine ? perm[b * kSlots + local / kPage] : -1, row = local % kPage;
            const float sc = static_cast<float>(scale(rng));
            if (mine && codes) scales->set(page, h, row, 0, sc);
            for (std::int64_t d = 0; d < kD; ++d) {
              const std::int8_t c = static_cast<std::int8_t>(rng() % 255 - 127);
              const double x = codes ? static_cast<double>(static_cast<float>(c) * sc) : u(rng);
              dense->set(0, h, j, d, x);
              if (!mine) continue;
              if (codes) pool->set_code(page, h, row, d, static_cast<std::uint8_t>(c));
              else pool->set(page, h, row, d, x);
            }
          }
    }
    HostTensor o(ATTNRT_F32, q.shape(), Layout::bhsd, kCanaryFill), lse(ATTNRT_F32, {1, kHq, cu.back(), 1}, Layout::bhsd, kCanaryFill);
    attnrt_mpi_params mp;
    attnrt_mpi_params_init(&mp);
    mp.layout = ATTNRT_MPI_KEYS;
    mp.attn = masked_params(!codes, ATTNRT_ALIGN_BOTTOM_RIGHT, codes ? -1 : 7, -1, heads, ATTNRT_STRATEGY_AUTO);
    std::vector<std::int32_t> table(perm.begin(), perm.begin() + seqs * kSlots);
    mp.attn.block_table = table.data(), mp.attn.block_table_stride = kSlots, mp.attn.kv_lens = len.data();
    mp.attn.cu_seqlens_q = cu.data(), mp.attn.num_seqs = seqs, mp.attn.lse = &lse.c();
    if (codes) mp.attn.k_scale = &ks.c(), mp.attn.v_scale = &vs.c();
    ASSERT_EQ(attnrt_mpi_forward(MPI_COMM_WORLD, &q.c(), &kp.c(), &vp.c(), &o.c(), &mp), ATTNRT_OK) << attnrt_mpi_last_error();
    const attnrt_params rp = masked_params(!codes, ATTNRT_ALIGN_BOTTOM_RIGHT, codes ? -1 : 7, -1, heads, ATTNRT_STRATEGY_AUTO);
    for (std::int64_t b = 0; b < seqs; ++b) {
      if (m[b] == 0) continue;
      const RefResult ref = sequence_reference(q.c(), 0, cu[b], m[b], kd[b].c(), vd[b].c(), rp, len[b]);
      EXPECT_TRUE(matches_sequence(o, &lse, b, 0, cu[b], m[b], ref, tolerance(ATTNRT_F32, ATTNRT_EXP2_ACCURATE)));
    }
    EXPECT_TRUE(o.outside_intact());
    EXPECT_TRUE(lse.outside_intact());
  }
}

// ---- Bad inputs: the same error on every rank, never a hang --------------

// Every rank's message, gathered; they must all be equal and non-empty.
void expect_same_error_everywhere(attnrt_status st, const std::string& must_contain) {
  EXPECT_EQ(st, ATTNRT_INVALID_ARGUMENT);
  char mine[512] = {};
  std::strncpy(mine, attnrt_mpi_last_error(), sizeof mine - 1);
  std::vector<char> all(sizeof mine * size_of());
  MPI_Allgather(mine, sizeof mine, MPI_CHAR, all.data(), sizeof mine, MPI_CHAR, MPI_COMM_WORLD);
  for (int r = 0; r < size_of(); ++r) EXPECT_STREQ(all.data() + r * sizeof mine, mine) << "rank " << r << " said otherwise";
  EXPECT_NE(std::string(mine).find(must_contain), std::string::npos) << mine;
}

// Small fp32 inputs with default parameters; tests break one thing each.
struct Inputs {
  HostTensor q, k, v, o;
  attnrt_tensor qc, oc;  // the views passed (a test may bend them)
  attnrt_mpi_params p;
  Inputs(std::int64_t m, std::int64_t n, attnrt_dtype t = ATTNRT_F32)
      : q(t, {1, 2, m, 32}, Layout::bhsd, 0), k(t, {1, 2, n, 32}, Layout::bhsd, 0),
        v(t, {1, 2, n, 32}, Layout::bhsd, 0), o(t, {1, 2, m, 32}, Layout::bhsd, 0), qc(q.c()), oc(o.c()) {
    attnrt_mpi_params_init(&p);
  }
  attnrt_status run(MPI_Comm comm = MPI_COMM_WORLD) { return attnrt_mpi_forward(comm, &qc, &k.c(), &v.c(), &oc, &p); }
};

bool last_rank() { return rank_of() == size_of() - 1; }
std::string last_rank_says() { return "rank " + std::to_string(size_of() - 1) + ": "; }

// Ranks that differ from rank 0: every rank's error, or success on one rank
// (nobody to differ from).
void expect_disagreement_fails(attnrt_status st, const std::string& must_contain) {
  if (size_of() == 1) {
    EXPECT_EQ(st, ATTNRT_OK) << attnrt_mpi_last_error();
    return;
  }
  expect_same_error_everywhere(st, must_contain);
}

TEST(MpiErrors, ShardsOfOtherShapesFailOnEveryRank) {
  Inputs in(8, last_rank() && size_of() > 1 ? 9 : 8);
  in.p.attn.causal = 1;
  expect_disagreement_fails(in.run(), last_rank_says() + "k.seq (9) differs from rank 0's (8)");
}

TEST(MpiErrors, OneRanksBadArgumentFailsEveryRank) {
  Inputs in(8, 8);
  if (last_rank()) in.qc.data = nullptr;
  expect_same_error_everywhere(in.run(), last_rank_says() + "q.data must not be NULL");
}

TEST(MpiErrors, DifferentParametersFailEveryRank) {
  Inputs in(8, 8);
  in.p.attn.causal = rank_of() % 2;
  expect_disagreement_fails(in.run(), "rank 1: params.attn.causal (1) differs from rank 0's (0)");
}

// Shards of another dtype: the ring would carry blocks of other sizes
// (MPI_ERR_TRUNCATE) and the merge misread them.
TEST(MpiErrors, ShardsOfAnotherDtypeFailOnEveryRank) {
  for (attnrt_mpi_layout layout : {ATTNRT_MPI_CONTEXT, ATTNRT_MPI_KEYS}) {
    Inputs in(8, 8, last_rank() ? ATTNRT_F16 : ATTNRT_F32);
    in.p.layout = layout;
    expect_disagreement_fails(in.run(), last_rank_says() + "q.dtype (fp16) differs from rank 0's (fp32)");
  }
}

// attnrt_mpi writes o and lse itself on the ring and key paths: the core's
// rules for outputs hold there too.
TEST(MpiErrors, OverlappingOutputsAreRefused) {
  for (attnrt_mpi_layout layout : {ATTNRT_MPI_CONTEXT, ATTNRT_MPI_KEYS}) {
    Inputs rows(8, 8);
    rows.p.layout = layout;
    rows.oc.stride[2] = 1;  // rows of 32 one element apart
    expect_same_error_everywhere(rows.run(), "o.stride[seq] (1) makes elements of the output overlap");
    Inputs inside(8, 8);
    inside.p.layout = layout;
    attnrt_tensor lse = {inside.oc.data, ATTNRT_F32, {1, 2, 8, 1}, {16, 8, 1}};
    inside.p.attn.lse = &lse;
    expect_same_error_everywhere(inside.run(), "params.attn.lse overlaps o in memory");
  }
}

TEST(MpiErrors, ShapesPastTheCoresLimitsAreRefused) {
  Inputs in(8, 8);
  if (last_rank()) in.qc.shape[2] = std::int64_t{1} << 40;
  expect_same_error_everywhere(in.run(), last_rank_says() + "q.seq (1099511627776) must be at most 2147483647");
}

// Packed query rows: with ATTNRT_MPI_KEYS over a paged cache only, their
// offsets checked as the core checks them, the same on every rank.
TEST(MpiErrors, PackedRowsAreCheckedOrRefused) {
  Inputs in(8, 8);
  std::int32_t cu[3] = {0, 3, 8};
  in.p.layout = ATTNRT_MPI_KEYS;
  in.p.attn.cu_seqlens_q = cu, in.p.attn.num_seqs = 2;
  expect_same_error_everywhere(in.run(), "params.attn.cu_seqlens_q must be unset: attnrt_mpi takes packed query rows with "
                                         "ATTNRT_MPI_KEYS over a paged cache");
  attnrt_tensor pool = in.k.c();  // two pages of 4 keys
  pool.shape[0] = 2, pool.shape[2] = 4, pool.stride[0] = 4 * 32;
  const std::int32_t table[4] = {0, 1, 1, 0};
  const std::int64_t lens[2] = {3, 8 * size_of()};
  in.p.attn.block_table = table, in.p.attn.block_table_stride = 2, in.p.attn.kv_lens = lens;
  const auto run = [&] { return attnrt_mpi_forward(MPI_COMM_WORLD, &in.qc, &pool, &pool, &in.oc, &in.p); };
  ASSERT_EQ(run(), ATTNRT_OK) << attnrt_mpi_last_error();
  cu[1] = 9;
  expect_same_error_everywhere(run(), "params.attn.cu_seqlens_q[2] (8) must be >= params.attn.cu_seqlens_q[1] (9)");
  cu[1] = 3, cu[2] = 7;
  expect_same_error_everywhere(run(), "params.attn.cu_seqlens_q[2] (7) must equal q.seq (8)");
  cu[2] = 8;
  if (size_of() > 1) {
    if (last_rank()) cu[1] = 4;
    expect_same_error_everywhere(run(), "params.attn.cu_seqlens_q[1] differs between ranks (3 to 4)");
    cu[1] = 3;
    if (last_rank()) in.p.attn.num_seqs = 1, cu[1] = 8;
    expect_same_error_everywhere(run(), last_rank_says() + "params.attn.num_seqs (1) differs from rank 0's (2)");
  }
}

// Key lengths of the global sequences: the same on every rank, within what
// the ranks hold together.
TEST(MpiErrors, KeyLengthsMustAgreeAndFit) {
  Inputs in(1, 8);
  in.p.layout = ATTNRT_MPI_KEYS;
  const std::int64_t mine[1] = {last_rank() ? 3 : 4};
  in.p.attn.kv_lens = mine;
  expect_disagreement_fails(in.run(), "params.attn.kv_lens[0] differs between ranks (3 to 4)");
  const std::int64_t too_many[1] = {8 * size_of() + 1};
  in.p.attn.kv_lens = too_many;
  expect_same_error_everywhere(in.run(), "params.attn.kv_lens[0] (" + std::to_string(too_many[0]) +
                                             ") must be at most the keys all ranks hold (" + std::to_string(8 * size_of()));
}

// Sinks are applied by attnrt_mpi itself on the ring: checked before it.
// A paged cache: Inputs' K/V as a pool of one sequence's pages of 4 keys
// (8 a rank), its table checked where a rank reads it, in either kind of
// layout, naming the slot; ranks that disagree on the keys they hold or on
// K's dtype fail together; scales are checked against the caller's shapes.
TEST(MpiErrors, PagedCacheIsCheckedWhereARankReadsIt) {
  for (attnrt_mpi_layout layout : {ATTNRT_MPI_KEYS, ATTNRT_MPI_CONTEXT}) {
    SCOPED_TRACE(layout_name(layout));
    Inputs in(1, 8);
    attnrt_tensor pool = in.k.c();  // [1, 2, 8, 32] seen as 2 pages of 4 keys: [pages, Hkv, 4, D] by strides
    pool.shape[0] = 2, pool.shape[2] = 4, pool.stride[0] = 4 * 32;
    in.p.layout = layout;
    std::int32_t table[2] = {1, 0};
    const std::int64_t lens[1] = {8 * size_of() - 2};  // the last rank's second page holds 2 keys
    in.p.attn.block_table = table, in.p.attn.block_table_stride = 2, in.p.attn.kv_lens = lens;
    const auto run = [&] { return attnrt_mpi_forward(MPI_COMM_WORLD, &in.qc, &pool, &pool, &in.oc, &in.p); };
    ASSERT_EQ(run(), ATTNRT_OK) << attnrt_mpi_last_error();
    if (last_rank()) table[1] = 2;
    if (layout == ATTNRT_MPI_KEYS || size_of() > 1)  // (one rank of a ring layout is the core's own call: its message)
      expect_same_error_everywhere(
          run(), last_rank_says() + "params.attn.block_table[1] (2) must be a page of k and v (0 to 1): sequence 0's slot 1 holds keys it has");
    table[1] = 0;
    if (size_of() > 1) {
      if (last_rank()) in.p.attn.block_table_stride = 1;
      expect_same_error_everywhere(run(), last_rank_says() + "block_table_stride x k.seq (the keys a rank holds) (4) differs from rank 0's (8)");
      in.p.attn.block_table_stride = 2;
    }
    in.p.attn.kv_lens = nullptr;
    expect_same_error_everywhere(run(), "params.attn.kv_lens must be given with a block_table");
  }
  Inputs codes(8, 8);
  codes.p.layout = ATTNRT_MPI_KEYS;
  HostTensor kc(ATTNRT_I8, {1, 2, 8, 32}, Layout::bhsd, 0), scales(ATTNRT_F32, {1, 2, 5, 1}, Layout::bhsd, 0);
  codes.p.attn.k_scale = codes.p.attn.v_scale = &scales.c();
  const attnrt_tensor* k = last_rank() && size_of() > 1 ? &codes.k.c() : &kc.c();
  EXPECT_EQ(attnrt_mpi_forward(MPI_COMM_WORLD, &codes.qc, k, k, &codes.oc, &codes.p), ATTNRT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attnrt_mpi_last_error()).find("params.attn.k_scale.seq (5) must equal k.seq (8) or be 1"), std::string::npos)
      << attnrt_mpi_last_error();
  HostTensor good(ATTNRT_F32, {1, 2, 8, 1}, Layout::bhsd, 0);
  codes.p.attn.k_scale = codes.p.attn.v_scale = &good.c();
  codes.p.layout = ATTNRT_MPI_CONTEXT;
  if (size_of() > 1)
    expect_same_error_everywhere(attnrt_mpi_forward(MPI_COMM_WORLD, &codes.qc, k, k, &codes.oc, &codes.p),
                                 last_rank_says() + "k.dtype (fp32) differs from rank 0's (int8)");
}

// A bias's key dimension: all keys on the ring, the rank's own with
// ATTNRT_MPI_KEYS, which reads pages in place and takes no bias with them.
TEST(MpiErrors, BiasIsCheckedAgainstTheKeysItsRowsSee) {
  const std::int64_t all = 8 * size_of();
  for (auto [layout, keys] : {std::pair{ATTNRT_MPI_CONTEXT, all}, {ATTNRT_MPI_KEYS, std::int64_t{8}}}) {
    Inputs in(4, 8);
    in.p.layout = layout;
    HostTensor right(ATTNRT_F32, {1, 1, 4, keys}, Layout::bhsd, 0), wrong(ATTNRT_F32, {1, 1, 4, keys + 1}, Layout::bhsd, 0);
    in.p.attn.bias = &right.c();
    EXPECT_EQ(in.run(), ATTNRT_OK) << attnrt_mpi_last_error();
    in.p.attn.bias = &wrong.c();
    expect_same_error_everywhere(in.run(), "params.attn.bias.head_dim (its key dimension, " + std::to_string(keys + 1) +
                                               ") must equal the keys the rank's rows see (" + std::to_string(keys));
  }
  Inputs in(1, 8);
  attnrt_tensor pool = in.k.c();
  pool.shape[0] = 2, pool.shape[2] = 4, pool.stride[0] = 4 * 32;
  const std::int32_t table[2] = {0, 1};
  const std::int64_t lens[1] = {8};
  HostTensor bias(ATTNRT_F32, {1, 1, 1, 8}, Layout::bhsd, 0);
  in.p.layout = ATTNRT_MPI_KEYS;
  in.p.attn.block_table = table, in.p.attn.block_table_stride = 2, in.p.attn.kv_lens = lens, in.p.attn.bias = &bias.c();
  expect_same_error_everywhere(attnrt_mpi_forward(MPI_COMM_WORLD, &in.qc, &pool, &pool, &in.oc, &in.p),
                               "params.attn.bias is not supported with params.attn.block_table under ATTNRT_MPI_KEYS");
}

TEST(MpiErrors, BadSinkIsRefusedBeforeTheRing) {
  Inputs in(8, 8);
  const float sinks[2] = {0.0f, last_rank() ? std::numeric_limits<float>::quiet_NaN() : 1.0f};
  in.p.attn.sinks = sinks;
  expect_same_error_everywhere(in.run(), last_rank_says() + "params.attn.sinks[1] (nan) must be finite or -inf (no sink)");
}

TEST(MpiErrors, AlibiOnSomeRanksOnlyFailsEveryRank) {
  for (attnrt_mpi_layout layout : {ATTNRT_MPI_CONTEXT, ATTNRT_MPI_HEADS}) {
    Inputs in(8, 8);
    in.p.layout = layout;
    const float slopes[2] = {0.5f, 0.25f};
    if (last_rank()) in.p.attn.alibi_slopes = slopes;
    expect_disagreement_fails(in.run(), last_rank_says() + "params.attn.alibi_slopes is given where rank 0's is NULL");
  }
}

TEST(MpiErrors, DifferentWindowsFailEveryRank) {
  Inputs in(8, 8);
  in.p.attn.window_left = last_rank() ? 3 : 4;
  expect_disagreement_fails(in.run(), last_rank_says() + "params.attn.window_left (3) differs from rank 0's (4)");
}

// Rules only the core checks, broken on one rank: in the middle of the ring
// (q misaligned) the ring still completes, and every rank reports it.
TEST(MpiErrors, CoreErrorMidRingFailsEveryRank) {
  Inputs in(8, 8);
  if (last_rank()) in.qc.data = static_cast<char*>(in.qc.data) + 2;
  expect_same_error_everywhere(in.run(), last_rank_says() + "q.data must be aligned");
}

TEST(MpiErrors, CoreErrorInHeadParallelFailsEveryRank) {
  Inputs in(8, 8);
  in.p.layout = ATTNRT_MPI_HEADS;
  if (last_rank()) in.oc.data = in.qc.data;
  expect_same_error_everywhere(in.run(), "overlaps");
}

TEST(MpiErrors, NullCommunicator) {
  Inputs in(8, 8);
  expect_same_error_everywhere(in.run(MPI_COMM_NULL), "comm is MPI_COMM_NULL");
}

TEST(MpiErrors, ZigzagNeedsEvenShards) {
  Inputs in(7, 8);
  in.p.layout = ATTNRT_MPI_CONTEXT_ZIGZAG;
  expect_same_error_everywhere(in.run(), "must be even");
}

// A communicator of one rank (MPI_COMM_SELF) on every rank at once: no traffic.
TEST(MpiComm, SelfCommunicatorIsOneRank) {
  Distributed dist(Case{spec(ATTNRT_F32, 4, 4, 16, 16, 32, true), ATTNRT_MPI_HEADS});
  const Result r = dist.run(MPI_COMM_SELF);
  EXPECT_EQ(r.stats.bytes_sent, 0);
}

// Placement on the A64FX topology file: the node's ranks split its 4 CMGs
// (12 cores each), unless the domains are given.
TEST(MpiPlacement, RanksSplitTheCmgsOfAnA64fx) {
  attnrt_config cfg;
  ASSERT_EQ(attnrt_config_init(&cfg), ATTNRT_OK);
  cfg.topology = ATTNRT_TEST_DATA "/a64fx.xml";
  cfg.num_threads = 0;
  cfg.domains = nullptr;
  attnrt_runtime* rt = nullptr;
  ASSERT_EQ(attnrt_mpi_runtime_create(MPI_COMM_WORLD, &cfg, &rt), ATTNRT_OK) << attnrt_mpi_last_error();
  // Rank r of p (p <= 4) gets CMGs [4r/p, 4(r+1)/p).
  const int p = size_of(), r = rank_of();
  const int cmgs = 4 * (r + 1) / p - 4 * r / p;
  EXPECT_EQ(attnrt_runtime_num_threads(rt), 12 * cmgs);
  attnrt_runtime_destroy(rt);
  cfg.domains = "3";  // given (as ATTNRT_DOMAINS would be): kept
  ASSERT_EQ(attnrt_mpi_runtime_create(MPI_COMM_WORLD, &cfg, &rt), ATTNRT_OK) << attnrt_mpi_last_error();
  EXPECT_EQ(attnrt_runtime_num_threads(rt), 12);
  attnrt_runtime_destroy(rt);
}

// A runtime that one rank cannot make (a setting of its own): every rank
// fails with its message, none waits in the collective for it.
TEST(MpiPlacement, OneRanksBadSettingFailsEveryRank) {
  attnrt_config cfg;
  ASSERT_EQ(attnrt_config_init(&cfg), ATTNRT_OK);
  cfg.domains = nullptr;
  cfg.topology = last_rank() ? "no such topology:::" : ATTNRT_TEST_DATA "/a64fx.xml";
  attnrt_runtime* rt = nullptr;
  EXPECT_EQ(attnrt_mpi_runtime_create(MPI_COMM_WORLD, &cfg, &rt), ATTNRT_CONFIG_ERROR);
  EXPECT_EQ(rt, nullptr);
  EXPECT_NE(std::string(attnrt_mpi_last_error()).find(last_rank_says() + "topology"), std::string::npos)
      << attnrt_mpi_last_error();
  EXPECT_EQ(attnrt_mpi_runtime_create(MPI_COMM_WORLD, &cfg, nullptr), ATTNRT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attnrt_mpi_last_error()).find("rank 0: out must not be NULL"), std::string::npos)
      << attnrt_mpi_last_error();
}

}  // namespace
}  // namespace attnrt::test

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int failed = RUN_ALL_TESTS() != 0, any = 0;
  // Every rank exits with the same code: mpirun reports the job as failed.
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any;
}
