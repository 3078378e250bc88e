// Shape files, one shape per line as benchdnn reads its batch files:
//   NAME  TARGET  SHAPE OPTIONS        # e.g. S1 peak=85 --heads 16 --q-len 512
// TARGET is peak=P (P% of the dtype's measured arithmetic peak), bw=P (P%
// of one core's measured read bandwidth) or "-". The target shapes ship as
// bench/shapes/targets.txt, built into attnrt-bench as `--set targets`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "bench/shapes.hpp"

namespace attnrt::bench {

struct Target {
  enum class Kind { none, peak, bw } kind = Kind::none;
  double pct = 0;
};

struct NamedShape {
  std::string name;  // "" for a shape given on the command line
  Shape shape;
  Target target;
};

// The shapes of a file's text; `source` names it in errors, which are
// UsageErrors naming the line.
std::vector<NamedShape> parse_shape_file(std::string_view text, const std::string& source);
std::vector<NamedShape> read_shape_file(const std::string& path);

// bench/shapes/targets.txt as built in.
const std::vector<NamedShape>& target_shapes();

// The target shape equal to `s`, or a nameless one without target.
NamedShape with_target(const Shape& s);

}  // namespace attnrt::bench
