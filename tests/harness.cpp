#include "tests/harness.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string_view>

namespace attnrt::test {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// 0.5 -> "0p5", -2 -> "m2": gtest names allow only [A-Za-z0-9_].
std::string number_name(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  std::string s;
  for (const char* c = buf; *c; ++c) s += *c == '.' ? 'p' : *c == '-' ? 'm' : *c == '+' ? 'P' : *c;
  return s;
}

HostTensor::Shape bias_shape(const Spec& s) {
  const bool b1 = s.bias == BiasKind::batch1 || s.bias == BiasKind::both1;
  const bool h1 = s.bias == BiasKind::heads1 || s.bias == BiasKind::both1;
  return {b1 ? 1 : s.B, h1 ? 1 : s.Hq, s.M, s.N};
}

attnrt_strategy c_strategy(kernels::Strategy s) { return static_cast<attnrt_strategy>(static_cast<int>(s)); }

}  // namespace

std::string Spec::name() const {
  std::ostringstream os;
  os << dtype_name(dtype) << "_B" << B << "_H" << Hq << "x" << Hkv << "_M" << M << "_N" << N << "_D" << D;
  if (Dv != D) os << "_Dv" << Dv;
  os << "_" << layout_name(layout);
  if (causal) os << "_causal";
  if (window_left >= 0) os << "_wl" << window_left;
  if (window_right >= 0) os << "_wr" << window_right;
  if (causal || window_left >= 0 || window_right >= 0)
    os << (align == ATTNRT_ALIGN_BOTTOM_RIGHT ? "_br" : "_tl");
  if (!kv_lens.empty()) {
    os << "_kvlens";
    for (std::int64_t n : kv_lens) os << "_" << n;
  }
  switch (bias) {
    case BiasKind::none: break;
    case BiasKind::full: os << "_bias"; break;
    case BiasKind::batch1: os << "_bias1H"; break;
    case BiasKind::heads1: os << "_biasB1"; break;
    case BiasKind::both1: os << "_bias11"; break;
  }
  if (bias_masked_row) os << "_maskedrow";
  if (softcap > 0) os << "_cap" << number_name(softcap);
  if (alibi) os << "_alibi";
  if (sinks) os << "_sinks";
  if (scale != 0) os << "_scale" << number_name(scale);
  if (lse) os << "_lse";
  if (precision == ATTNRT_EXP2_FAST) os << "_fast";
  return os.str();
}

void PrintTo(const Spec& s, std::ostream* os) { *os << s.name(); }

HeadTerms::HeadTerms(std::int64_t Hq, bool with_alibi, bool with_sinks, std::mt19937& rng) {
  for (std::int64_t h = 0; with_alibi && h < Hq; ++h)
    alibi.push_back(std::exp2(-8.0f * static_cast<float>(h + 1) / static_cast<float>(Hq)));
  std::uniform_real_distribution<float> sink(-2.0f, 2.0f);
  for (std::int64_t h = 0; with_sinks && h < Hq; ++h)
    sinks.push_back(h == 0 ? -std::numeric_limits<float>::infinity() : sink(rng));
}

attnrt_params masked_params(bool causal, attnrt_causal_align align, std::int64_t window_left,
                            std::int64_t window_right, const HeadTerms& heads, attnrt_strategy strategy) {
  attnrt_params p;
  attnrt_params_init(&p);
  p.causal = causal ? 1 : 0;
  p.align = align;
  p.window_left = window_left;
  p.window_right = window_right;
  p.strategy = strategy;
  p.alibi_slopes = heads.alibi_or_null();
  p.sinks = heads.sinks_or_null();
  return p;
}

Problem::Problem(const Spec& spec, std::uint32_t seed)
    : spec_(spec),
      q_(spec.dtype, {spec.B, spec.Hq, spec.M, spec.D}, spec.layout, kNanFill),
      k_(spec.dtype, {spec.B, spec.Hkv, spec.N, spec.D}, spec.layout, kNanFill),
      v_(spec.dtype, {spec.B, spec.Hkv, spec.N, spec.Dv}, spec.layout, kNanFill) {
  std::mt19937 rng(seed ? seed : seed_of(spec.name()));
  q_.fill_uniform(rng);
  k_.fill_uniform(rng);
  v_.fill_uniform(rng);
  heads_ = HeadTerms(spec.Hq, spec.alibi, spec.sinks, rng);
  if (spec.bias == BiasKind::none) return;
  const HostTensor::Shape bs = bias_shape(spec);
  bias_.emplace(ATTNRT_F32, bs, spec.layout, kNanFill);
  bias_->fill_uniform(rng);
  // About one entry in eight masked with -inf.
  std::uniform_int_distribution<int> eighth(0, 7);
  const std::int64_t masked_row = spec.M > 1 ? 1 : 0;
  for (std::int64_t b = 0; b < bs[0]; ++b)
    for (std::int64_t h = 0; h < bs[1]; ++h)
      for (std::int64_t i = 0; i < bs[2]; ++i)
        for (std::int64_t j = 0; j < bs[3]; ++j)
          if (eighth(rng) == 0 || (spec.bias_masked_row && i == masked_row)) bias_->set(b, h, i, j, -kInf);
  bias_c_ = bias_->c();
  bias_cpp_ = bias_->cpp();
}

