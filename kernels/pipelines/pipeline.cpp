// Strategy dispatch: the one place that knows which pipelines exist.
#include "kernels/pipelines/pipeline.hpp"

#include <algorithm>
#include <numeric>
#include <utility>

#include "kernels/pipelines/online.hpp"
#include "kernels/pipelines/three_pass.hpp"
#include "kernels/pipelines/two_pass.hpp"

namespace attnrt::kernels {

namespace {
constexpr std::pair<Strategy, const char*> kNames[] = {
    {Strategy::online, "online"}, {Strategy::two_pass, "two_pass"}, {Strategy::three_pass, "three_pass"}};
}  // namespace

const char* strategy_name(Strategy s) {
  for (const auto& [strategy, name] : kNames)
    if (strategy == s) return name;
  return "?";
}

std::optional<Strategy> strategy_named(std::string_view name) {
  for (const auto& [strategy, n] : kNames)
    if (name == n) return strategy;
  return std::nullopt;
}

int key_step(const KernelSet& ks) { return std::lcm(std::lcm(ks.nr, ks.k_pack), a_block_of(ks)); }

int kv_quantum(const KernelSet& ks) { return std::max({ks.nr, ks.k_pack, a_block_of(ks)}); }

int chunk_keys(Strategy s, const KernelSet& ks, int d, int dv, const Blocking& b) {
  switch (s) {
    case Strategy::online: return 0;
    case Strategy::two_pass: return two_pass_chunk_keys(ks, d, dv, b);
    case Strategy::three_pass: return three_pass_chunk_keys(ks, d, dv, b);
  }
  return 0;
}

std::size_t workspace_bytes(Strategy s, const KernelSet& ks, int d, int dv, const Blocking& b) {
  switch (s) {
    case Strategy::online: return online_workspace_bytes(ks, d, dv, b);
    case Strategy::two_pass: return two_pass_workspace_bytes(ks, d, dv, b);
    case Strategy::three_pass: return three_pass_workspace_bytes(ks, d, dv, b);
  }
  return 0;
}

std::size_t shared_panels_bytes(Strategy s, const KernelSet& ks, int d, int dv, const Blocking& b) {
  const int keys = s == Strategy::two_pass ? two_pass_chunk_keys(ks, d, dv, b) : b.nb;
  return std::max(k_panels_bytes(ks, keys, d), v_panels_bytes(ks, keys, dv));
}

void run_pipeline(Strategy s, const KernelSet& ks, const HeadProblem& p, const Tile& t,
                  const Blocking& b, Workspace ws) {
  const FpModeScope mode(ks);  // e.g. FZ16 for SVE fp16 kernels; restored on return
  switch (s) {
    case Strategy::online: online_forward(ks, p, t, b, ws); break;
    case Strategy::two_pass: two_pass_forward(ks, p, t, b, ws); break;
    case Strategy::three_pass: three_pass_forward(ks, p, t, b, ws); break;
  }
}

}  // namespace attnrt::kernels
