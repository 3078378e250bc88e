#include "tests/fuzz/fuzz_runner.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "tests/fuzz/fuzz_call.hpp"
#include "tests/fuzz/fuzz_inputs.hpp"
#include "tests/harness.hpp"

namespace attnrt::fuzz {
namespace {

Outcome fail(const std::string& why) { return {false, why}; }

std::int64_t element_size(attnrt_dtype t) { return t == ATTNRT_F32 ? 4 : 2; }

// Batch item b of t alone.
attnrt_tensor sequence(const attnrt_tensor& t, std::int64_t b) {
  attnrt_tensor s = t;
  s.data = static_cast<char*>(t.data) + b * t.stride[0] * element_size(t.dtype);
  s.shape[0] = 1;
  return s;
}

// How far a row of o (and lse) is from a reference row, in tolerances.
double row_error(const attnrt_tensor& o, const attnrt_tensor* lse, const test::RefResult& ref, std::int64_t row,
                 test::Tolerance tol) {
  const std::int64_t H = o.shape[1], M = o.shape[2], Dv = o.shape[3];
  const std::int64_t b = row / (H * M), h = row / M % H, i = row % M;
  auto off = [](double got, double want, double t) {
    if (std::isnan(got) || std::isnan(want)) return std::isnan(got) == std::isnan(want) ? 0.0 : INFINITY;
    return got == want ? 0.0 : std::abs(got - want) / t;
  };
  double e = lse ? off(test::load(*lse, b, h, i, 0), ref.lse[row], test::lse_tolerance(tol, ref.lse[row])) : 0.0;
  for (std::int64_t d = 0; d < Dv; ++d) e = std::max(e, off(test::load(o, b, h, i, d), ref.o[row * Dv + d], tol.o));
  return e;
}

// Row by row, the one of two references o (and lse) is nearer to, into a:
// quantized K/V may be used at q's dtype's precision or in fp32 (attnrt.h),
// and which may differ between the row blocks of one call.
void nearer_rows(const attnrt_tensor& o, const attnrt_tensor* lse, test::RefResult& a, const test::RefResult& b,
                 test::Tolerance tol) {
  const std::int64_t Dv = o.shape[3];
  for (std::int64_t row = 0; row < static_cast<std::int64_t>(a.lse.size()); ++row) {
    if (row_error(o, lse, b, row, tol) >= row_error(o, lse, a, row, tol)) continue;
    a.lse[row] = b.lse[row];
    std::copy_n(b.o.begin() + row * Dv, Dv, a.o.begin() + row * Dv);
  }
}

// Rows [row0, row0 + rows) of batch 0 of t.
attnrt_tensor rows_of(const attnrt_tensor& t, std::int64_t row0, std::int64_t rows) {
  attnrt_tensor s = t;
  s.data = static_cast<char*>(t.data) + row0 * t.stride[2] * element_size(t.dtype);
  s.shape[2] = rows;
  return s;
}

// An invalid call: an error with a message naming the broken argument
// (where break_call says which), and neither output touched.
Outcome judge_invalid(const CallResult& got, const Inputs& in, const std::string& names) {
  if (got.status == ATTNRT_OK) return fail("the broken call succeeded");
  if (got.status != ATTNRT_INVALID_ARGUMENT)
    return fail("status " + std::to_string(got.status) + " (want INVALID_ARGUMENT): " + got.message);
  if (got.message.empty()) return fail("rejected with an empty message");
  if (got.message.find(names) == std::string::npos) return fail("the message does not name " + names + ": " + got.message);
  if (!in.o.unchanged()) return fail("the rejected call wrote to o");
  if (in.lse && !in.lse->unchanged()) return fail("the rejected call wrote to lse");
  return {};
}

Outcome judge_valid(const CallResult& got, const Inputs& in, const Case& c) {
  if (got.status != ATTNRT_OK) return fail("status " + std::to_string(got.status) + ": " + got.message);
  if (!in.o.padding_intact()) return fail("o was written outside its view");
  if (in.lse && !in.lse->padding_intact()) return fail("lse was written outside its view");
  attnrt_params p = in.params();
  p.lse = nullptr;
  const test::Tolerance tol = test::tolerance(c.dtype, c.precision);
  // Each sequence (the whole call unless varlen) against the reference of
  // its rows, and with two references each row against the nearer.
  for (std::int64_t b = 0; b < (c.varlen ? c.seqs() : 1); ++b) {
    const std::int64_t row0 = c.q_row0(b), rows = c.q_rows(b);
    if (rows == 0) continue;
    auto reference = [&](bool rounded) {
      const attnrt_tensor &k = in.reference_k(rounded), &v = in.reference_v(rounded);
      if (!c.varlen) return test::reference_forward(in.q.view(), k, v, p);
      return test::sequence_reference(in.q.view(), 0, row0, rows, sequence(k, b), sequence(v, b), p, c.keys(b));
    };
    const attnrt_tensor o = c.varlen ? rows_of(in.o.view(), row0, rows) : in.o.view();
    const attnrt_tensor lse = !in.lse ? attnrt_tensor{} : c.varlen ? rows_of(in.lse->view(), row0, rows) : in.lse->view();
    test::RefResult ref = reference(false);
    if (in.k_ref_q) nearer_rows(o, in.lse ? &lse : nullptr, ref, reference(true), tol);
    const ::testing::AssertionResult match = test::matches_reference(o, in.lse ? &lse : nullptr, ref, tol);
    if (!match) return fail((c.varlen ? "sequence " + std::to_string(b) + ": " : "") + match.message());
  }
  return {};
}

}  // namespace

Runner::Runner() = default;

Runner::~Runner() {
  for (auto& [key, rts] : runtimes_) attnrt_runtime_destroy(rts.c);
}

Runner::Runtimes& Runner::runtimes(const Case& c) {
  const std::lock_guard<std::mutex> lock(mutex_);
  Runtimes& rts = runtimes_[{c.kernel_set, c.threads, c.executor, c.topology, c.uarch}];
  if (rts.c) return rts;
  attnrt_config config;
  if (attnrt_config_init(&config) != ATTNRT_OK) throw std::runtime_error(attnrt_last_error());
  config.isa = c.kernel_set.c_str();
  config.num_threads = c.threads;
  config.executor = c.executor == "tbb" ? ATTNRT_EXECUTOR_TBB : ATTNRT_EXECUTOR_OPENMP;
  config.topology = c.topology.empty() ? nullptr : c.topology.c_str();
  config.uarch = c.uarch.empty() ? nullptr : c.uarch.c_str();
  if (attnrt_runtime_create(&config, &rts.c) != ATTNRT_OK)
    throw std::runtime_error("runtime for " + c.kernel_set + ": " + attnrt_last_error());
  rts.cpp = std::make_unique<attnrt::Runtime>(
      attnrt::Config{.num_threads = c.threads, .executor = c.executor, .isa = c.kernel_set, .topology = c.topology,
                     .uarch = c.uarch});
  return rts;
}

Outcome Runner::run(const Case& c) {
  const bool on_default = c.api == Api::c_default || c.api == Api::cpp_default;
  attnrt_runtime* rt = nullptr;
  attnrt::Runtime* cpp_rt = nullptr;
  if (!on_default) {
    Runtimes& rts = runtimes(c);
    rt = rts.c;
    cpp_rt = rts.cpp.get();
    const std::string set = attnrt_runtime_kernel_set(rt, c.dtype), cpp_set = cpp_rt->kernel_set(static_cast<attnrt::DType>(c.dtype));
    if (set != c.kernel_set || cpp_set != c.kernel_set)
      return fail("runtimes asked for " + c.kernel_set + " run " + set + " (C) and " + cpp_set + " (C++)");
  }
  Inputs in(c, {rt, cpp_rt});
  Call call(in);
  const std::string names = break_call(call, c, &rt);
  if (c.breakage == Breakage::array_inside_output) {  // the array's values are now part of o or lse
    in.o.snapshot();
    if (in.lse) in.lse->snapshot();
  }
  const bool c_api = c.api == Api::c || c.api == Api::c_default;
  auto make_call = [&](test::CallerFpMode mode) {
    const test::CallerFpEnv env(mode);
    return c_api ? call_c(call, rt, c.api == Api::c_default) : call_cpp(call, cpp_rt);
  };
  const CallResult got = make_call(c.caller_fp);
  if (c.breakage != Breakage::none) return judge_invalid(got, in, names);
  if (Outcome judged = judge_valid(got, in, c); !judged.passed || c.caller_fp.is_default()) return judged;
  // The caller's modes must not reach the result: the same call from the
  // default environment rewrites the same bytes.
  in.o.snapshot();
  if (in.lse) in.lse->snapshot();
  const CallResult again = make_call({});
  if (again.status != ATTNRT_OK) return fail("from the default environment: status " + std::to_string(again.status));
  if (!in.o.unchanged()) return fail("o differs from the same call's in the default floating-point environment");
  if (in.lse && !in.lse->unchanged())
    return fail("lse differs from the same call's in the default floating-point environment");
  return {};
}

}  // namespace attnrt::fuzz
