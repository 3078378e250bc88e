// Built when OpenBLAS was not found at configure time.
#include "bench/baseline.hpp"

namespace attnrt::bench {

std::unique_ptr<Baseline> make_baseline(const Workload&, int) { return nullptr; }

std::string baseline_description() {
  return "none (OpenBLAS was not found when this build was configured)";
}

void give_openblas_its_kernels(char**) {}

}  // namespace attnrt::bench
