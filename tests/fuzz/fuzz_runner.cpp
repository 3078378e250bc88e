#include "tests/fuzz/fuzz_runner.hpp"

#include <stdexcept>

#include "tests/fuzz/fuzz_call.hpp"
#include "tests/fuzz/fuzz_inputs.hpp"
#include "tests/harness.hpp"

namespace attnrt::fuzz {
namespace {

Outcome fail(const std::string& why) { return {false, why}; }

// An invalid call: an error with a message, and neither output touched.
Outcome judge_invalid(const CallResult& got, const Inputs& in) {
  if (got.status == ATTNRT_OK) return fail("the broken call succeeded");
  if (got.status != ATTNRT_INVALID_ARGUMENT)
    return fail("status " + std::to_string(got.status) + " (want INVALID_ARGUMENT): " + got.message);
  if (got.message.empty()) return fail("rejected with an empty message");
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
  const test::RefResult ref = test::reference_forward(in.q.view(), in.k.view(), in.v.view(), p);
  const ::testing::AssertionResult match = test::matches_reference(
      in.o.view(), in.lse ? &in.lse->view() : nullptr, ref, test::tolerance(c.dtype, c.precision));
  if (!match) return fail(match.message());
  return {};
}

}  // namespace

Runner::Runner() = default;

Runner::~Runner() {
  for (auto& [key, rts] : runtimes_) attnrt_runtime_destroy(rts.c);
}

Runner::Runtimes& Runner::runtimes(const Case& c) {
  Runtimes& rts = runtimes_[{c.kernel_set, c.threads, c.executor}];
  if (rts.c) return rts;
  attnrt_config config;
  if (attnrt_config_init(&config) != ATTNRT_OK) throw std::runtime_error(attnrt_last_error());
  config.isa = c.kernel_set.c_str();
  config.num_threads = c.threads;
  config.executor = c.executor == "tbb" ? ATTNRT_EXECUTOR_TBB : ATTNRT_EXECUTOR_OPENMP;
  if (attnrt_runtime_create(&config, &rts.c) != ATTNRT_OK)
    throw std::runtime_error("runtime for " + c.kernel_set + ": " + attnrt_last_error());
  rts.cpp = std::make_unique<attnrt::Runtime>(
      attnrt::Config{.num_threads = c.threads, .executor = c.executor, .isa = c.kernel_set});
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
  Inputs in(c);
  Call call(in);
  break_call(call, c, &rt);
  const bool c_api = c.api == Api::c || c.api == Api::c_default;
  const CallResult got = c_api ? call_c(call, rt, c.api == Api::c_default) : call_cpp(call, cpp_rt);
  return c.breakage == Breakage::none ? judge_valid(got, in, c) : judge_invalid(got, in);
}

}  // namespace attnrt::fuzz
