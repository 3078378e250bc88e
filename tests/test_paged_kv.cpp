// Paged KV caches (params.block_table): each sequence against the double
// reference run on dense K/V read back from its pages, on every backend
// (kernel set x strategy) and dtype. Pools in both layouts (vLLM's
// [pages, page_size, Hkv, D] and [pages, Hkv, page_size, D]); pages of 1,
// 7, 16 and 256 keys; pages in order, reversed, shuffled and shared between
// sequences; a sequence of 0 keys; GQA; both causal alignments, windows,
// ALiBi with sinks, LSE; decode split across two workers; chunked prefill;
// paged with varlen Q; the C++ layer; every new argument rule. Unused pages,
// the unused rows of a last page and unused table slots hold NaN or bad
// indices: nothing but the keys a sequence has is read; a NaN key it has
// makes its rows NaN, and only its.
#include <attnrt/attnrt.h>
#include <attnrt/attnrt.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tests/harness.hpp"

namespace attnrt::test {
namespace {

enum class Order { in_order, reverse, shuffled };

struct PagedSpec {
  std::string name;
  std::vector<std::int64_t> kv_lens;  // keys per sequence
  std::int64_t M = 1;                 // query rows per sequence (dense Q)
  std::vector<std::int32_t> lens_q;   // non-empty: varlen Q, rows per sequence
  std::int64_t Hq = 4, Hkv = 2, D = 32, Dv = 32;
  int page_size = 16;
  bool token_major = false;  // pools [pages, page_size, Hkv, D] (vLLM's), else [pages, Hkv, page_size, D]
  Order order = Order::shuffled;
  bool share = false;  // sequence 1's table starts with sequence 0's pages (prefix sharing)
  bool causal = false;
  attnrt_causal_align align = ATTNRT_ALIGN_BOTTOM_RIGHT;
  std::int64_t window_left = -1, window_right = -1;
  bool alibi = false, sinks = false, lse = true;
  bool nan_key_in_seq0 = false;  // a key every row of sequence 0 sees is NaN (its rows are NaN)
};

std::int64_t pages_for(std::int64_t keys, int page_size) { return (keys + page_size - 1) / page_size; }

// A spec's inputs: Q, the page pools, the block table, and per sequence its
// dense K and V read back through the table (what the reference sees).
class Paged {
 public:
  Paged(const PagedSpec& s, attnrt_dtype t) : s_(s) {
    std::mt19937 rng(seed_of(s.name + dtype_name(t)));
    const std::int64_t B = seqs();
    // Logical pages; sequence 1 reuses sequence 0's first ones when shared.
    std::vector<std::int64_t> need(B);
    for (std::int64_t b = 0; b < B; ++b) need[b] = pages_for(s.kv_lens[b], s.page_size);
    const std::int64_t shared = s.share ? std::min(need[0], need[1]) : 0;
    const std::int64_t used = std::accumulate(need.begin(), need.end(), std::int64_t{0}) - shared;
    const std::int64_t pages = used + 3;  // 3 pages nobody names: NaN throughout
    std::vector<std::int32_t> physical(pages);
    std::iota(physical.begin(), physical.end(), 0);
    if (s.order == Order::reverse) std::reverse(physical.begin(), physical.end());
    if (s.order == Order::shuffled) std::shuffle(physical.begin(), physical.end(), rng);
    stride_ = *std::max_element(need.begin(), need.end()) + 2;
    // Slots past a sequence's keys hold indices out of range: never checked, never read.
    table_.assign(B * stride_, 0);
    for (std::size_t i = 0; i < table_.size(); ++i) table_[i] = i % 2 ? -5 : 1 << 30;
    std::int64_t next = 0;
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t slot = 0; slot < need[b]; ++slot)
        table_[b * stride_ + slot] = b == 1 && slot < shared ? table_[slot] : physical[next++];

