#include "runtime/src/config.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/pipelines/pipeline.hpp"
#include "kernels/tuning.hpp"
#include "runtime/src/error.hpp"
#include "runtime/src/raw_enum.hpp"
#include "scheduler/placement.hpp"

namespace attnrt::rt {
namespace {

constexpr attnrt_status kCfg = ATTNRT_CONFIG_ERROR;

bool parse_int(const std::string& s, long long& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtoll(s.c_str(), &end, 10);
  return errno == 0 && end && *end == '\0';
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

}  // namespace

unsigned long long parse_domains(const char* what, const std::string& text) {
  unsigned long long mask = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = text.find(',', pos);
    const std::string part = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const std::size_t dash = part.find('-');
    long long lo, hi;
    const bool ok = dash == std::string::npos
                        ? parse_int(part, lo) && (hi = lo, true)
                        : parse_int(part.substr(0, dash), lo) && parse_int(part.substr(dash + 1), hi);
    if (!ok || lo < 0 || hi < lo || hi > 63)
      fail(kCfg, what, " (", text, ") must be a list of domain numbers 0-63 and ranges, e.g. 0-3 or 1,3");
    for (long long d = lo; d <= hi; ++d) mask |= 1ull << d;
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return mask;
}

const char* setting_name(const char* value, const char* env_var, const char* field) {
  const char* from_env = env(env_var);
  return value && from_env && std::strcmp(value, from_env) == 0 ? env_var : field;
}

const char* setting_name(int value, const char* env_var, const char* field) {
  long long from_env;
  const char* v = env(env_var);
  return v && parse_int(v, from_env) && from_env == value ? env_var : field;
}

void check_config(const attnrt_config& c) {
  if (c.num_threads < 0 || c.num_threads > scheduler::kMaxWorkers)
    fail(kCfg, "config.num_threads (", c.num_threads, ") must be in [0, ", scheduler::kMaxWorkers,
         "] (0 = all allowed cores)");
  const int executor = raw_enum(c.executor), strategy = raw_enum(c.strategy);
  if (executor < ATTNRT_EXECUTOR_DEFAULT || executor > ATTNRT_EXECUTOR_TBB)
    fail(kCfg, "config.executor (", executor, ") must be one of ATTNRT_EXECUTOR_*");
  if (strategy < ATTNRT_STRATEGY_AUTO || strategy > ATTNRT_STRATEGY_THREE_PASS)
    fail(kCfg, "config.strategy (", strategy, ") must be one of ATTNRT_STRATEGY_*");
  if (c.domains) parse_domains(setting_name(c.domains, "ATTNRT_DOMAINS", "config.domains"), c.domains);
  if (c.bind && std::strcmp(c.bind, "core") && std::strcmp(c.bind, "domain") && std::strcmp(c.bind, "none"))
    fail(kCfg, setting_name(c.bind, "ATTNRT_BIND", "config.bind"), " (", c.bind, ") must be core, domain or none");
  if (c.uarch && !kernels::uarch_tuning_named(c.uarch))
    fail(kCfg, setting_name(c.uarch, "ATTNRT_UARCH", "config.uarch"), " (", c.uarch, ") must name a row of the tuning table: ",
         kernels::uarch_tuning_names());
}

void config_from_env(attnrt_config& c) {
  c = attnrt_config{};
  if (const char* v = env("ATTNRT_NUM_THREADS")) {
    long long n;
    if (!parse_int(v, n) || n < 1 || n > scheduler::kMaxWorkers)
      fail(kCfg, "ATTNRT_NUM_THREADS (", v, ") must be an integer in [1, ", scheduler::kMaxWorkers, "]");
    c.num_threads = static_cast<int>(n);
  }
  if (const char* v = env("ATTNRT_EXECUTOR")) {
    if (!std::strcmp(v, "openmp")) c.executor = ATTNRT_EXECUTOR_OPENMP;
    else if (!std::strcmp(v, "tbb")) c.executor = ATTNRT_EXECUTOR_TBB;
    else fail(kCfg, "ATTNRT_EXECUTOR (", v, ") must be openmp or tbb");
  }
  c.isa = env("ATTNRT_ISA");  // checked against the kernel sets when the runtime is made
  if (const char* v = env("ATTNRT_STRATEGY")) {
    if (!std::strcmp(v, "auto")) c.strategy = ATTNRT_STRATEGY_AUTO;
    else if (const auto s = kernels::strategy_named(v)) c.strategy = static_cast<attnrt_strategy>(*s);
    else fail(kCfg, "ATTNRT_STRATEGY (", v, ") must be auto, online, two_pass or three_pass");
  }
  if (const char* v = env("ATTNRT_DOMAINS")) {
    parse_domains("ATTNRT_DOMAINS", v);
    c.domains = v;
  }
  if (const char* v = env("ATTNRT_BIND")) {
    if (std::strcmp(v, "core") && std::strcmp(v, "domain") && std::strcmp(v, "none"))
      fail(kCfg, "ATTNRT_BIND (", v, ") must be core, domain or none");
    c.bind = v;
  }
  c.topology = env("ATTNRT_TOPOLOGY");
  if (const char* v = env("ATTNRT_UARCH")) {
    if (!kernels::uarch_tuning_named(v))
      fail(kCfg, "ATTNRT_UARCH (", v, ") must name a row of the tuning table: ", kernels::uarch_tuning_names());
    c.uarch = v;
  }
  if (const char* v = env("ATTNRT_VERBOSE")) {
    if (!std::strcmp(v, "0")) c.verbose = 0;
    else if (!std::strcmp(v, "1")) c.verbose = 1;
    else fail(kCfg, "ATTNRT_VERBOSE (", v, ") must be 0 or 1");
  }
}

}  // namespace attnrt::rt