HostTensor Problem::make_o() const {
  return HostTensor(spec_.dtype, {spec_.B, spec_.Hq, spec_.M, spec_.Dv}, spec_.layout, kCanaryFill);
}

std::optional<HostTensor> Problem::make_lse() const {
  if (!spec_.lse) return std::nullopt;
  return HostTensor(ATTNRT_F32, {spec_.B, spec_.Hq, spec_.M, 1}, spec_.layout, kCanaryFill);
}

attnrt_params Problem::params(const attnrt_tensor* lse, kernels::Strategy strategy) const {
  attnrt_params p;
  attnrt_params_init(&p);
  p.scale = spec_.scale;
  p.causal = spec_.causal ? 1 : 0;
  p.align = spec_.align;
  p.window_left = spec_.window_left;
  p.window_right = spec_.window_right;
  p.kv_lens = spec_.kv_lens.empty() ? nullptr : spec_.kv_lens.data();
  p.bias = bias_ ? &bias_c_ : nullptr;
  p.softcap = spec_.softcap;
  p.precision = spec_.precision;
  p.strategy = c_strategy(strategy);
  p.lse = lse;
  p.alibi_slopes = heads_.alibi_or_null();
  p.sinks = heads_.sinks_or_null();
  return p;
}

attnrt::Params Problem::cpp_params(const attnrt::Tensor* lse, kernels::Strategy strategy) const {
  attnrt::Params p;
  p.scale = spec_.scale;
  p.causal = spec_.causal;
  p.align = static_cast<attnrt::Align>(spec_.align);
  p.window_left = spec_.window_left;
  p.window_right = spec_.window_right;
  p.kv_lens = spec_.kv_lens.empty() ? nullptr : spec_.kv_lens.data();
  p.bias = bias_ ? &bias_cpp_ : nullptr;
  p.softcap = spec_.softcap;
  p.precision = static_cast<attnrt::Precision>(spec_.precision);
  p.strategy = static_cast<attnrt::Strategy>(c_strategy(strategy));
  p.lse = lse;
  p.alibi_slopes = heads_.alibi_or_null();
  p.sinks = heads_.sinks_or_null();
  return p;
}

RefResult Problem::reference() const {
  return reference_forward(q_.c(), k_.c(), v_.c(), params(nullptr, kernels::Strategy::online));
}

void BackendTest::SetUp() {
  const BackendCase& c = GetParam();
  if (!cpu_runs(c.backend.isa, c.dtype)) GTEST_SKIP() << c.backend.isa << " needs CPU features this machine lacks";
  if (emulated() && !c.backend.isa.starts_with("sve"))
    GTEST_SKIP() << "under emulation only the SVE sets run (the others run natively)";
}

CRuntime::CRuntime(const std::string& isa, int num_threads, const char* uarch) {
  attnrt_config c;
  status_ = attnrt_config_init(&c);
  if (status_ == ATTNRT_OK) {
    if (!isa.empty()) c.isa = isa.c_str();
    c.num_threads = num_threads;
    if (uarch) c.uarch = uarch;
    status_ = attnrt_runtime_create(&c, &rt_);
  }
  if (status_ != ATTNRT_OK) error_ = attnrt_last_error();
}

CRuntime::~CRuntime() { attnrt_runtime_destroy(rt_); }

void TuningRowTest::SetUp() {
  if (emulated() && std::string_view(GetParam()) != "a64fx")
    GTEST_SKIP() << "every row gives the SVE sets the same settings: under emulation the a64fx row runs them";
  rt_ = std::make_unique<CRuntime>("", 2, GetParam());
  ASSERT_EQ(rt_->status(), ATTNRT_OK) << rt_->error();
  ASSERT_STREQ(attnrt_runtime_uarch(rt_->get()), GetParam());
}