    const Layout pool = s.token_major ? Layout::bshd : Layout::bhsd;
    k_.emplace(t, HostTensor::Shape{pages, s.Hkv, s.page_size, s.D}, pool, kNanFill);
    v_.emplace(t, HostTensor::Shape{pages, s.Hkv, s.page_size, s.Dv}, pool, kNanFill);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t j = 0; j < s.kv_lens[b]; ++j)
        for (std::int64_t h = 0; h < s.Hkv; ++h) {
          const std::int64_t page = table_[b * stride_ + j / s.page_size], row = j % s.page_size;
          for (std::int64_t d = 0; d < s.D; ++d) k_->set(page, h, row, d, u(rng));
          for (std::int64_t d = 0; d < s.Dv; ++d) v_->set(page, h, row, d, u(rng));
        }
    if (s.nan_key_in_seq0)  // key 0 of sequence 0, every row of which sees it
      for (std::int64_t h = 0; h < s.Hkv; ++h) k_->set(table_[0], h, 0, 1, std::numeric_limits<double>::quiet_NaN());
    for (std::int64_t b = 0; b < B; ++b) {
      const std::int64_t n = std::max<std::int64_t>(s.kv_lens[b], 1);
      HostTensor kd(t, {1, s.Hkv, n, s.D}, Layout::bhsd, kNanFill), vd(t, {1, s.Hkv, n, s.Dv}, Layout::bhsd, kNanFill);
      for (std::int64_t j = 0; j < s.kv_lens[b]; ++j)
        for (std::int64_t h = 0; h < s.Hkv; ++h) {
          const std::int64_t page = table_[b * stride_ + j / s.page_size], row = j % s.page_size;
          for (std::int64_t d = 0; d < s.D; ++d) kd.set(0, h, j, d, k_->get(page, h, row, d));
          for (std::int64_t d = 0; d < s.Dv; ++d) vd.set(0, h, j, d, v_->get(page, h, row, d));
        }
      dense_k_.push_back(std::move(kd));
      dense_v_.push_back(std::move(vd));
    }

    if (varlen()) {
      cu_q_.push_back(0);
      for (std::int32_t m : s.lens_q) cu_q_.push_back(cu_q_.back() + m);
    }
    q_.emplace(t, q_shape(s.D), pool, kNanFill);
    q_->fill_uniform(rng);
    heads_ = HeadTerms(s.Hq, s.alibi, s.sinks, rng);
  }

  bool varlen() const { return !s_.lens_q.empty(); }
  std::int64_t seqs() const { return static_cast<std::int64_t>(s_.kv_lens.size()); }
  HostTensor::Shape q_shape(std::int64_t dim) const {
    return varlen() ? HostTensor::Shape{1, s_.Hq, cu_q_.back(), dim} : HostTensor::Shape{seqs(), s_.Hq, s_.M, dim};
  }
  HostTensor make_o() const {
    return HostTensor(q_->dtype(), q_shape(s_.Dv), s_.token_major ? Layout::bshd : Layout::bhsd, kCanaryFill);
  }
  std::optional<HostTensor> make_lse() const {
    if (!s_.lse) return std::nullopt;
    return HostTensor(ATTNRT_F32, q_shape(1), Layout::bhsd, kCanaryFill);
  }

  // The spec's masks, without paging: what each sequence's reference uses.
  attnrt_params dense_params(attnrt_strategy strategy) const {
    return masked_params(s_.causal, s_.align, s_.window_left, s_.window_right, heads_, strategy);
  }
  attnrt_params params(const attnrt_tensor* lse, attnrt_strategy strategy) const {
    attnrt_params p = dense_params(strategy);
    p.lse = lse;
    p.kv_lens = s_.kv_lens.data();
    p.block_table = table_.data();
    p.block_table_stride = stride_;
    if (varlen()) {
      p.cu_seqlens_q = cu_q_.data();
      p.num_seqs = seqs();
    }
    return p;
  }

