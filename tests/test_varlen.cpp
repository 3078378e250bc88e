// Variable-length packed batches (params.cu_seqlens_q / _k): each sequence of
// a packed call against the double reference run on its own dense slice, on
// every backend (kernel set x strategy) and dtype; sequences of 0 queries and
// 0 keys; GQA and MQA; both causal alignments, windows, ALiBi with sinks,
// LSE; BSHD packing and views with gaps (never written); that a sequence
// never reads another's keys; the C++ layer; every new argument rule.
#include <attnrt/attnrt.h>
#include <attnrt/attnrt.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tests/harness.hpp"

namespace attnrt::test {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct VarlenSpec {
  std::string name;
  std::vector<std::int32_t> lens_q, lens_k;
  std::int64_t Hq = 4, Hkv = 2, D = 64, Dv = 64;
  Layout layout = Layout::bshd;
  bool causal = false;
  attnrt_causal_align align = ATTNRT_ALIGN_BOTTOM_RIGHT;
  std::int64_t window_left = -1, window_right = -1;
  bool alibi = false, sinks = false, lse = true;
  bool nan_key_in_seq0 = false;  // a key every row of sequence 0 sees is NaN
};

std::vector<std::int32_t> offsets(const std::vector<std::int32_t>& lens) {
  std::vector<std::int32_t> cu{0};
  for (std::int32_t n : lens) cu.push_back(cu.back() + n);
  return cu;
}

// The packed inputs of a spec: q, k, v [1, H, total, D] in the spec's layout.
class Packed {
 public:
  Packed(const VarlenSpec& s, attnrt_dtype t)
      : s_(s),
        cu_q_(offsets(s.lens_q)),
        cu_k_(offsets(s.lens_k)),
        q_(t, {1, s.Hq, cu_q_.back(), s.D}, s.layout, kNanFill),
        k_(t, {1, s.Hkv, cu_k_.back(), s.D}, s.layout, kNanFill),
        v_(t, {1, s.Hkv, cu_k_.back(), s.Dv}, s.layout, kNanFill) {
    std::mt19937 rng(seed_of(s.name + dtype_name(t)));
    q_.fill_uniform(rng);
    k_.fill_uniform(rng);
    v_.fill_uniform(rng);
    if (s.nan_key_in_seq0)
      for (std::int64_t h = 0; h < s.Hkv; ++h) k_.set(0, h, 0, 1, std::numeric_limits<double>::quiet_NaN());
    heads_ = HeadTerms(s.Hq, s.alibi, s.sinks, rng);
  }

  HostTensor make_o() const { return HostTensor(q_.dtype(), {1, s_.Hq, cu_q_.back(), s_.Dv}, s_.layout, kCanaryFill); }
  std::optional<HostTensor> make_lse() const {
    if (!s_.lse) return std::nullopt;
    return HostTensor(ATTNRT_F32, {1, s_.Hq, cu_q_.back(), 1}, Layout::bhsd, kCanaryFill);
  }

  // The spec's masks, without varlen: what each sequence's reference uses.
  attnrt_params dense_params(attnrt_strategy strategy) const {
    return masked_params(s_.causal, s_.align, s_.window_left, s_.window_right, heads_, strategy);
  }
  attnrt_params params(const attnrt_tensor* lse, attnrt_strategy strategy) const {
    attnrt_params p = dense_params(strategy);
    p.lse = lse;
    p.cu_seqlens_q = cu_q_.data();
    p.cu_seqlens_k = cu_k_.data();
    p.num_seqs = static_cast<std::int64_t>(s_.lens_q.size());
    return p;
  }

  const VarlenSpec& spec() const { return s_; }
  // The sequences, as harness.hpp's matches_per_sequence reads them.
  std::int64_t seqs() const { return static_cast<std::int64_t>(s_.lens_q.size()); }
  std::int64_t rows(std::int64_t b) const { return s_.lens_q[b]; }
  std::int64_t row0(std::int64_t b) const { return cu_q_[b]; }
  std::int64_t batch(std::int64_t) const { return 0; }
  const std::vector<std::int32_t>& cu_q() const { return cu_q_; }
  const std::vector<std::int32_t>& cu_k() const { return cu_k_; }
  const HostTensor& q() const { return q_; }
  const HostTensor& k() const { return k_; }
  const HostTensor& v() const { return v_; }

