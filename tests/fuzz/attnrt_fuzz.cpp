// attnrt-fuzz: differential fuzzing of attention_forward against the double
// reference (tests/fuzz/fuzz_case.hpp says what a case draws).
//
//   attnrt-fuzz [--seed S] [--count N] [--seconds T] [--callers C] [--replay S:I] [--generation G]
//
// Runs cases 0, 1, ... of seed S until N cases or T seconds (default 1000
// cases); the first failure prints its seed, index, case and a replay
// command, and exits 1. --callers runs the cases from C threads at once
// over shared runtimes, as a server's threads call (a failure that needs
// the others' calls may not replay alone). --generation draws cases as an
// older generator did (fuzz_case.hpp: 1 = dense calls only), to replay
// what it found.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/fuzz/crash_note.hpp"
#include "tests/fuzz/fuzz_case.hpp"
#include "tests/fuzz/fuzz_runner.hpp"
#include "tests/tensors.hpp"

namespace {

using attnrt::fuzz::Case;

struct Options {
  std::uint64_t seed = 0;
  bool seeded = false;
  std::uint64_t count = 0;
  double seconds = 0;
  bool replay = false;
  std::uint64_t replay_index = 0;
  int generation = attnrt::fuzz::kLatestGeneration;
  int callers = 1;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "attnrt-fuzz: %s\nusage: attnrt-fuzz [--seed S] [--count N] [--seconds T] [--callers C] [--replay S:I] [--generation G]\n",
               why);
  std::exit(2);
}

std::uint64_t parse_u64(const char* s) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 0);
  if (end == s || *end) usage("not a number");
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + a).c_str());
    const char* v = argv[++i];
    if (a == "--seed") {
      o.seed = parse_u64(v);
      o.seeded = true;
    } else if (a == "--count") {
      o.count = parse_u64(v);
    } else if (a == "--seconds") {
      o.seconds = std::atof(v);
    } else if (a == "--replay") {
      const char* colon = std::strchr(v, ':');
      if (!colon) usage("--replay takes SEED:INDEX");
      o.seed = parse_u64(std::string(v, colon).c_str());
      o.replay_index = parse_u64(colon + 1);
      o.seeded = o.replay = true;
    } else if (a == "--callers") {
      o.callers = static_cast<int>(parse_u64(v));
      if (o.callers < 1 || o.callers > 64) usage("--callers takes 1 to 64");
    } else if (a == "--generation") {
      o.generation = static_cast<int>(parse_u64(v));
      if (o.generation < 1 || o.generation > attnrt::fuzz::kLatestGeneration) usage("no such --generation");
    } else {
      usage(("unknown option " + a).c_str());
    }
  }
  if (!o.seeded) o.seed = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  if (!o.count && o.seconds <= 0) o.count = 1000;
  return o;
}

std::string replay_command(const char* argv0, const Case& c) {
  std::string cmd = std::string(argv0) + " --replay " + std::to_string(c.seed) + ":" + std::to_string(c.index);
  if (c.generation != attnrt::fuzz::kLatestGeneration) cmd += " --generation " + std::to_string(c.generation);
  return cmd;
}

