// Quantized K/V (k, v of ATTNRT_I8, ATTNRT_F8_E4M3 or ATTNRT_F8_E5M2 with
// params.k_scale / v_scale): each sequence against the double reference run
// on the dequantized K/V (code times scale in fp32, rounded to q's dtype, or
// not rounded: attnrt.h promises q's precision or better, and sets that read
// the codes themselves keep fp32), on every backend (kernel set x strategy)
// and dtype.
// Dense, varlen and paged K/V (both pool layouts; pages of 1 and 16,
// shuffled, shared); scales per (token, head), per head and per tensor;
// GQA; causal both alignments, windows, kv_lens, a sequence of 0 keys, LSE;
// decode split across two workers and chunked prefill. Rows and scales no
// sequence owns hold NaN: nothing else is read. Every one of the 256 codes
// of each format decodes as the format defines it; every new argument
// rule is an error naming the argument.
#include <attnrt/attnrt.h>
#include <attnrt/attnrt.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "kernels/convert.hpp"
#include "kernels/quant.hpp"
#include "tests/harness.hpp"

namespace attnrt::test {
namespace {

enum class Mode { dense, varlen, paged };
enum class Scales { token, head, tensor };  // [.., Hkv, N, 1], [1, Hkv, 1, 1], [1, 1, 1, 1]

struct QuantSpec {
  std::string name;
  Mode mode = Mode::dense;
  std::vector<std::int64_t> kv_lens;  // keys per sequence
  std::int64_t M = 1;                 // query rows per sequence (dense and paged Q)
  std::vector<std::int32_t> lens_q;   // varlen: rows per sequence
  std::int64_t Hq = 4, Hkv = 2, D = 32, Dv = 32;
  Scales scales = Scales::token;
  int page_size = 16;
  bool token_major = false;  // K/V [.., seq, Hkv, D] memory, else [.., Hkv, seq, D]
  bool shuffle = true;       // paged: pages in random order
  bool share = false;        // paged: sequence 1's table starts with sequence 0's pages
  bool causal = false;
  attnrt_causal_align align = ATTNRT_ALIGN_BOTTOM_RIGHT;
  std::int64_t window_left = -1, window_right = -1;
  bool lse = true;
};

// A random code of format t whose value is finite and within [-2, 2].
std::uint8_t random_code(attnrt_dtype t, std::mt19937& rng) {
  std::uniform_int_distribution<int> u(0, 255);
  for (;;) {
    const auto c = static_cast<std::uint8_t>(u(rng));
    const double v = code_to_double(t, c);
    if (t == ATTNRT_I8 ? c != 0x80 : std::isfinite(v) && std::abs(v) <= 2.0) return c;
  }
}

// A spec's inputs: Q, the quantized K and V with their scales, and per
// sequence its dense dequantized K and V (what the reference sees).
class Quant {
 public:
  Quant(const QuantSpec& s, attnrt_dtype qt, attnrt_dtype kvt) : s_(s) {
    std::mt19937 rng(seed_of(s.name + dtype_name(qt) + dtype_name(kvt)));
    const std::int64_t B = seqs();
    const std::int64_t nmax = std::max<std::int64_t>(1, *std::max_element(s.kv_lens.begin(), s.kv_lens.end()));
    // Where key j of sequence b lives: [kb, h, ks] of the K/V tensors.
    HostTensor::Shape kv_shape{};
    if (s.mode == Mode::dense) {
      kv_shape = {B, s.Hkv, nmax, 0};
      for (std::int64_t b = 0; b < B; ++b) loc_.push_back([b](std::int64_t j) { return std::pair{b, j}; });
    } else if (s.mode == Mode::varlen) {
      cu_k_.push_back(0);
      for (std::int64_t n : s.kv_lens) cu_k_.push_back(cu_k_.back() + static_cast<std::int32_t>(n));
      kv_shape = {1, s.Hkv, std::max<std::int64_t>(cu_k_.back(), 1), 0};
      for (std::int64_t b = 0; b < B; ++b)
        loc_.push_back([this, b](std::int64_t j) { return std::pair{std::int64_t{0}, cu_k_[b] + j}; });
    } else {
      std::vector<std::int64_t> need(B);
      for (std::int64_t b = 0; b < B; ++b) need[b] = (s.kv_lens[b] + s.page_size - 1) / s.page_size;
      const std::int64_t shared = s.share ? std::min(need[0], need[1]) : 0;
      const std::int64_t pages = std::accumulate(need.begin(), need.end(), std::int64_t{0}) - shared + 2;
      std::vector<std::int32_t> physical(pages);
      std::iota(physical.begin(), physical.end(), 0);
      if (s.shuffle) std::shuffle(physical.begin(), physical.end(), rng);
      stride_ = std::max<std::int64_t>(1, *std::max_element(need.begin(), need.end()));
      table_.assign(B * stride_, -1);
      std::int64_t next = 0;
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t slot = 0; slot < need[b]; ++slot)
          table_[b * stride_ + slot] = b == 1 && slot < shared ? table_[slot] : physical[next++];
      kv_shape = {pages, s.Hkv, s.page_size, 0};
      for (std::int64_t b = 0; b < B; ++b)
        loc_.push_back([this, b, ps = s.page_size](std::int64_t j) {
          return std::pair{std::int64_t{table_[b * stride_ + j / ps]}, j % ps};
        });
    }
    const Layout layout = s.token_major ? Layout::bshd : Layout::bhsd;
    const auto shape = [&](std::int64_t dim) { return HostTensor::Shape{kv_shape[0], kv_shape[1], kv_shape[2], dim}; };
    k_.emplace(kvt, shape(s.D), layout, kNanFill);
    v_.emplace(kvt, shape(s.Dv), layout, kNanFill);
    const HostTensor::Shape scale_shape = s.scales == Scales::token ? shape(1)
                                          : s.scales == Scales::head ? HostTensor::Shape{1, s.Hkv, 1, 1}
                                                                     : HostTensor::Shape{1, 1, 1, 1};
    k_scale_.emplace(ATTNRT_F32, scale_shape, layout, kNanFill);
    v_scale_.emplace(ATTNRT_F32, scale_shape, layout, kNanFill);
    // Scales around 1 (int8: around 1/127, so values span about [-1.5, 1.5]).
    const double unit = kvt == ATTNRT_I8 ? 1.0 / 127 : 1.0;
    std::uniform_real_distribution<double> u(0.5 * unit, 1.5 * unit);
    if (s.scales != Scales::token)
      for (HostTensor* t : {&*k_scale_, &*v_scale_})
        for (std::int64_t h = 0; h < scale_shape[1]; ++h) t->set(0, h, 0, 0, u(rng));
    for (std::int64_t b = 0; b < B; ++b) {
      const std::int64_t n = std::max<std::int64_t>(s.kv_lens[b], 1);
      HostTensor kd(qt, {1, s.Hkv, n, s.D}, Layout::bhsd, kNanFill), vd(qt, {1, s.Hkv, n, s.Dv}, Layout::bhsd, kNanFill);
      HostTensor kw(ATTNRT_F32, {1, s.Hkv, n, s.D}, Layout::bhsd, kNanFill),
          vw(ATTNRT_F32, {1, s.Hkv, n, s.Dv}, Layout::bhsd, kNanFill);
      for (std::int64_t j = 0; j < s.kv_lens[b]; ++j)
        for (std::int64_t h = 0; h < s.Hkv; ++h) {
          const auto [kb, ks] = loc_[b](j);
          const bool fresh = !(s.mode == Mode::paged && s.share && b == 1 && j / s.page_size < (s.kv_lens[0] + s.page_size - 1) / s.page_size);
          if (fresh) {
            if (s.scales == Scales::token) k_scale_->set(kb, h, ks, 0, u(rng)), v_scale_->set(kb, h, ks, 0, u(rng));
            for (std::int64_t d = 0; d < s.D; ++d) k_->set_code(kb, h, ks, d, random_code(kvt, rng));
            for (std::int64_t d = 0; d < s.Dv; ++d) v_->set_code(kb, h, ks, d, random_code(kvt, rng));
          }
          const double sk = scale_of(*k_scale_, kb, h, ks), sv = scale_of(*v_scale_, kb, h, ks);
          // code * scale in fp32 (exact in double, then rounded once), then to q's dtype (kd, vd) or not.
          for (std::int64_t d = 0; d < s.D; ++d) {
            const float x = static_cast<float>(k_->get(kb, h, ks, d) * sk);
            kd.set(0, h, j, d, x), kw.set(0, h, j, d, x);
          }
          for (std::int64_t d = 0; d < s.Dv; ++d) {
            const float x = static_cast<float>(v_->get(kb, h, ks, d) * sv);
            vd.set(0, h, j, d, x), vw.set(0, h, j, d, x);
          }
        }
      dense_k_.push_back(std::move(kd));
      dense_v_.push_back(std::move(vd));
      wide_k_.push_back(std::move(kw));
      wide_v_.push_back(std::move(vw));
    }
    if (s.mode == Mode::varlen) {
      cu_q_.push_back(0);
      for (std::int32_t m : s.lens_q) cu_q_.push_back(cu_q_.back() + m);
    }
    q_.emplace(qt, q_shape(s.D), layout, kNanFill);
    q_->fill_uniform(rng);
  }

