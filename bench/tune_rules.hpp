// The rules `attnrt-bench --tune` writes, in the ATTNRT_TUNING_FILE format
// (runtime/src/tuning.hpp), and the round trip that proves them.
//
// A rule matches the shape's kernel set, dtype and D, and its M and N
// exactly, or with --tune-range within a factor of two: M in
// [max(1, M/2), 2M], N likewise. Fields the plan's strategy does not read
// are written 0 (the planner's default). The format has no field for
// causal, Dv or the head counts, so shapes that differ only there would
// share a rule: the first one written wins, and the planner would not pick
// the later shape's plan, so that rule is written commented out.
#pragma once

#include <string>
#include <vector>

#include "bench/engine.hpp"
#include "bench/tune.hpp"

namespace attnrt::bench {

struct Rules {
  std::string text;  // rule lines, shadowed ones as '#' comments; a '#' header line first
  int written = 0;   // shapes whose rule is in effect
  int shadowed = 0;
};
Rules tuned_rules(const Engine& engine, const std::vector<TunedShape>& tuned, bool range);

// The round trip: reads `path` as the runtime reads ATTNRT_TUNING_FILE and
// counts the shapes of `tuned` whose best plan the planner then picks.
// Throws Error if the file does not parse.
int picked_from_file(const Engine& engine, const std::vector<TunedShape>& tuned, const std::string& path);

}  // namespace attnrt::bench