std::string tuning_row_test_name(const ::testing::TestParamInfo<const char*>& info) { return info.param; }

const CRuntime& shared_runtime(const std::string& isa, int num_threads) {
  static std::mutex guard;
  static std::map<std::pair<std::string, int>, std::unique_ptr<CRuntime>> made;
  const std::lock_guard<std::mutex> lock(guard);
  std::unique_ptr<CRuntime>& rt = made[{isa, num_threads}];
  if (!rt || rt->status() != ATTNRT_OK) rt = std::make_unique<CRuntime>(isa, num_threads);
  return *rt;
}

attnrt_status run_c(attnrt_runtime* rt, Problem& p, HostTensor& o, HostTensor* lse,
                    kernels::Strategy strategy) {
  const attnrt_params params = p.params(lse ? &lse->c() : nullptr, strategy);
  return attnrt_runtime_forward(rt, &p.q().c(), &p.k().c(), &p.v().c(), &o.c(), &params);
}

Outputs run_backend(const Backend& backend, Problem& p, int threads) {
  Outputs out{p.make_o(), p.make_lse()};
  const CRuntime& rt = shared_runtime(backend.isa, threads);
  if (rt.status() != ATTNRT_OK) {
    ADD_FAILURE() << "runtime for " << backend.isa << ": " << rt.error();
    return out;
  }
  if (run_c(rt.get(), p, out.o, out.lse_ptr(), backend.strategy) != ATTNRT_OK)
    ADD_FAILURE() << "forward on " << backend.name() << ": " << attnrt_last_error();
  return out;
}

void expect_forward_matches(const std::string& isa, const Spec& spec, int threads) {
  SCOPED_TRACE(isa + " " + spec.name());
  Problem p(spec);
  const CRuntime& rt = shared_runtime(isa, threads);
  ASSERT_EQ(rt.status(), ATTNRT_OK) << rt.error();
  HostTensor o = p.make_o();
  std::optional<HostTensor> lse = p.make_lse();
  attnrt_params params = p.params(lse ? &lse->c() : nullptr, kernels::Strategy::online);
  params.strategy = ATTNRT_STRATEGY_AUTO;
  ASSERT_EQ(attnrt_runtime_forward(rt.get(), &p.q().c(), &p.k().c(), &p.v().c(), &o.c(), &params), ATTNRT_OK)
      << attnrt_last_error();
  EXPECT_TRUE(matches_reference(o, lse ? &*lse : nullptr, p.reference(), tolerance(spec.dtype, spec.precision)));
}

::testing::AssertionResult matches_reference(const HostTensor& o, const HostTensor* lse,
                                             const RefResult& ref, Tolerance tol) {
  if (!o.outside_intact()) return ::testing::AssertionFailure() << "O was written outside its view";
  if (lse && !lse->outside_intact()) return ::testing::AssertionFailure() << "LSE was written outside its view";
  return matches_reference(o.c(), lse ? &lse->c() : nullptr, ref, tol);
}