  static double scale_of(const HostTensor& t, std::int64_t b, std::int64_t h, std::int64_t s) {
    const auto& sh = t.shape();
    return t.get(sh[0] == 1 ? 0 : b, sh[1] == 1 ? 0 : h, sh[2] == 1 ? 0 : s, 0);
  }

  bool varlen_q() const { return s_.mode == Mode::varlen; }
  std::int64_t seqs() const { return static_cast<std::int64_t>(s_.kv_lens.size()); }
  HostTensor::Shape q_shape(std::int64_t dim) const {
    return varlen_q() ? HostTensor::Shape{1, s_.Hq, cu_q_.back(), dim} : HostTensor::Shape{seqs(), s_.Hq, s_.M, dim};
  }
  HostTensor make_o() const {
    return HostTensor(q_->dtype(), q_shape(s_.Dv), s_.token_major ? Layout::bshd : Layout::bhsd, kCanaryFill);
  }
  std::optional<HostTensor> make_lse() const {
    if (!s_.lse) return std::nullopt;
    return HostTensor(ATTNRT_F32, q_shape(1), Layout::bhsd, kCanaryFill);
  }

  attnrt_params dense_params(attnrt_strategy strategy) const {
    return masked_params(s_.causal, s_.align, s_.window_left, s_.window_right, HeadTerms(), strategy);
  }
  attnrt_params params(const attnrt_tensor* lse, attnrt_strategy strategy) const {
    attnrt_params p = dense_params(strategy);
    p.lse = lse;
    p.k_scale = &k_scale_->c();
    p.v_scale = &v_scale_->c();
    if (s_.mode == Mode::dense) {
      p.kv_lens = s_.kv_lens.data();
    } else if (s_.mode == Mode::varlen) {
      p.cu_seqlens_q = cu_q_.data();
      p.cu_seqlens_k = cu_k_.data();
      p.num_seqs = seqs();
    } else {
      p.kv_lens = s_.kv_lens.data();
      p.block_table = table_.data();
      p.block_table_stride = stride_;
    }
    return p;
  }