  // Sequence b's reference: its rows and keys as a dense batch of one (a
  // sequence of 0 keys as one key with kv_lens 0).
  RefResult reference(std::int64_t b) const {
    const std::int64_t nk = cu_k_[b + 1] - cu_k_[b];
    const std::int64_t kv_len[1] = {0};
    attnrt_params p = dense_params(ATTNRT_STRATEGY_AUTO);
    if (nk == 0) p.kv_lens = kv_len;
    return reference_forward(slice(q_.c(), cu_q_[b], cu_q_[b + 1] - cu_q_[b]),
                             slice(k_.c(), std::min<std::int64_t>(cu_k_[b], k_.shape()[2] - 1), std::max<std::int64_t>(nk, 1)),
                             slice(v_.c(), std::min<std::int64_t>(cu_k_[b], v_.shape()[2] - 1), std::max<std::int64_t>(nk, 1)), p);
  }

 private:
  static attnrt_tensor slice(attnrt_tensor t, std::int64_t row0, std::int64_t rows) {
    const std::size_t esz = t.dtype == ATTNRT_F32 ? 4 : 2;
    t.data = static_cast<char*>(t.data) + row0 * t.stride[2] * static_cast<std::int64_t>(esz);
    t.shape[2] = rows;
    return t;
  }

