// attnrt-bench's command line. Scripts rely on these option names.
#pragma once

#include <attnrt/attnrt.hpp>

#include <optional>
#include <stdexcept>
#include <string>

#include "bench/shapes.hpp"

namespace attnrt::bench {

struct Options {
  std::optional<Shape> shape;  // set when any shape option was given: run only it
  std::string set = "default"; // otherwise this named shape set
  int threads = 0;             // 0: as the Runtime decides (ATTNRT_NUM_THREADS or all cores)
  std::string isa;             // "": the best this CPU runs
  Strategy strategy = Strategy::automatic;
  Precision precision = Precision::accurate;
  int reps = 5;
  bool json = false;
  bool help = false;
};

// A bad command line; the message names the option.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Options parse_options(int argc, const char* const* argv);  // throws UsageError

const char* usage();

const char* strategy_name(Strategy s);
const char* precision_name(Precision p);

}  // namespace attnrt::bench