  const QuantSpec& spec() const { return s_; }
  const HostTensor& q() const { return *q_; }
  const HostTensor& k() const { return *k_; }
  const HostTensor& v() const { return *v_; }
  const HostTensor& k_scale() const { return *k_scale_; }
  const HostTensor& v_scale() const { return *v_scale_; }
  std::int64_t row0(std::int64_t b) const { return varlen_q() ? cu_q_[b] : 0; }
  std::int64_t rows(std::int64_t b) const { return varlen_q() ? s_.lens_q[b] : s_.M; }
  std::int64_t batch(std::int64_t b) const { return varlen_q() ? 0 : b; }

  // On K/V rounded to q's dtype; wider: kept fp32.
  const RefResult& reference(std::int64_t b) { return references(refs_, dense_k_, dense_v_)[b]; }
  const RefResult& wider_reference(std::int64_t b) { return references(wide_refs_, wide_k_, wide_v_)[b]; }

 private:
  QuantSpec s_;
  std::optional<HostTensor> q_, k_, v_, k_scale_, v_scale_;
  std::vector<std::function<std::pair<std::int64_t, std::int64_t>(std::int64_t)>> loc_;
  std::vector<HostTensor> dense_k_, dense_v_;
  std::vector<std::int32_t> table_, cu_q_, cu_k_;
  std::int64_t stride_ = 0;
  std::vector<HostTensor> wide_k_, wide_v_;
  std::vector<RefResult> refs_, wide_refs_;