  const PagedSpec& spec() const { return s_; }
  const HostTensor& q() const { return *q_; }
  const HostTensor& k() const { return *k_; }
  const HostTensor& v() const { return *v_; }
  std::vector<std::int32_t>& table() { return table_; }
  std::int64_t row0(std::int64_t b) const { return varlen() ? cu_q_[b] : 0; }
  std::int64_t rows(std::int64_t b) const { return varlen() ? s_.lens_q[b] : s_.M; }
  std::int64_t batch(std::int64_t b) const { return varlen() ? 0 : b; }

  // Sequence b's reference (computed once): its Q rows against its dense K/V.
  const RefResult& reference(std::int64_t b) {
    if (refs_.empty()) {
      for (std::int64_t s = 0; s < seqs(); ++s)
        refs_.push_back(sequence_reference(q_->c(), batch(s), row0(s), rows(s), dense_k_[s].c(), dense_v_[s].c(),
                                           dense_params(ATTNRT_STRATEGY_AUTO), s_.kv_lens[s]));
    }
    return refs_[b];
  }

 private:
  PagedSpec s_;
  std::optional<HostTensor> q_, k_, v_;
  std::vector<HostTensor> dense_k_, dense_v_;
  std::vector<std::int32_t> table_, cu_q_;
  std::int64_t stride_ = 0;
  HeadTerms heads_;
  std::vector<RefResult> refs_;
};

std::vector<PagedSpec> specs() {
  return {
      {.name = "decode_gqa_p16_empty", .kv_lens = {0, 37, 300, 16}, .Hq = 8, .Hkv = 2, .token_major = true},
      {.name = "decode_p1_reverse", .kv_lens = {5, 40}, .Hq = 4, .Hkv = 1, .page_size = 1, .order = Order::reverse},
      // One head of many keys: the keys split across the two workers.
      {.name = "decode_split_p7", .kv_lens = {1000}, .Hq = 2, .Hkv = 1, .D = 64, .Dv = 48, .page_size = 7},
      {.name = "decode_split_p16", .kv_lens = {1500}, .Hq = 1, .Hkv = 1, .D = 64, .Dv = 64, .token_major = true},
      {.name = "decode_p256", .kv_lens = {600, 3}, .Hq = 2, .Hkv = 2, .page_size = 256, .token_major = true,
       .order = Order::in_order},
      // A head's rows a memory page apart or more (16 heads of 128): one-row
      // calls long enough for several streams, read as one (RowsAfter::one_stream,
      // and fp32 rows from their end where the CPU's row says so: down).
      {.name = "decode_p16_rows_a_page_apart", .kv_lens = {1100, 77}, .Hq = 16, .Hkv = 16, .D = 128, .Dv = 128,
       .token_major = true},
      // The same apart in a GQA group of four (8 KV heads of 128): the Q·Kᵀ
      // tiles read fp32 rows from their end too.
      {.name = "decode_gqa_p16_rows_a_page_apart", .kv_lens = {300, 45}, .Hq = 32, .Hkv = 8, .D = 128, .Dv = 128,
       .token_major = true},
      {.name = "prefill_causal_br_p16", .kv_lens = {50, 100, 40}, .M = 40, .causal = true},
      {.name = "prefill_causal_tl_p7_shared", .kv_lens = {70, 90}, .M = 24, .Hq = 2, .Hkv = 1, .page_size = 7,
       .token_major = true, .share = true, .causal = true, .align = ATTNRT_ALIGN_TOP_LEFT},
      {.name = "window_p16_reverse", .kv_lens = {120, 64}, .M = 17, .D = 64, .Dv = 48, .order = Order::reverse,
       .window_left = 16, .window_right = 4, .lse = false},
      {.name = "alibi_sinks_p7", .kv_lens = {33, 81}, .M = 5, .page_size = 7, .causal = true, .alibi = true,
       .sinks = true},
      {.name = "varlen_q_p16_shared", .kv_lens = {40, 9, 20, 333}, .lens_q = {3, 0, 20, 1}, .share = true,
       .causal = true},
      // A NaN key: its sequence's rows are NaN (recomputed exactly, exact_rows.hpp), no other's.
      {.name = "nan_key_p7", .kv_lens = {30, 50}, .M = 3, .page_size = 7, .nan_key_in_seq0 = true},
  };
}

