// Strategy dispatch: the one place that knows which pipelines exist.
#include "kernels/pipelines/pipeline.hpp"

#include "kernels/pipelines/online.hpp"

namespace attnrt::kernels {

const char* strategy_name(Strategy s) {
  switch (s) {
    case Strategy::online: return "online";
    case Strategy::two_pass: return "two_pass";
    case Strategy::three_pass: return "three_pass";
  }
  return "?";
}

bool has_pipeline(Strategy s) { return s == Strategy::online; }

std::size_t workspace_bytes(Strategy s, const KernelSet& ks, int d, int dv, const Blocking& b) {
  switch (s) {
    case Strategy::online: return online_workspace_bytes(ks, d, dv, b);
    default: return 0;
  }
}

void run_pipeline(Strategy s, const KernelSet& ks, const HeadProblem& p, const Tile& t,
                  const Blocking& b, Workspace ws) {
  const FpModeScope mode(ks);  // e.g. FZ16 for SVE fp16 kernels; restored on return
  switch (s) {
    case Strategy::online: online_forward(ks, p, t, b, ws); return;
    default: return;  // the runtime only plans strategies has_pipeline() accepts
  }
}

}  // namespace attnrt::kernels