  const std::vector<RefResult>& references(std::vector<RefResult>& refs, const std::vector<HostTensor>& k,
                                           const std::vector<HostTensor>& v) {
    if (refs.empty())
      for (std::int64_t s = 0; s < seqs(); ++s)
        refs.push_back(sequence_reference(q_->c(), batch(s), row0(s), rows(s), k[s].c(), v[s].c(),
                                          dense_params(ATTNRT_STRATEGY_AUTO), s_.kv_lens[s]));
    return refs;
  }
};

std::vector<QuantSpec> specs() {
  return {
      {.name = "dense_decode_gqa", .kv_lens = {37, 0, 300}, .Hq = 8, .Hkv = 2},
      {.name = "dense_decode_split_head_scale", .kv_lens = {1200}, .Hq = 2, .Hkv = 1, .D = 64, .Dv = 48,
       .scales = Scales::head, .token_major = true},
      {.name = "dense_prefill_causal_tensor_scale", .kv_lens = {70, 50}, .M = 33, .Hq = 2, .Hkv = 1,
       .scales = Scales::tensor, .causal = true},
      {.name = "dense_window_tl", .kv_lens = {90}, .M = 20, .D = 64, .Dv = 64, .causal = true,
       .align = ATTNRT_ALIGN_TOP_LEFT, .window_left = 9, .lse = false},
      {.name = "varlen", .mode = Mode::varlen, .kv_lens = {17, 0, 130, 5}, .lens_q = {17, 3, 1, 0}, .causal = true},
      {.name = "paged_decode_p16_shared", .mode = Mode::paged, .kv_lens = {40, 70, 0}, .token_major = true,
       .share = true},
      {.name = "paged_p1_head_scale", .mode = Mode::paged, .kv_lens = {9, 23}, .M = 4, .Hq = 2, .Hkv = 1,
       .scales = Scales::head, .page_size = 1, .causal = true},
      {.name = "paged_split_p16", .mode = Mode::paged, .kv_lens = {900}, .Hq = 1, .Hkv = 1, .D = 48, .Dv = 40},
      {.name = "paged_prefill_p16_window", .mode = Mode::paged, .kv_lens = {60, 45}, .M = 21, .page_size = 16,
       .causal = true, .window_left = 12},
  };
}

constexpr attnrt_dtype kKvTypes[] = {ATTNRT_I8, ATTNRT_F8_E4M3, ATTNRT_F8_E5M2};

class QuantKv : public BackendTest {};

Quant& inputs(const QuantSpec& s, attnrt_dtype qt, attnrt_dtype kvt) {
  static std::map<std::string, std::unique_ptr<Quant>> cache;
  auto& slot = cache[s.name + dtype_name(qt) + dtype_name(kvt)];
  if (!slot) slot = std::make_unique<Quant>(s, qt, kvt);
  return *slot;
}

TEST_P(QuantKv, EverySequenceMatchesTheReferenceOnDequantizedKv) {
  const BackendCase& c = GetParam();
  CRuntime rt(c.backend.isa, 2);
  ASSERT_EQ(rt.status(), ATTNRT_OK) << rt.error();
  // Under an emulator (SVE under qemu): one format per spec, in turns.
  const std::vector<QuantSpec> all = specs();
  for (std::size_t i = 0; i < all.size(); ++i)
    for (std::size_t f = 0; f < std::size(kKvTypes); ++f) {
      if (emulated() && f != i % std::size(kKvTypes)) continue;
      SCOPED_TRACE(all[i].name + " " + dtype_name(kKvTypes[f]));
      expect_call_matches_per_sequence(rt.get(), inputs(all[i], c.dtype, kKvTypes[f]), c);
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, QuantKv, ::testing::ValuesIn(backend_cases()),
                         [](const ::testing::TestParamInfo<BackendCase>& info) { return info.param.name(); });

// Each row of the tuning table on the sets this CPU picks (as PagedKvTuningRow):
// the scales' prefetches follow the row's page walks.
class QuantKvTuningRow : public TuningRowTest {};

TEST_P(QuantKvTuningRow, EverySequenceMatchesTheReferenceOnDequantizedKv) {
  for (attnrt_dtype t : {ATTNRT_F32, ATTNRT_BF16})
    for (const QuantSpec& s : specs())
      for (attnrt_dtype kvt : kKvTypes) {
        SCOPED_TRACE(s.name + " " + dtype_name(t) + " " + dtype_name(kvt));
        expect_call_matches_per_sequence(rt(), inputs(s, t, kvt), t, ATTNRT_STRATEGY_AUTO);
      }
}

INSTANTIATE_TEST_SUITE_P(Rows, QuantKvTuningRow, ::testing::ValuesIn(tuning_row_names()), tuning_row_test_name);

// Every code of each format against its definition (reference.cpp), NaN
// where it is NaN; and a row's dequantization in every dtype.
TEST(QuantKvCodes, EveryCodeDecodesExactly) {
  const std::pair<attnrt_dtype, kernels::KvFormat> formats[] = {
      {ATTNRT_I8, kernels::KvFormat::i8}, {ATTNRT_F8_E4M3, kernels::KvFormat::e4m3}, {ATTNRT_F8_E5M2, kernels::KvFormat::e5m2}};
  for (auto [t, f] : formats) {
    int nans = 0;
    std::uint8_t codes[256];
    for (int c = 0; c < 256; ++c) {
      codes[c] = static_cast<std::uint8_t>(c);
      const double want = code_to_double(t, codes[c]);
      const float got = kernels::code_to_float(f, codes[c]);
      if (std::isnan(want)) {
        ++nans;
        EXPECT_TRUE(std::isnan(got)) << dtype_name(t) << " code " << c;
      } else {
        EXPECT_EQ(static_cast<double>(got), want) << dtype_name(t) << " code " << c;
      }
    }
    EXPECT_EQ(nans, t == ATTNRT_I8 ? 0 : t == ATTNRT_F8_E4M3 ? 2 : 6) << dtype_name(t);
    // Whole rows, through the vectorized routine, scaled and rounded.
    const float scale = 0.3f;
    float f32[256];
    kernels::dequant_rows(f, codes, 128, 2, 128, &scale, 0, f32, 128, kernels::DType::f32);
    std::uint16_t half[256];
    kernels::dequant_rows(f, codes, 128, 2, 128, &scale, 0, half, 128, kernels::DType::bf16);
    for (int c = 0; c < 256; ++c) {
      const float want = static_cast<float>(code_to_double(t, codes[c]) * scale);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(f32[c]));
        continue;
      }
      EXPECT_EQ(f32[c], want) << dtype_name(t) << " code " << c;
      EXPECT_EQ(half[c], kernels::float_to_bf16(want)) << dtype_name(t) << " code " << c;
    }
  }
  EXPECT_EQ(code_to_double(ATTNRT_F8_E4M3, 0x7e), 448.0);             // largest E4M3
  EXPECT_EQ(code_to_double(ATTNRT_F8_E4M3, 0x01), std::ldexp(1.0, -9));  // smallest subnormal
  EXPECT_EQ(code_to_double(ATTNRT_F8_E5M2, 0x7b), 57344.0);
  EXPECT_EQ(code_to_double(ATTNRT_F8_E5M2, 0x01), std::ldexp(1.0, -16));
  EXPECT_EQ(code_to_double(ATTNRT_F8_E5M2, 0xfc), -INFINITY);
}

