// One attention problem for the tests: a named spec (shapes, layout, dtype,
// masks, bias, softcap, precision), its random inputs, fresh canary-guarded
// outputs, the call through the C ABI or the C++ layer, and the comparison
// with the double-precision reference.
#pragma once

#include <attnrt/attnrt.h>
#include <attnrt/attnrt.hpp>
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tests/backends.hpp"
#include "tests/reference.hpp"
#include "tests/tensors.hpp"
#include "tests/tolerances.hpp"

namespace attnrt::test {

// Bias shape [1|B, 1|Hq, M, N].
enum class BiasKind { none, full, batch1, heads1, both1 };

struct Spec {
  attnrt_dtype dtype = ATTNRT_F32;
  std::int64_t B = 1, Hq = 1, Hkv = 1, M = 1, N = 1, D = 32, Dv = 32;
  Layout layout = Layout::bhsd;
  bool causal = false;
  attnrt_causal_align align = ATTNRT_ALIGN_BOTTOM_RIGHT;
  std::int64_t window_left = -1, window_right = -1;
  std::vector<std::int64_t> kv_lens;  // empty: every batch uses N keys
  BiasKind bias = BiasKind::none;
  bool bias_masked_row = false;  // bias row 1 (or 0 if M == 1) all -inf: a fully masked row
  float softcap = 0.0f;
  bool alibi = false;  // ALiBi, the usual slopes 2^(-8(h+1)/Hq)
  bool sinks = false;  // a sink logit per query head from U(-2, 2); head 0's is -inf (none)
  float scale = 0.0f;
  bool lse = true;
  attnrt_precision precision = ATTNRT_EXP2_ACCURATE;

  // A gtest-safe name that says everything above, e.g.
  // "f16_B2_H8x2_M33_N257_D64_bshd_causalBR_wl16_lse".
  std::string name() const;
};

void PrintTo(const Spec& s, std::ostream* os);  // its name, in gtest messages

// Per query head, as the specs ask for them: ALiBi slopes 2^(-8(h+1)/Hq)
// and sink logits from U(-2, 2), head 0's -inf (no sink); empty when not.
struct HeadTerms {
  std::vector<float> alibi, sinks;  // [Hq] each, or empty
  HeadTerms() = default;
  HeadTerms(std::int64_t Hq, bool with_alibi, bool with_sinks, std::mt19937& rng);
  const float* alibi_or_null() const { return alibi.empty() ? nullptr : alibi.data(); }
  const float* sinks_or_null() const { return sinks.empty() ? nullptr : sinks.data(); }
};

// Default params with these masks and per-head terms: what a packed or
// paged test's per-sequence reference uses.
attnrt_params masked_params(bool causal, attnrt_causal_align align, std::int64_t window_left,
                            std::int64_t window_right, const HeadTerms& heads, attnrt_strategy strategy);

// Inputs of a spec, drawn from U(-1, 1) (bias too, with -inf entries).
// The random stream is seeded from the spec's name unless a seed is given:
// specs that differ only in parameters (scale, softcap) then share inputs.
class Problem {
 public:
  explicit Problem(const Spec& spec, std::uint32_t seed = 0);

  const Spec& spec() const { return spec_; }
  HostTensor& q() { return q_; }
  HostTensor& k() { return k_; }
  HostTensor& v() { return v_; }
  HostTensor* bias() { return bias_ ? &*bias_ : nullptr; }

  // Fresh outputs, surrounded by canaries.
  HostTensor make_o() const;
  std::optional<HostTensor> make_lse() const;  // empty when the spec has no LSE

  // Parameters of the spec with the given LSE view (may be null); valid
  // while this Problem and the view live.
  attnrt_params params(const attnrt_tensor* lse, kernels::Strategy strategy) const;
  attnrt::Params cpp_params(const attnrt::Tensor* lse, kernels::Strategy strategy) const;

  RefResult reference() const;

