#include "bench/options.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include <unistd.h>

#include "kernels/pipelines/pipeline.hpp"

namespace attnrt::bench {
namespace {

constexpr std::pair<std::string_view, Precision> kPrecisions[] = {
    {"accurate", Precision::accurate}, {"fast", Precision::fast}};

// "auto" or a pipeline's name (kernels::strategy_named, the one table).
Strategy strategy_option(std::string_view text) {
  if (text == "auto") return Strategy::automatic;
  if (const auto s = kernels::strategy_named(text)) return static_cast<Strategy>(*s);
  throw UsageError("--strategy expects auto|online|two_pass|three_pass, got '" + std::string(text) + "'");
}

}  // namespace

Options parse_options(int argc, const char* const* argv) {
  Options o;
  ShapeOptions shape;
  bool lengths_given = false;  // --batch, --q-len or --kv-len, which --varlen replaces
  bool page_layout_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i], value;
    bool has_value = false;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    const auto flag = [&] {
      if (has_value) throw UsageError(std::string(arg) + " takes no value");
    };
    const auto next = [&]() -> std::string_view {
      if (has_value) return value;
      if (i + 1 >= argc) throw UsageError(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--causal") flag();
    lengths_given |= arg == "--batch" || arg == "--q-len" || arg == "--kv-len";
    if (shape.take(arg, next)) continue;
    if (arg == "--threads") o.threads = static_cast<int>(positive(arg, next(), 4096));
    else if (arg == "--strategy") o.strategy = strategy_option(next());
    else if (arg == "--precision") o.precision = choice(arg, next(), kPrecisions);
    else if (arg == "--isa") {
      o.isa = next();
      if (o.isa.empty()) throw UsageError("--isa needs a kernel set name");
    }
    else if (arg == "--alibi") { flag(); o.alibi = true; }
    else if (arg == "--sinks") { flag(); o.sinks = true; }
    else if (arg == "--reps") o.reps = static_cast<int>(positive(arg, next(), 1000000));
    else if (arg == "--set") {
      o.set = next();
      if (o.set != "targets" && shape_set(o.set).empty()) {
        std::string known = "targets";
        for (std::string_view n : shape_set_names()) {
          known += "|";
          known += n;
        }
        throw UsageError("--set expects " + known + ", got '" + o.set + "'");
      }
    }
    else if (arg == "--shapes") {
      o.shapes_file = next();
      if (o.shapes_file.empty()) throw UsageError("--shapes needs a file name");
    }
    else if (arg == "--json") { flag(); o.json = true; }
    else if (arg == "--tune") { flag(); o.tune = true; }
    else if (arg == "--tune-out") {
      o.tune_out = next();
      if (o.tune_out.empty()) throw UsageError("--tune-out needs a file name");
    }
    else if (arg == "--tune-range") { flag(); o.tune_range = true; }
    else if (arg == "--varlen") {
      if (!o.varlen.empty()) throw UsageError("--varlen given twice: one list of lengths");
      const std::string_view list = next();
      std::int64_t total = 0;
      for (std::size_t at = 0; at <= list.size();) {
        const std::size_t comma = std::min(list.find(',', at), list.size());
        o.varlen.push_back(positive(arg, list.substr(at, comma - at), 1 << 24));
        if ((total += o.varlen.back()) > 2147483647)
          throw UsageError("--varlen lengths must sum to at most 2^31 - 1 (packed offsets are int32)");
        at = comma + 1;
      }
    }
    else if (arg == "--page-size") o.page_size = positive(arg, next(), 256);
    else if (arg == "--page-layout") {
      const std::string_view l = next();
      if (l == "heads") o.pages_token_major = false;
      else if (l == "tokens") o.pages_token_major = true;
      else throw UsageError("--page-layout expects heads|tokens, got '" + std::string(l) + "'");
      page_layout_given = true;
    }
    else if (arg == "--huge-pages") { flag(); o.huge_pages = true; }
    else if (arg == "--kv-dtype") {
      const std::string_view t = next();
      if (t == "int8") o.kv_dtype = DType::i8;
      else if (t == "fp8_e4m3") o.kv_dtype = DType::f8_e4m3;
      else if (t == "fp8_e5m2") o.kv_dtype = DType::f8_e5m2;
      else throw UsageError("--kv-dtype expects int8|fp8_e4m3|fp8_e5m2, got '" + std::string(t) + "'");
    }
    else if (arg == "--help" || arg == "-h") { flag(); o.help = true; }
    else throw UsageError("unknown option '" + std::string(arg) + "' (see --help)");
  }
  if (!o.tune && (!o.tune_out.empty() || o.tune_range)) throw UsageError("--tune-out and --tune-range need --tune");
  if (o.tune && o.json) throw UsageError("--tune writes a table and tuning rules, not --json");
  if (!o.tune_out.empty()) {  // checked before, not after, minutes of tuning
    const std::size_t slash = o.tune_out.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : o.tune_out.substr(0, slash);
    if (access(dir.c_str(), W_OK) != 0)
      throw UsageError("--tune-out " + o.tune_out + ": directory " + dir + " is not writable");
  }
  if (shape.given() && !o.shapes_file.empty()) throw UsageError("--shapes and shape options exclude each other");
  if (!o.varlen.empty() && (o.tune || o.json || !o.shapes_file.empty()))
    throw UsageError("--varlen runs its own packed call: not with --tune, --json or --shapes");
  if (!o.varlen.empty() && lengths_given)
    throw UsageError("--varlen gives the sequences and their lengths: not with --batch, --q-len or --kv-len");
  const bool quant = o.kv_dtype != DType::f32;
  if (page_layout_given && !o.page_size) throw UsageError("--page-layout needs --page-size");
  if (o.page_size && (o.tune || o.json || !o.shapes_file.empty() || (!o.varlen.empty() && !quant)))
    throw UsageError("--page-size runs its own paged call: not with --tune, --json, --shapes or --varlen "
                     "(but with --kv-dtype --varlen)");
  if (quant && (o.tune || o.json || !o.shapes_file.empty()))
    throw UsageError("--kv-dtype runs its own calls: not with --tune, --json or --shapes");
  // A shape with --alibi or --sinks is timed beside itself without them (a table).
  if ((o.alibi || o.sinks) && shape.given() && o.json)
    throw UsageError("--alibi and --sinks with a shape time it with and without them: not with --json");
  if (shape.given()) o.shape = shape.shape();
  return o;
}

const char* usage() {
  return R"(usage: attnrt-bench [options]

Times attnrt against a BLAS baseline and against its own GEMM-only ceiling
(the same plan with P zeroed instead of the softmax) in the same run,
checks sampled rows against the double-precision reference, and reports
GFLOP/s, the share of this machine's FMA peak and of the read bandwidth
of as many cores as threads reading at once, the softmax overhead (1 - attnrt/ceiling GFLOP/s) and the plan
each call ran: kernel set, strategy, mb, nb, stage bytes, pipe_ahead, direct
K/V (read in place, not packed), grouped heads. The peaks are sampled right
after every rep (the clock drifts over seconds): %peak is the median over
reps of the rep's GFLOP/s over the peak sampled after it, %bw likewise with
GB/s; %cyc is %peak by user-mode cycles (perf events) where allowed.

Shape (any of these runs this one shape instead of a shape set; unset ones
default to B1 H8 M=N=2048 D128 fp32):
  --batch B  --heads H  --kv-heads Hkv  --q-len M  --kv-len N
  --head-dim D  --head-dim-v Dv  --dtype fp32|fp16|bf16  --causal
  --set NAME        shape set when no shape option is given:
                    default|prefill|decode|skinny|causal|targets (default:
                    default); targets: bench/shapes/targets.txt, built in
  --shapes FILE     the shapes of FILE, one per line: NAME TARGET OPTIONS
                    (the format: bench/shapes/targets.txt)
Run:
  --threads T       worker threads (default: as the runtime decides)
  --isa NAME        kernel set (default: the best this CPU runs)
  --strategy auto|online|two_pass|three_pass
  --precision accurate|fast
  --alibi           ALiBi slopes 2^(-8(h+1)/H) per query head
  --sinks           a sink logit (0) per query head; with a shape option
                    (and no --varlen, --page-size, --kv-dtype), --alibi and
                    --sinks time that call beside the same call without
                    them, alternately, and print their ratio
  --reps R          timed repetitions, each right after an untimed call of its
                    own (warm caches, as back-to-back calls); the median is
                    reported (default 5)
  --json            one JSON object per shape and line on stdout, nothing else
  --varlen LENS     one packed call of sequences of these lengths (e.g.
                    17,300,1000,2048; self-attention, the shape options give
                    heads, dims, dtype, --causal) beside the same sequences as
                    dense calls one after another: both timed alternately,
                    GFLOP/s and their ratio, sampled rows checked
  --page-size P     the shape's call on a paged K/V cache (pages of P keys,
                    1 to 256, shuffled; a block table per sequence) beside
                    the same call on contiguous K/V, timed alternately
  --page-layout L   heads: pools [pages, Hkv, P, D], each head's piece of a
                    page whole (the default); tokens: [pages, P, Hkv, D], a
                    page's keys each with all heads (FlashAttention's)
  --huge-pages      Q, K, V, O, page pools and the bandwidth probe's buffer
                    (those of 2 MiB or more) advised into transparent huge
                    pages, as a server would back its KV cache; the reports
                    say how many MiB the kernel backed
  --kv-dtype T      int8|fp8_e4m3|fp8_e5m2: the shape's call with K/V
                    quantized (int8: scale per token and head; fp8: per
                    head), Q/O of --dtype, beside the bf16 and fp32 calls,
                    timed in turns, with one core's read bandwidth; with
                    --page-size on paged caches, with --varlen packed (both:
                    packed Q, each sequence's keys in its own pages)
Tune:
  --tune            for the shape or each shape of the set, time candidate
                    plans: each strategy of this build (or only --strategy's)
                    at the planner's default blocking, then mb, nb, and
                    stage bytes (three_pass) or pipe_ahead (two_pass) halved
                    and doubled, rounded to the kernel set's tiles, heads
                    ungrouped too where the planner groups them, K/V direct
                    (read in place) or packed, the other of the planner's
                    choice, where the kernel set has the direct path (fp32,
                    online and two_pass), then the best of each together. Every plan is checked against the
                    reference first; one that fails is listed, never chosen.
                    Prints a table per shape, sorted by speed, every line
                    starting with '#', then the best plan per shape as
                    ATTNRT_TUNING_FILE rules: the output is a tuning file as
                    it stands. A rule matches the shape's kernel set, dtype,
                    D and exact M and N (the format has no causal, Dv or
                    heads field: a later shape that differs only there is
                    written commented out). About 1.5 minutes for the
                    default shape with --reps 3 on a busy 2-core machine.
  --tune-out FILE   write the rules to FILE instead, read it back as the
                    runtime would, and check that it makes the planner pick
                    each tuned plan. Then ATTNRT_TUNING_FILE=FILE attnrt-bench
                    (same shape) shows the tuned plan in its plan column.
  --tune-range      rules match M in [max(1, M/2), 2M] and N in
                    [max(1, N/2), 2N] instead of exact M and N
Exit status: 0 all checks passed, 1 a check failed or a run broke (with
--tune also: a tuning file that does not make the planner pick the tuned
plans), 2 bad options.
)";
}

attnrt_params call_params(const Options& opt, const Shape& shape) {
  attnrt_params p = mask_params(shape);
  p.precision = static_cast<attnrt_precision>(opt.precision);
  p.strategy = static_cast<attnrt_strategy>(opt.strategy);
  // One table per shape's head count, kept for the process (shapes are few).
  static std::map<std::int64_t, std::pair<std::vector<float>, std::vector<float>>> per_head;
  auto& [slopes, sinks] = per_head[shape.heads];
  if (slopes.empty())
    for (std::int64_t h = 0; h < shape.heads; ++h) {
      slopes.push_back(std::exp2(-8.0f * static_cast<float>(h + 1) / static_cast<float>(shape.heads)));
      sinks.push_back(0.0f);
    }
  if (opt.alibi) p.alibi_slopes = slopes.data();
  if (opt.sinks) p.sinks = sinks.data();
  return p;
}

const char* strategy_name(Strategy s) {
  return s == Strategy::automatic ? "auto" : kernels::strategy_name(static_cast<kernels::Strategy>(s));
}

const char* precision_name(Precision p) {
  for (const auto& [name, value] : kPrecisions)
    if (value == p) return name.data();
  return "?";
}

}  // namespace attnrt::bench