::testing::AssertionResult matches_reference(const attnrt_tensor& o, const attnrt_tensor* lse,
                                             const RefResult& ref, Tolerance tol) {
  const std::int64_t B = o.shape[0], H = o.shape[1], M = o.shape[2], Dv = o.shape[3];
  std::ostringstream first;  // the first offence, in full
  std::int64_t bad = 0;
  double max_o = 0, max_lse = 0;
  auto offend = [&](const char* what, std::int64_t b, std::int64_t h, std::int64_t i, std::int64_t c,
                    double got, double want) {
    if (bad++ == 0)
      first << what << "[b=" << b << ",h=" << h << ",i=" << i << (c >= 0 ? ",c=" + std::to_string(c) : "")
            << "] = " << got << ", reference " << want;
  };
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t i = 0; i < M; ++i) {
        const std::int64_t row = (b * H + h) * M + i;
        const double want_lse = ref.lse[row];
        const bool nan_row = std::isnan(want_lse), empty_row = want_lse == -kInf;
        for (std::int64_t c = 0; c < Dv; ++c) {
          const double got = load(o, b, h, i, c), want = ref.o[row * Dv + c];
          if (nan_row) {
            if (!std::isnan(got)) offend("O (row must be NaN)", b, h, i, c, got, want);
          } else if (empty_row) {
            if (got != 0.0) offend("O (row sees no key: must be exactly 0)", b, h, i, c, got, want);
          } else {
            // An inf or NaN column of a finite row (a visible inf in V) is matched exactly.
            const bool same = got == want || (std::isnan(got) && std::isnan(want));
            const double err = same ? 0.0 : std::fabs(got - want);
            if (!(err <= tol.o)) offend("O", b, h, i, c, got, want);
            if (err > max_o || std::isnan(err)) max_o = std::isnan(err) ? kInf : err;
          }
        }
        if (!lse) continue;
        const double got = load(*lse, b, h, i, 0);
        if (nan_row) {
          if (!std::isnan(got)) offend("LSE (row must be NaN)", b, h, i, -1, got, want_lse);
        } else if (empty_row) {
          if (got != -kInf) offend("LSE (row sees no key: must be -inf)", b, h, i, -1, got, want_lse);
        } else {
          const double err = std::fabs(got - want_lse);
          if (!(err <= lse_tolerance(tol, want_lse))) offend("LSE", b, h, i, -1, got, want_lse);
          if (err > max_lse || std::isnan(err)) max_lse = std::isnan(err) ? kInf : err;
        }
      }
  // Margins, visible in --gtest_output=xml, to see how close a set comes.
  ::testing::Test::RecordProperty("max_o_err", std::to_string(max_o));
  ::testing::Test::RecordProperty("max_lse_err", std::to_string(max_lse));
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " elements out of tolerance (O " << tol.o << ", LSE "
                                       << tol.lse << "); max |O err| " << max_o << ", max |LSE err| "
                                       << max_lse << "; first: " << first.str();
}

::testing::AssertionResult bit_identical(const HostTensor& a, const HostTensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype())
    return ::testing::AssertionFailure() << "shapes or dtypes differ";
  const auto [B, H, S, D] = a.shape();
  std::int64_t diff = 0;
  std::ostringstream first;
  for (std::int64_t bb = 0; bb < B; ++bb)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t s = 0; s < S; ++s)
        for (std::int64_t d = 0; d < D; ++d)
          if (a.bits(bb, h, s, d) != b.bits(bb, h, s, d) && diff++ == 0)
            first << "[" << bb << "," << h << "," << s << "," << d << "]: " << a.get(bb, h, s, d)
                  << " vs " << b.get(bb, h, s, d);
  if (diff == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << diff << " elements differ; first " << first.str();
}

RefResult sequence_reference(const attnrt_tensor& q, std::int64_t batch, std::int64_t row0, std::int64_t rows,
                             const attnrt_tensor& k, const attnrt_tensor& v, attnrt_params p, std::int64_t n) {
  if (rows == 0) return {};
  attnrt_tensor qs = q;
  const std::int64_t esz = q.dtype == ATTNRT_F32 ? 4 : 2;
  qs.data = static_cast<char*>(q.data) + (batch * q.stride[0] + row0 * q.stride[2]) * esz;
  qs.shape[0] = 1;
  qs.shape[2] = rows;
  p.kv_lens = &n;
  return reference_forward(qs, k, v, p);
}

::testing::AssertionResult matches_sequence(const HostTensor& o, const HostTensor* lse, std::int64_t b,
                                            std::int64_t batch, std::int64_t row0, std::int64_t m,
                                            const RefResult& ref, Tolerance tol) {
  const std::int64_t Hq = o.shape()[1], Dv = o.shape()[3];
  for (std::int64_t h = 0; h < Hq; ++h)
    for (std::int64_t i = 0; i < m; ++i) {
      const std::int64_t at = h * m + i;
      auto where = [&] {
        return "sequence " + std::to_string(b) + " head " + std::to_string(h) + " row " + std::to_string(i);
      };
      for (std::int64_t d = 0; d < Dv; ++d) {
        const double want = ref.o[at * Dv + d], got = o.get(batch, h, row0 + i, d);
        if (std::isnan(want) != std::isnan(got) || (!std::isnan(want) && !(std::abs(got - want) <= tol.o)))
          return ::testing::AssertionFailure() << where() << " col " << d << ": O " << got << ", want " << want;
      }
      if (!lse) continue;
      const double want = ref.lse[at], got = lse->get(batch, h, row0 + i, 0);
      const bool ok = std::isnan(want) ? std::isnan(got)
                      : std::isinf(want) ? got == want
                                         : std::abs(got - want) <= lse_tolerance(tol, want);
      if (!ok) return ::testing::AssertionFailure() << where() << ": LSE " << got << ", want " << want;
    }
  return ::testing::AssertionSuccess();
}

}  // namespace attnrt::test