// Cases run per dtype, kernel set, strategy, API, threads, broken rule,
// feature, quantized K/V format, cache writer and the caller's modes.
class Coverage {
 public:
  void add(const Case& c) {
    ++counts_["dtype"][attnrt::test::dtype_name(c.dtype)];
    ++counts_["set"][c.kernel_set.empty() ? "default" : c.kernel_set];
    ++counts_["strategy"][attnrt::fuzz::strategy_name(c.strategy)];
    ++counts_["api"][attnrt::fuzz::api_name(c.api)];
    if (!c.kernel_set.empty()) ++counts_["threads"][std::to_string(c.threads) + "/" + c.executor];
    if (!c.uarch.empty()) ++counts_["uarch"][c.uarch];
    ++counts_["invalid"][attnrt::fuzz::breakage_name(c.breakage)];
    auto& with = counts_["with"];  // features a case may have at once
    with["causal"] += c.causal;
    with["window"] += c.window_left >= 0 || c.window_right >= 0;
    with["kv_lens"] += !c.kv_lens.empty();
    with["bias"] += c.bias;
    with["softcap"] += c.softcap != 0;
    with["alibi"] += !c.alibi_slopes.empty();
    with["sinks"] += !c.sinks.empty();
    with["lse"] += c.lse;
    with["fast"] += c.precision == ATTNRT_EXP2_FAST;
    with["hidden_nonfinite"] += c.hidden_nonfinite;
    with["visible_nonfinite"] += c.visible_nonfinite;
    with["broadcast"] += c.inputs_broadcast;
    with["varlen"] += c.varlen;
    with["long_keys"] += c.long_keys;
    with["paged"] += c.paged;
    with["shared_pages"] += c.shared_pages;
    with["written"] += c.written;
    if (c.quantized()) ++counts_["kv"][attnrt::test::dtype_name(c.kv_dtype)];
    if (c.written) ++counts_["writer"][attnrt::fuzz::writer_name(c.writer)];
    ++counts_["caller"][attnrt::fuzz::rounding_name(c.caller_fp.rounding)];
    counts_["caller"]["flush"] += c.caller_fp.flush;
  }
  void print() const {
    for (const auto& [what, by] : counts_) {
      std::printf("  %-9s", what.c_str());
      for (const auto& [name, n] : by) std::printf(" %s=%llu", name.c_str(), static_cast<unsigned long long>(n));
      std::printf("\n");
    }
  }

 private:
  std::map<std::string, std::map<std::string, std::uint64_t>> counts_;
};

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse(argc, argv);
  attnrt::fuzz::Runner runner;
  if (opt.replay) {
    const Case c = attnrt::fuzz::make_case(opt.seed, opt.replay_index, opt.generation);
    std::printf("case %llu of seed %llu: %s\n", static_cast<unsigned long long>(c.index),
                static_cast<unsigned long long>(c.seed), attnrt::fuzz::describe(c).c_str());
    const attnrt::fuzz::Outcome out = runner.run(c);
    std::printf("%s%s\n", out.passed ? "passed" : "FAILED: ", out.message.c_str());
    return out.passed ? 0 : 1;
  }
  std::printf("attnrt-fuzz: seed %llu%s\n", static_cast<unsigned long long>(opt.seed),
              opt.callers > 1 ? (", " + std::to_string(opt.callers) + " callers").c_str() : "");
  std::fflush(stdout);
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  Coverage coverage;
  std::atomic<std::uint64_t> next{0}, done{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;  // guards coverage and the first failure
  std::optional<std::pair<Case, std::string>> failed;
  auto caller = [&] {
    while (!stop) {
      const std::uint64_t index = next++;
      if ((opt.count && index >= opt.count) || (opt.seconds > 0 && elapsed() >= opt.seconds)) break;
      const Case c = attnrt::fuzz::make_case(opt.seed, index, opt.generation);
      attnrt::fuzz::set_crash_note("\nattnrt-fuzz: crashed on seed " + std::to_string(c.seed) + " case " +
                                   std::to_string(c.index) + ": " + attnrt::fuzz::describe(c) +
                                   "\nreplay: " + replay_command(argv[0], c) + "\n");
      const attnrt::fuzz::Outcome out = runner.run(c);
      const std::lock_guard<std::mutex> lock(mutex);
      coverage.add(c);
      ++done;
      if (!out.passed && !failed) {
        failed.emplace(c, out.message);
        stop = true;
      }
    }
  };
  std::vector<std::thread> others;
  for (int t = 1; t < opt.callers; ++t) others.emplace_back(caller);
  caller();
  for (std::thread& t : others) t.join();
  if (failed) {
    const Case& c = failed->first;
    std::printf("attnrt-fuzz: FAILED on seed %llu case %llu\n  case: %s\n  why: %s\n  replay: %s%s\n",
                static_cast<unsigned long long>(c.seed), static_cast<unsigned long long>(c.index),
                attnrt::fuzz::describe(c).c_str(), failed->second.c_str(), replay_command(argv[0], c).c_str(),
                opt.callers > 1 ? " (alone: the other callers' calls are not replayed)" : "");
    return 1;
  }
  std::printf("attnrt-fuzz: %llu cases passed in %.1f s (seed %llu)\n", static_cast<unsigned long long>(done.load()),
              elapsed(), static_cast<unsigned long long>(opt.seed));
  coverage.print();
  return 0;
}
