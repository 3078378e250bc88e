#pragma once
#include "kernels/pipelines/pipeline.hpp"

namespace attnrt::kernels {
int two_pass_chunk_keys(const KernelSet& ks, int d, int dv, const Blocking& b);
std::size_t two_pass_workspace_bytes(const KernelSet& ks, int d, int dv, const Blocking& b);
void two_pass_forward(const KernelSet& ks, const HeadProblem& p, const Tile& t, const Blocking& b,
                      Workspace ws);
}  // namespace attnrt::kernels