 private:
  Spec spec_;
  HostTensor q_, k_, v_;
  std::optional<HostTensor> bias_;
  HeadTerms heads_;
  attnrt_tensor bias_c_{};
  attnrt::Tensor bias_cpp_{};
};

// A test of one backend case (set, strategy, dtype), skipped where this CPU
// lacks the set's features, and under an emulator for all but the SVE sets
// (the others run natively; scripts/ci-sve.sh).
class BackendTest : public ::testing::TestWithParam<BackendCase> {
 protected:
  void SetUp() override;
};

// A C ABI runtime for one kernel set ("" = the best this CPU runs) and
// thread count (0 = all cores).
class CRuntime {
 public:
  // uarch: a tuning row by name (config.uarch), or null for this CPU's.
  CRuntime(const std::string& isa, int num_threads, const char* uarch = nullptr);
  ~CRuntime();
  CRuntime(const CRuntime&) = delete;
  CRuntime& operator=(const CRuntime&) = delete;
  attnrt_runtime* get() const { return rt_; }
  attnrt_status status() const { return status_; }
  const std::string& error() const { return error_; }

 private:
  attnrt_runtime* rt_ = nullptr;
  attnrt_status status_;
  std::string error_;
};

// Tests parameterized over the tuning table's rows (tuning_row_names()):
// rt() is a runtime of the sets this CPU picks on the row, two workers.
// Under emulation only the a64fx row runs: every row gives the SVE sets
// the same settings.
class TuningRowTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override;
  attnrt_runtime* rt() const { return rt_->get(); }

 private:
  std::unique_ptr<CRuntime> rt_;
};
// The test name suffix of a row: its name.
std::string tuning_row_test_name(const ::testing::TestParamInfo<const char*>& info);

// The runtime of one kernel set and thread count that the harness's calls
// share, made at its first use and kept for the process: a server reuses
// its runtime across calls of every shape, and making one (threads pinned,
// topology read, workspace touched) cost more than most tests' calls.
const CRuntime& shared_runtime(const std::string& isa, int num_threads);

// Runs a problem through attnrt_runtime_forward into o (and lse if given).
attnrt_status run_c(attnrt_runtime* rt, Problem& p, HostTensor& o, HostTensor* lse,
                    kernels::Strategy strategy);

// Runs a problem on a backend through the C ABI with `threads` threads;
// reports a test failure (and returns outputs as they are) if the call fails.
struct Outputs {
  HostTensor o;
  std::optional<HostTensor> lse;
  HostTensor* lse_ptr() { return lse ? &*lse : nullptr; }
};
Outputs run_backend(const Backend& backend, Problem& p, int threads = 2);

// Runs a spec through a C ABI runtime on kernel set `isa` with the plan's
// own strategy (what a user gets) and checks it against the reference.
void expect_forward_matches(const std::string& isa, const Spec& spec, int threads = 2);

// O (and LSE) against the reference: within tol where the reference is
// finite; exactly 0 and -inf on rows that see no key; NaN exactly on the
// rows where the reference is NaN; nothing written outside the views.
::testing::AssertionResult matches_reference(const HostTensor& o, const HostTensor* lse,
                                             const RefResult& ref, Tolerance tol);
// The same comparison on bare views (lse may be null), for callers that keep
// their own buffers and check what lies outside the views themselves.
::testing::AssertionResult matches_reference(const attnrt_tensor& o, const attnrt_tensor* lse,
                                             const RefResult& ref, Tolerance tol);

// One sequence of a packed or paged call: its m rows, from row0 of batch
// `batch` of o (and lse), against ref, the reference of that sequence alone
// ([Hq, m] rows). Failures name the sequence b, head, row and column.
::testing::AssertionResult matches_sequence(const HostTensor& o, const HostTensor* lse, std::int64_t b,
                                            std::int64_t batch, std::int64_t row0, std::int64_t m,
                                            const RefResult& ref, Tolerance tol);

// The reference of one sequence of a packed or paged call: its `rows` query
// rows (from row0 of batch `batch` of q) against dense k and v holding its n
// keys, under the masks of p; empty for 0 rows.
RefResult sequence_reference(const attnrt_tensor& q, std::int64_t batch, std::int64_t row0, std::int64_t rows,
                             const attnrt_tensor& k, const attnrt_tensor& v, attnrt_params p, std::int64_t n);

