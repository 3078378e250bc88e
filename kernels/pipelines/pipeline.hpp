// The single-core algorithms, written once over a KernelSet. Each runs one
// work item (a Tile of one head) with the scratch it is handed.
#pragma once

#include <cstddef>

#include "kernels/kernel_set.hpp"
#include "kernels/problem.hpp"

namespace attnrt::kernels {

enum class Strategy : int { online = 1, two_pass = 2, three_pass = 3 };

const char* strategy_name(Strategy s);

// Block sizes a plan picks for a pipeline. mb: query rows processed together
// (a multiple of the set's mr); nb: keys per block (a multiple of nr and
// k_pack).
struct Blocking {
  int mb;
  int nb;
};

// Bytes of scratch one core needs to run `s` on heads of dims d/dv.
std::size_t workspace_bytes(Strategy s, const KernelSet& ks, int d, int dv, const Blocking& b);

// Whether this build has pipeline `s`.
bool has_pipeline(Strategy s);

// Runs `s` on one tile. ws.bytes >= workspace_bytes(s, ks, p.d, p.dv, b).
void run_pipeline(Strategy s, const KernelSet& ks, const HeadProblem& p, const Tile& t,
                  const Blocking& b, Workspace ws);

}  // namespace attnrt::kernels
