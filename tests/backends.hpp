// What a test can run on: every kernel set the registry has for a dtype,
// paired with every strategy. Sets this CPU cannot run are
// listed too, so a test can name them and GTEST_SKIP.
#pragma once

#include <attnrt/attnrt.h>

#include <ostream>
#include <string>
#include <vector>

#include "kernels/kernel_set.hpp"
#include "kernels/pipelines/pipeline.hpp"

namespace attnrt::test {

inline constexpr kernels::Strategy kAllStrategies[] = {
    kernels::Strategy::online, kernels::Strategy::two_pass, kernels::Strategy::three_pass};

struct Backend {
  std::string isa;  // a KernelSet name: what attnrt::Config::isa selects
  kernels::Strategy strategy;
  std::string name() const;  // "generic_online"
};

// A backend for one input dtype: what per-set tests are parameterized over.
struct BackendCase {
  Backend backend;
  attnrt_dtype dtype;
  std::string name() const;  // "generic_online_f16"
};
inline void PrintTo(const BackendCase& c, std::ostream* os) { *os << c.name(); }  // in gtest messages

kernels::DType to_kernel_dtype(attnrt_dtype t);

// Kernel sets the registry has for dtype t, in registry order.
std::vector<const kernels::KernelSet*> sets_for(attnrt_dtype t);
// Every (set for dtype t) x (strategy).
std::vector<Backend> backends_for(attnrt_dtype t);
// Every backend of every dtype.
std::vector<BackendCase> backend_cases();
// The names of the tuning table's rows (kernels/tuning.hpp), for config.uarch.
std::vector<const char*> tuning_row_names();
// The rows that give the set `isa` (for dtype t) other few-row kernels
// than this CPU's row does, one row per other entry: where config.uarch
// changes what that set runs here.
std::vector<const char*> tuning_rows_changing(const std::string& isa, attnrt_dtype t);

bool cpu_runs(const kernels::KernelSet& ks);
// Whether this CPU runs a few-row entry's kernels (its own features too).
bool cpu_runs(const kernels::FewRowKernels& f);
// Whether this CPU runs the set named isa for dtype t.
bool cpu_runs(const std::string& isa, attnrt_dtype t);
// Whether the registry has a set named isa for dtype t.
bool has_set(const std::string& isa, attnrt_dtype t);

// Whether the tests run under an emulator (scripts/ci-sve.sh sets
// ATTNRT_TEST_EMULATED=1): the big suites then size themselves for it.
bool emulated();

// Whether the library under test is built with sanitizers (ATTNRT_SANITIZE):
// checks that repeat the library's accesses through another layer are left
// to native runs.
bool sanitized();

}  // namespace attnrt::test