class PagedKv : public BackendTest {};

// Inputs and references of a (spec, dtype), made once for every backend.
Paged& inputs(const PagedSpec& s, attnrt_dtype t) {
  static std::map<std::string, std::unique_ptr<Paged>> cache;
  auto& slot = cache[s.name + dtype_name(t)];
  if (!slot) slot = std::make_unique<Paged>(s, t);
  return *slot;
}

TEST_P(PagedKv, EverySequenceMatchesItsDenseReference) {
  const BackendCase& c = GetParam();
  CRuntime rt(c.backend.isa, 2);
  ASSERT_EQ(rt.status(), ATTNRT_OK) << rt.error();
  for (const PagedSpec& s : specs()) {
    SCOPED_TRACE(s.name);
    expect_call_matches_per_sequence(rt.get(), inputs(s, c.dtype), c);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, PagedKv, ::testing::ValuesIn(backend_cases()),
                         [](const ::testing::TestParamInfo<BackendCase>& info) { return info.param.name(); });

// The pipelines' page walks follow the CPU's row of the tuning table
// (kv_runs.hpp: prefetches into L1 or L2, next pages listed or left to
// the hardware, rows read from their end), so a CPU reaches only its own
// row's: each row is run here on the sets this CPU picks, so that every
// row's walks are tested wherever the suite runs.
class PagedKvTuningRow : public TuningRowTest {};

TEST_P(PagedKvTuningRow, EverySequenceMatchesItsDenseReference) {
  for (attnrt_dtype t : {ATTNRT_F32, ATTNRT_F16, ATTNRT_BF16})
    for (const PagedSpec& s : specs()) {
      SCOPED_TRACE(s.name + " " + dtype_name(t));
      expect_call_matches_per_sequence(rt(), inputs(s, t), t, ATTNRT_STRATEGY_AUTO);
    }
}

INSTANTIATE_TEST_SUITE_P(Rows, PagedKvTuningRow, ::testing::ValuesIn(tuning_row_names()), tuning_row_test_name);

// The C++ layer passes the table through: the same bits as the C ABI.
TEST(PagedKvCpp, MatchesTheCAbiBitForBit) {
  const PagedSpec s = specs()[5];
  Paged& in = inputs(s, ATTNRT_F32);
  const attnrt_params p = in.params(nullptr, ATTNRT_STRATEGY_AUTO);
  attnrt::Params cp;
  cp.causal = s.causal;
  cp.kv_lens = s.kv_lens.data();
  cp.block_table = p.block_table;
  cp.block_table_stride = p.block_table_stride;
  expect_c_and_cpp_agree(in, cp);
}

// Each new rule: the call fails before any work, naming the argument, the
// sequence and slot and the rule, and o is left alone.
TEST(PagedKvValidation, EachBrokenRuleIsAnErrorThatNamesIt) {
  const PagedSpec s{.name = "rules", .kv_lens = {20, 33, 5}, .Hq = 2, .Hkv = 1, .D = 16, .Dv = 16, .page_size = 8};
  Paged in(s, ATTNRT_F32);
  const HostTensor untouched = in.make_o();
  HostTensor o = in.make_o();
  const std::int64_t pages = in.k().shape()[0];  // 3 + 5 + 1 used, 3 spare: 12
  HostTensor v_short(ATTNRT_F32, {pages - 1, 1, 8, 16}, Layout::bhsd, kNanFill);
  HostTensor v_page9(ATTNRT_F32, {pages, 1, 9, 16}, Layout::bhsd, kNanFill);
  HostTensor k_big(ATTNRT_F32, {2, 1, 257, 16}, Layout::bhsd, kNanFill), v_big(ATTNRT_F32, {2, 1, 257, 16}, Layout::bhsd, kNanFill);
  HostTensor bias(ATTNRT_F32, {1, 1, 1, 8}, Layout::bhsd, kNanFill);
  const std::int64_t too_long[3] = {20, 57, 5};
  const std::int32_t cu[4] = {0, 1, 2, 3};
  struct Case {
    std::string message;
    std::function<void(attnrt_params&, std::vector<std::int32_t>&, const attnrt_tensor*&, const attnrt_tensor*&)> edit;
  };
  using T = const attnrt_tensor*;
  const std::vector<Case> cases = {
      {"params.block_table[b=1][slot 4] (" + std::to_string(pages) + ") must be in [0, k.pages (" + std::to_string(pages) + "))",
       [&](attnrt_params&, std::vector<std::int32_t>& t, T&, T&) { t[7 + 4] = static_cast<std::int32_t>(pages); }},
      {"params.block_table[b=2][slot 0] (-1) must be in [0, k.pages (",
       [](attnrt_params&, std::vector<std::int32_t>& t, T&, T&) { t[2 * 7] = -1; }},
      {"params.kv_lens[1] (57) must be in [0, 56]: params.block_table_stride (7) pages of k.page_size (8) keys",
       [&](attnrt_params& p, std::vector<std::int32_t>&, T&, T&) { p.kv_lens = too_long; }},
      {"v.pages (" + std::to_string(pages - 1) + ") must equal k.pages (" + std::to_string(pages) + ")",
       [&](attnrt_params&, std::vector<std::int32_t>&, T&, T& v) { v = &v_short.c(); }},
      {"v.page_size (9) must equal k.page_size (8)",
       [&](attnrt_params&, std::vector<std::int32_t>&, T&, T& v) { v = &v_page9.c(); }},
      {"k.page_size (257) must be at most 256",
       [&](attnrt_params&, std::vector<std::int32_t>&, T& k, T& v) { k = &k_big.c(), v = &v_big.c(); }},
      {"params.block_table_stride (0) must be in [1, ",
       [](attnrt_params& p, std::vector<std::int32_t>&, T&, T&) { p.block_table_stride = 0; }},
      {"params.block_table_stride (7) must be 0 when params.block_table is NULL",
       [](attnrt_params& p, std::vector<std::int32_t>&, T&, T&) { p.block_table = nullptr; }},
      {"params.kv_lens must not be NULL with params.block_table",
       [](attnrt_params& p, std::vector<std::int32_t>&, T&, T&) { p.kv_lens = nullptr; }},
      {"params.bias is not supported with params.block_table",
       [&](attnrt_params& p, std::vector<std::int32_t>&, T&, T&) { p.bias = &bias.c(); }},
      {"params.cu_seqlens_k must be NULL with params.block_table",
       [&](attnrt_params& p, std::vector<std::int32_t>&, T&, T&) { p.cu_seqlens_q = p.cu_seqlens_k = cu, p.num_seqs = 3; }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    attnrt_params p = in.params(nullptr, ATTNRT_STRATEGY_AUTO);
    std::vector<std::int32_t> table = in.table();
    p.block_table = table.data();
    const attnrt_tensor* k = &in.k().c();
    const attnrt_tensor* v = &in.v().c();
    c.edit(p, table, k, v);
    EXPECT_EQ(attnrt_attention_forward(&in.q().c(), k, v, &o.c(), &p), ATTNRT_INVALID_ARGUMENT);
    EXPECT_NE(std::string(attnrt_last_error()).find(c.message), std::string::npos) << attnrt_last_error();
    EXPECT_TRUE(bit_identical(o, untouched));
  }
  EXPECT_TRUE(o.outside_intact());

  // The table inside o.
  const attnrt_tensor& ov = o.c();
  std::int32_t* inside = static_cast<std::int32_t*>(ov.data);
  attnrt_params p = in.params(nullptr, ATTNRT_STRATEGY_AUTO);
  std::copy(in.table().begin(), in.table().end(), inside);
  p.block_table = inside;
  EXPECT_EQ(attnrt_attention_forward(&in.q().c(), &in.k().c(), &in.v().c(), &ov, &p), ATTNRT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attnrt_last_error()).find("o overlaps params.block_table in memory"), std::string::npos)
      << attnrt_last_error();
}

}  // namespace
}  // namespace attnrt::test