  VarlenSpec s_;
  std::vector<std::int32_t> cu_q_, cu_k_;
  HostTensor q_, k_, v_;
  HeadTerms heads_;
};

std::vector<VarlenSpec> specs() {
  // The lengths {17, 300, 1000, 2048} scaled down, with a sequence of
  // 0 queries (9 keys) and one of 3 queries and 0 keys.
  return {
      {.name = "gqa_causal_br_empty", .lens_q = {17, 0, 75, 3, 256}, .lens_k = {17, 9, 75, 0, 256}, .causal = true},
      {.name = "mqa_causal_tl_chunks", .lens_q = {3, 40, 64, 1}, .lens_k = {20, 100, 64, 50}, .Hq = 4, .Hkv = 1,
       .layout = Layout::bhsd, .causal = true, .align = ATTNRT_ALIGN_TOP_LEFT},
      {.name = "window_gaps", .lens_q = {33, 130, 7}, .lens_k = {33, 130, 7}, .Hq = 2, .Hkv = 2, .D = 32, .Dv = 48,
       .layout = Layout::cache, .window_left = 16, .window_right = 4, .lse = false},
      {.name = "alibi_sinks_causal", .lens_q = {17, 100, 200}, .lens_k = {17, 100, 200}, .causal = true,
       .alibi = true, .sinks = true},
      {.name = "decode_gqa", .lens_q = {1, 1, 1, 1}, .lens_k = {1, 300, 17, 600}, .Hq = 8, .Hkv = 2},
      {.name = "other_keys_unread", .lens_q = {40, 60}, .lens_k = {40, 60}, .Hq = 2, .Hkv = 1,
       .nan_key_in_seq0 = true},
  };
}

class Varlen : public BackendTest {};

TEST_P(Varlen, EverySequenceMatchesItsDenseReference) {
  const BackendCase& c = GetParam();
  CRuntime rt(c.backend.isa, 2);
  ASSERT_EQ(rt.status(), ATTNRT_OK) << rt.error();
  for (const VarlenSpec& s : specs()) {
    SCOPED_TRACE(s.name);
    const Packed in(s, c.dtype);
    expect_call_matches_per_sequence(rt.get(), in, c);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Varlen, ::testing::ValuesIn(backend_cases()),
                         [](const ::testing::TestParamInfo<BackendCase>& info) { return info.param.name(); });

// The C++ layer passes the offsets through: the same bits as the C ABI.
TEST(VarlenCpp, MatchesTheCAbiBitForBit) {
  const VarlenSpec s = specs()[0];
  const Packed in(s, ATTNRT_F32);
  attnrt::Params cp;
  cp.causal = s.causal;
  cp.cu_seqlens_q = in.cu_q().data();
  cp.cu_seqlens_k = in.cu_k().data();
  cp.num_seqs = static_cast<std::int64_t>(s.lens_q.size());
  expect_c_and_cpp_agree(in, cp);
}

// Each new rule: the call fails before any work, naming the argument, the
// index and the rule, and o is left alone.
TEST(VarlenValidation, EachBrokenRuleIsAnErrorThatNamesIt) {
  const VarlenSpec s{.name = "rules", .lens_q = {4, 6}, .lens_k = {5, 7}, .Hq = 2, .Hkv = 1, .D = 16, .Dv = 16};
  const Packed in(s, ATTNRT_F32);
  HostTensor o = in.make_o();
  std::int32_t cu_q[3], cu_k[3];
  const std::int64_t kv_lens[1] = {1};
  HostTensor bias(ATTNRT_F32, {1, 1, 10, 12}, Layout::bhsd, kNanFill);
  struct Case {
    const char* message;
    void (*edit)(attnrt_params&, std::int32_t* cq, std::int32_t* ck);
  };
  const Case cases[] = {
      {"params.num_seqs (0) must be in [1, ", [](attnrt_params& p, std::int32_t*, std::int32_t*) { p.num_seqs = 0; }},
      {"params.cu_seqlens_k must not be NULL when params.cu_seqlens_q is given",
       [](attnrt_params& p, std::int32_t*, std::int32_t*) { p.cu_seqlens_k = nullptr; }},
      {"params.cu_seqlens_k needs params.cu_seqlens_q",
       [](attnrt_params& p, std::int32_t*, std::int32_t*) { p.cu_seqlens_q = nullptr, p.num_seqs = 0; }},
      {"params.num_seqs (2) must be 0 when params.cu_seqlens_q is NULL",
       [](attnrt_params& p, std::int32_t*, std::int32_t*) { p.cu_seqlens_q = p.cu_seqlens_k = nullptr; }},
      {"params.cu_seqlens_q[0] (1) must be 0", [](attnrt_params&, std::int32_t* cq, std::int32_t*) { cq[0] = 1; }},
      {"params.cu_seqlens_k[0] (-1) must be 0", [](attnrt_params&, std::int32_t*, std::int32_t* ck) { ck[0] = -1; }},
      {"params.cu_seqlens_q[1] (-2) must be >= params.cu_seqlens_q[0] (0): offsets are non-decreasing (sequence 0 "
       "would have -2 rows)",
       [](attnrt_params&, std::int32_t* cq, std::int32_t*) { cq[1] = -2; }},
      {"params.cu_seqlens_k[2] (3) must be >= params.cu_seqlens_k[1] (5)",
       [](attnrt_params&, std::int32_t*, std::int32_t* ck) { ck[2] = 3; }},
      {"params.cu_seqlens_q[2] (9) must equal q.seq (10), the rows the sequences pack",
       [](attnrt_params&, std::int32_t* cq, std::int32_t*) { cq[2] = 9; }},
      {"params.cu_seqlens_k[2] (13) must equal k.seq (12)",
       [](attnrt_params&, std::int32_t*, std::int32_t* ck) { ck[2] = 13; }},
      {"params.cu_seqlens_q[1] (4) must equal q.seq (10)",
       [](attnrt_params& p, std::int32_t*, std::int32_t*) { p.num_seqs = 1; }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    attnrt_params p = in.params(nullptr, ATTNRT_STRATEGY_AUTO);
    std::copy(in.cu_q().begin(), in.cu_q().end(), cu_q);
    std::copy(in.cu_k().begin(), in.cu_k().end(), cu_k);
    if (p.cu_seqlens_q) p.cu_seqlens_q = cu_q;
    p.cu_seqlens_k = cu_k;
    c.edit(p, cu_q, cu_k);
    EXPECT_EQ(attnrt_attention_forward(&in.q().c(), &in.k().c(), &in.v().c(), &o.c(), &p), ATTNRT_INVALID_ARGUMENT);
    EXPECT_NE(std::string(attnrt_last_error()).find(c.message), std::string::npos) << attnrt_last_error();
  }
  attnrt_params p = in.params(nullptr, ATTNRT_STRATEGY_AUTO);
  p.kv_lens = kv_lens;
  EXPECT_EQ(attnrt_attention_forward(&in.q().c(), &in.k().c(), &in.v().c(), &o.c(), &p), ATTNRT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attnrt_last_error()).find("params.kv_lens must be NULL with params.cu_seqlens_q"),
            std::string::npos) << attnrt_last_error();
  p = in.params(nullptr, ATTNRT_STRATEGY_AUTO);
  p.bias = &bias.c();
  EXPECT_EQ(attnrt_attention_forward(&in.q().c(), &in.k().c(), &in.v().c(), &o.c(), &p), ATTNRT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attnrt_last_error()).find("params.bias is not supported with params.cu_seqlens_q"),
            std::string::npos) << attnrt_last_error();

  // Batch 2 with offsets, and offsets inside o.
  HostTensor q2(ATTNRT_F32, {2, 2, 10, 16}, Layout::bhsd, kNanFill), k2(ATTNRT_F32, {2, 1, 12, 16}, Layout::bhsd, kNanFill),
      v2(ATTNRT_F32, {2, 1, 12, 16}, Layout::bhsd, kNanFill), o2(ATTNRT_F32, {2, 2, 10, 16}, Layout::bhsd, kCanaryFill);
  p = in.params(nullptr, ATTNRT_STRATEGY_AUTO);
  EXPECT_EQ(attnrt_attention_forward(&q2.c(), &k2.c(), &v2.c(), &o2.c(), &p), ATTNRT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attnrt_last_error()).find("q.batch (2) must be 1 with params.cu_seqlens_q"), std::string::npos)
      << attnrt_last_error();
  std::vector<float> o_mem(2 * 10 * 16 + 8);
  const attnrt_tensor o_view{o_mem.data(), ATTNRT_F32, {1, 2, 10, 16}, {320, 160, 16}};
  std::int32_t* inside = reinterpret_cast<std::int32_t*>(o_mem.data() + 5);
  std::copy(in.cu_q().begin(), in.cu_q().end(), inside);
  p.cu_seqlens_q = inside;
  EXPECT_EQ(attnrt_attention_forward(&in.q().c(), &in.k().c(), &in.v().c(), &o_view, &p), ATTNRT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attnrt_last_error()).find("o overlaps params.cu_seqlens_q in memory"), std::string::npos)
      << attnrt_last_error();
  // ... and offsets inside lse (written while they are read, as o is).
  std::vector<float> lse_mem(2 * 10 + 8);
  const attnrt_tensor lse_view{lse_mem.data(), ATTNRT_F32, {1, 2, 10, 1}, {20, 10, 1}};
  std::copy(in.cu_k().begin(), in.cu_k().end(), reinterpret_cast<std::int32_t*>(lse_mem.data() + 3));
  p = in.params(&lse_view, ATTNRT_STRATEGY_AUTO);
  p.cu_seqlens_k = reinterpret_cast<std::int32_t*>(lse_mem.data() + 3);
  EXPECT_EQ(attnrt_attention_forward(&in.q().c(), &in.k().c(), &in.v().c(), &o.c(), &p), ATTNRT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attnrt_last_error()).find("params.lse overlaps params.cu_seqlens_k in memory"),
            std::string::npos) << attnrt_last_error();
  EXPECT_TRUE(o.outside_intact());
}

}  // namespace
}  // namespace attnrt::test
