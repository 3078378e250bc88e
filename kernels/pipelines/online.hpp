#pragma once
#include "kernels/pipelines/pipeline.hpp"

namespace attnrt::kernels {
std::size_t online_workspace_bytes(const KernelSet& ks, int d, int dv, const Blocking& b);
void online_forward(const KernelSet& ks, const HeadProblem& p, const Tile& t, const Blocking& b,
                    Workspace ws);
}  // namespace attnrt::kernels