// A packed or paged call (In: seqs(), rows(b), row0(b), batch(b),
// reference(b), as test_varlen's and test_paged_kv's inputs have): every
// sequence's rows of o (and lse) against its own reference, and nothing
// written outside the views. Where In also has wider_reference(b) (inputs
// a kernel set may read at a higher precision than the reference's, as
// quantized K/V), a sequence may match that one instead.
template <class In>
::testing::AssertionResult matches_per_sequence(In& in, const HostTensor& o, const HostTensor* lse, Tolerance tol) {
  if (!o.outside_intact()) return ::testing::AssertionFailure() << "O was written outside its view";
  if (lse && !lse->outside_intact()) return ::testing::AssertionFailure() << "LSE was written outside its view";
  for (std::int64_t b = 0; b < in.seqs(); ++b) {
    if (in.rows(b) == 0) continue;
    const auto r = matches_sequence(o, lse, b, in.batch(b), in.row0(b), in.rows(b), in.reference(b), tol);
    if constexpr (requires { in.wider_reference(b); }) {
      if (!r && matches_sequence(o, lse, b, in.batch(b), in.row0(b), in.rows(b), in.wider_reference(b), tol)) continue;
    }
    if (!r) return r;
  }
  return ::testing::AssertionSuccess();
}

// Runs In's call (q(), k(), v(), make_o(), make_lse(), params(lse, strategy))
// through the C ABI on rt and checks every sequence, as above.
template <class In>
void expect_call_matches_per_sequence(attnrt_runtime* rt, In& in, attnrt_dtype t, attnrt_strategy strategy) {
  HostTensor o = in.make_o();
  std::optional<HostTensor> lse = in.make_lse();
  const attnrt_params p = in.params(lse ? &lse->c() : nullptr, strategy);
  ASSERT_EQ(attnrt_runtime_forward(rt, &in.q().c(), &in.k().c(), &in.v().c(), &o.c(), &p), ATTNRT_OK)
      << attnrt_last_error();
  EXPECT_TRUE(matches_per_sequence(in, o, lse ? &*lse : nullptr, tolerance(t, ATTNRT_EXP2_ACCURATE)));
}
template <class In>
void expect_call_matches_per_sequence(attnrt_runtime* rt, In& in, const BackendCase& c) {
  expect_call_matches_per_sequence(rt, in, c.dtype, static_cast<attnrt_strategy>(static_cast<int>(c.backend.strategy)));
}

// Whether two outputs hold the same bits in every element of their views.
::testing::AssertionResult bit_identical(const HostTensor& a, const HostTensor& b);

// In's fp32 call through the C ABI and through the C++ layer with `cpp`
// (the same call's params, as a C++ user spells them): the same bits, and
// every sequence right.
template <class In>
void expect_c_and_cpp_agree(In& in, const attnrt::Params& cpp) {
  HostTensor o_c = in.make_o(), o_cpp = in.make_o();
  CRuntime crt("", 2);
  ASSERT_EQ(crt.status(), ATTNRT_OK) << crt.error();
  const attnrt_params p = in.params(nullptr, ATTNRT_STRATEGY_AUTO);
  ASSERT_EQ(attnrt_runtime_forward(crt.get(), &in.q().c(), &in.k().c(), &in.v().c(), &o_c.c(), &p), ATTNRT_OK);
  attnrt::Runtime rt(attnrt::Config{.num_threads = 2});
  rt.forward(in.q().cpp(), in.k().cpp(), in.v().cpp(), o_cpp.cpp(), cpp);
  EXPECT_TRUE(bit_identical(o_c, o_cpp));
  EXPECT_TRUE(matches_per_sequence(in, o_cpp, nullptr, tolerance(ATTNRT_F32, ATTNRT_EXP2_ACCURATE)));
}

}  // namespace attnrt::test
