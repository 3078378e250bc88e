#include "tests/backends.hpp"

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "kernels/registry.hpp"
#include "kernels/tuning.hpp"
#include "runtime/internal/attnrt_internal.hpp"

namespace attnrt::test {

std::string Backend::name() const { return isa + "_" + kernels::strategy_name(strategy); }

std::string BackendCase::name() const {
  static const char* const names[] = {"f32", "f16", "bf16"};
  return backend.name() + "_" + names[dtype];
}

kernels::DType to_kernel_dtype(attnrt_dtype t) { return static_cast<kernels::DType>(t); }

std::vector<const kernels::KernelSet*> sets_for(attnrt_dtype t) {
  std::vector<const kernels::KernelSet*> out;
  for (const kernels::KernelSet* ks : kernels::kernel_sets(to_kernel_dtype(t)))
    if (ks) out.push_back(ks);
  return out;
}

std::vector<Backend> backends_for(attnrt_dtype t) {
  std::vector<Backend> out;
  for (const kernels::KernelSet* ks : sets_for(t))
    for (kernels::Strategy s : kAllStrategies) out.push_back({ks->name, s});
  return out;
}

std::vector<BackendCase> backend_cases() {
  std::vector<BackendCase> out;
  for (attnrt_dtype t : {ATTNRT_F32, ATTNRT_F16, ATTNRT_BF16})
    for (const Backend& b : backends_for(t)) out.push_back({b, t});
  return out;
}

std::vector<const char*> tuning_row_names() {
  std::vector<const char*> out;
  for (const kernels::UarchTuning& row : kernels::kUarchTable) out.push_back(row.name);
  return out;
}

std::vector<const char*> tuning_rows_changing(const std::string& isa, attnrt_dtype t) {
  std::vector<const char*> out;
  const auto sets = sets_for(t);
  const auto it = std::find_if(sets.begin(), sets.end(), [&](const kernels::KernelSet* ks) { return isa == ks->name; });
  if (it == sets.end()) return out;
  const kernels::KernelSet& ks = (*it)->few_rows_from ? *(*it)->few_rows_from() : **it;  // as the runtime asks
  const std::uint32_t cpu = rt::cpu_features().bits;
  std::vector<const kernels::FewRowKernels*> seen{kernels::few_rows_for(kernels::uarch_tuning(rt::cpu_features().uarch), ks, cpu)};
  for (const kernels::UarchTuning& row : kernels::kUarchTable) {
    const kernels::FewRowKernels* f = kernels::few_rows_for(row, ks, cpu);
    if (std::find(seen.begin(), seen.end(), f) == seen.end()) {
      seen.push_back(f);
      out.push_back(row.name);
    }
  }
  return out;
}

bool cpu_runs(const kernels::KernelSet& ks) {
  return kernels::has_features(rt::cpu_features().bits, ks.requires_cpu);
}

bool cpu_runs(const kernels::FewRowKernels& f) {
  return kernels::has_features(rt::cpu_features().bits, f.requires_cpu);
}

bool cpu_runs(const std::string& isa, attnrt_dtype t) {
  for (const kernels::KernelSet* ks : sets_for(t))
    if (isa == ks->name) return cpu_runs(*ks);
  return false;
}

bool has_set(const std::string& isa, attnrt_dtype t) {
  const auto sets = sets_for(t);
  return std::any_of(sets.begin(), sets.end(), [&](const kernels::KernelSet* ks) { return isa == ks->name; });
}

bool emulated() {
  const char* e = std::getenv("ATTNRT_TEST_EMULATED");
  return e && std::string_view(e) == "1";
}

bool sanitized() { return ATTNRT_TEST_SANITIZED; }

}  // namespace attnrt::test