// The C++ layer passes the scales through: the same bits as the C ABI.
TEST(QuantKvCpp, MatchesTheCAbiBitForBit) {
  const QuantSpec s = specs()[5];
  Quant& in = inputs(s, ATTNRT_F32, ATTNRT_I8);
  const attnrt_params p = in.params(nullptr, ATTNRT_STRATEGY_AUTO);
  const attnrt::Tensor ks = in.k_scale().cpp(), vs = in.v_scale().cpp();
  attnrt::Params cp;
  cp.kv_lens = s.kv_lens.data();
  cp.block_table = p.block_table;
  cp.block_table_stride = p.block_table_stride;
  cp.k_scale = &ks;
  cp.v_scale = &vs;
  expect_c_and_cpp_agree(in, cp);
}

// A NaN scale is user data like a NaN key: the rows that see that key are
// NaN, no other row.
TEST(QuantKvScales, ANanScaleMakesTheRowsThatSeeItNan) {
  const QuantSpec s{.name = "nan_scale", .kv_lens = {20, 20}, .M = 3, .Hq = 2, .Hkv = 2, .D = 16, .Dv = 16};
  Quant in(s, ATTNRT_F32, ATTNRT_I8);
  HostTensor o = in.make_o();
  attnrt_params p = in.params(nullptr, ATTNRT_STRATEGY_AUTO);
  const_cast<HostTensor&>(in.k_scale()).set(1, 0, 5, 0, std::numeric_limits<double>::quiet_NaN());
  ASSERT_EQ(attnrt_attention_forward(&in.q().c(), &in.k().c(), &in.v().c(), &o.c(), &p), ATTNRT_OK);
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t h = 0; h < 2; ++h)
      for (std::int64_t i = 0; i < 3; ++i)
        EXPECT_EQ(std::isnan(o.get(b, h, i, 0)), b == 1 && h == 0) << b << " " << h << " " << i;
}

