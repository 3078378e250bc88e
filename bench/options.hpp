// attnrt-bench's command line. Scripts rely on these option names.
#pragma once

#include <attnrt/attnrt.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/arg_parse.hpp"
#include "bench/shapes.hpp"

namespace attnrt::bench {

struct Options {
  std::optional<Shape> shape;  // set when any shape option was given: run only it
  std::string set = "default"; // otherwise this named shape set
  std::string shapes_file;     // or the shapes of this file (shape_file.hpp)
  int threads = 0;             // 0: as the Runtime decides (ATTNRT_NUM_THREADS or all cores)
  std::string isa;             // "": the best this CPU runs
  Strategy strategy = Strategy::automatic;
  Precision precision = Precision::accurate;
  bool alibi = false;  // ALiBi slopes 2^(-8(h+1)/H) per query head
  bool sinks = false;  // a sink logit of 0 per query head
  int reps = 5;
  bool json = false;
  bool tune = false;      // time candidate plans and write the best as tuning-file rules
  std::string tune_out;   // "": the rules go to stdout after the '#' table
  bool tune_range = false;  // rules match M and N within a factor of two, not exactly
  std::vector<std::int64_t> varlen;  // --varlen: per-sequence lengths of one packed call (bench/varlen.hpp)
  bool huge_pages = false;           // --huge-pages (bench/workload.hpp)
  std::int64_t page_size = 0;        // --page-size: the call on a paged K/V cache too (bench/paged.hpp)
  bool pages_token_major = false;    // --page-layout tokens: pools [pages, P, Hkv, D], not [pages, Hkv, P, D]
  DType kv_dtype = DType::f32;       // --kv-dtype: quantized K/V beside bf16 and fp32 (bench/quant_kv.hpp); f32 = off
  bool help = false;
};

Options parse_options(int argc, const char* const* argv);  // throws UsageError

const char* usage();

// The call's parameters for `shape` under these options: its mask, the
// exp2 precision, ALiBi and sinks, and the requested strategy (the
// reference ignores the last). The per-head arrays live for the process.
attnrt_params call_params(const Options& opt, const Shape& shape);

const char* strategy_name(Strategy s);
const char* precision_name(Precision p);

}  // namespace attnrt::bench