// Each rule: the call fails before any work, naming the argument and the
// rule, and o is left alone.
TEST(QuantKvValidation, EachBrokenRuleIsAnErrorThatNamesIt) {
  const QuantSpec s{.name = "rules", .kv_lens = {20, 20}, .M = 2, .Hq = 2, .Hkv = 1, .D = 16, .Dv = 16};
  Quant in(s, ATTNRT_F32, ATTNRT_I8);
  const HostTensor untouched = in.make_o();
  HostTensor o = in.make_o();
  HostTensor wrong_seq(ATTNRT_F32, {2, 1, 7, 1}, Layout::bhsd, kNanFill);
  HostTensor wrong_dim(ATTNRT_F32, {2, 1, 20, 2}, Layout::bhsd, kNanFill);
  HostTensor f16_scale(ATTNRT_F16, {2, 1, 20, 1}, Layout::bhsd, kNanFill);
  HostTensor v_e4m3(ATTNRT_F8_E4M3, {2, 1, 20, 16}, Layout::bhsd, kNanFill);
  HostTensor v_f32(ATTNRT_F32, {2, 1, 20, 16}, Layout::bhsd, kNanFill);
  HostTensor q_i8(ATTNRT_I8, {2, 2, 2, 16}, Layout::bhsd, kNanFill);
  HostTensor o_i8(ATTNRT_I8, {2, 2, 2, 16}, Layout::bhsd, kNanFill);
  HostTensor k_f32(ATTNRT_F32, {2, 1, 20, 16}, Layout::bhsd, kNanFill);
  using T = const attnrt_tensor*;
  struct Case {
    std::string message;
    std::function<void(attnrt_params&, T&, T&, T&, T&)> edit;
  };
  const std::vector<Case> cases = {
      {"params.k_scale must not be NULL with k.dtype int8",
       [](attnrt_params& p, T&, T&, T&, T&) { p.k_scale = nullptr; }},
      {"params.v_scale must not be NULL with v.dtype int8",
       [](attnrt_params& p, T&, T&, T&, T&) { p.v_scale = nullptr; }},
      {"params.k_scale.seq (7) must be 1 (broadcast) or k.seq (20)",
       [&](attnrt_params& p, T&, T&, T&, T&) { p.k_scale = &wrong_seq.c(); }},
      {"params.v_scale.head_dim (2) must equal 1 (1)",
       [&](attnrt_params& p, T&, T&, T&, T&) { p.v_scale = &wrong_dim.c(); }},
      {"params.k_scale.dtype (fp16) must be fp32",
       [&](attnrt_params& p, T&, T&, T&, T&) { p.k_scale = &f16_scale.c(); }},
      {"v.dtype (fp8_e4m3) must equal k.dtype (int8)",
       [&](attnrt_params&, T&, T&, T& v, T&) { v = &v_e4m3.c(); }},
      {"v.dtype (fp32) must equal k.dtype (int8)",
       [&](attnrt_params&, T&, T&, T& v, T&) { v = &v_f32.c(); }},
      {"q.dtype (int8) must be ATTNRT_F32, ATTNRT_F16 or ATTNRT_BF16: only k and v may be quantized",
       [&](attnrt_params&, T& q, T&, T&, T&) { q = &q_i8.c(); }},
      {"o.dtype (int8) must be ATTNRT_F32, ATTNRT_F16 or ATTNRT_BF16: only k and v may be quantized",
       [&](attnrt_params&, T&, T&, T&, T& o) { o = &o_i8.c(); }},
      {"params.k_scale must be NULL unless k and v are quantized (k.dtype is fp32)",
       [&](attnrt_params&, T&, T& k, T& v, T&) { k = &k_f32.c(), v = &v_f32.c(); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    attnrt_params p = in.params(nullptr, ATTNRT_STRATEGY_AUTO);
    T q = &in.q().c(), k = &in.k().c(), v = &in.v().c(), out = &o.c();
    c.edit(p, q, k, v, out);
    EXPECT_EQ(attnrt_attention_forward(q, k, v, out, &p), ATTNRT_INVALID_ARGUMENT);
    EXPECT_NE(std::string(attnrt_last_error()).find(c.message), std::string::npos) << attnrt_last_error();
    EXPECT_TRUE(bit_identical(o, untouched));
  }
  EXPECT_TRUE(o.outside_intact());

  // A scale inside o.
  attnrt_params p = in.params(nullptr, ATTNRT_STRATEGY_AUTO);
  attnrt_tensor inside = *p.k_scale;
  inside.data = o.c().data;
  inside.stride[0] = inside.stride[1] = inside.stride[2] = 0;
  p.k_scale = &inside;
  EXPECT_EQ(attnrt_attention_forward(&in.q().c(), &in.k().c(), &in.v().c(), &o.c(), &p), ATTNRT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attnrt_last_error()).find("o overlaps params.k_scale in memory"), std::string::npos)
      << attnrt_last_error();

  // Paged: the scale pool's dimensions are named as the pool's.
  const QuantSpec ps{.name = "paged rules", .mode = Mode::paged, .kv_lens = {20, 9}, .M = 2, .Hq = 2, .Hkv = 1,
                     .D = 16, .Dv = 16, .page_size = 4};
  Quant paged(ps, ATTNRT_F32, ATTNRT_I8);
  HostTensor paged_o = paged.make_o();
  attnrt_params pp = paged.params(nullptr, ATTNRT_STRATEGY_AUTO);
  const attnrt_tensor& pool = paged.k().c();
  HostTensor few_pages(ATTNRT_F32, {pool.shape[0] - 1, 1, pool.shape[2], 1}, Layout::bhsd, kNanFill);
  pp.k_scale = &few_pages.c();
  EXPECT_EQ(attnrt_attention_forward(&paged.q().c(), &paged.k().c(), &paged.v().c(), &paged_o.c(), &pp),
            ATTNRT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attnrt_last_error())
                .find("params.k_scale.pages (" + std::to_string(pool.shape[0] - 1) +
                      ") must be 1 (broadcast) or k.pages (" + std::to_string(pool.shape[0]) + ")"),
            std::string::npos)
      << attnrt_last_error();
}

}  // namespace
}  // namespace attnrt::test
