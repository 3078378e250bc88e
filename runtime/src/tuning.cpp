#include "runtime/src/tuning.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <vector>

#include "runtime/src/error.hpp"

namespace attnrt::rt {
namespace {

bool parse_count(const std::string& s, std::int64_t& out) {
  if (s.empty() || s[0] < '0' || s[0] > '9') return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  out = v;
  return true;
}

// Sequence lengths the library takes (validate.cpp): up to 2^31 - 1.
constexpr std::int64_t kMaxLength = std::numeric_limits<std::int32_t>::max();

bool parse_length(const std::string& s, std::int64_t& out) { return parse_count(s, out) && out <= kMaxLength; }

bool parse_range(const std::string& s, SizeRange& r) {
  if (s == "*") {
    r = {0, -1};
    return true;
  }
  const std::size_t dash = s.find('-');
  if (dash == std::string::npos) {
    std::int64_t v;
    if (!parse_length(s, v)) return false;
    r = {v, v};
    return true;
  }
  std::int64_t lo, hi = -1;
  const std::string hi_text = s.substr(dash + 1);
  if (!parse_length(s.substr(0, dash), lo) || (hi_text != "*" && !parse_length(hi_text, hi))) return false;
  if (hi >= 0 && hi < lo) return false;
  r = {lo, hi};
  return true;
}

bool parse_bytes(const std::string& s, std::size_t& out) {
  std::string digits = s;
  std::size_t unit = 1;
  if (!s.empty() && (s.back() == 'K' || s.back() == 'k')) unit = 1024;
  if (!s.empty() && (s.back() == 'M' || s.back() == 'm')) unit = 1024 * 1024;
  if (unit != 1) digits.pop_back();
  std::int64_t v;
  if (!parse_count(digits, v) || v > (std::int64_t{1} << 40) / static_cast<std::int64_t>(unit)) return false;
  out = static_cast<std::size_t>(v) * unit;
  return true;
}

bool parse_size(const std::string& s, int& out) {
  std::int64_t v;
  if (!parse_count(s, v) || v > (1 << 24)) return false;
  out = static_cast<int>(v);
  return true;
}

// One rule from its 11 or 12 fields; returns what is wrong, or "" if nothing.
std::string parse_rule(const std::vector<std::string>& f, PlanRule& r) {
  if ((f.size() != 11 && f.size() != 12) || f[5] != "->")
    return "expected 'isa dtype D M N -> strategy mb nb stage pipe_ahead [kv]' (11 or 12 fields), found " +
           std::to_string(f.size()) + " fields";
  r.isa = f[0] == "*" ? "" : f[0];
  if (f[1] == "*") r.dtype = -1;
  else if (f[1] == "f32") r.dtype = static_cast<int>(kernels::DType::f32);
  else if (f[1] == "f16") r.dtype = static_cast<int>(kernels::DType::f16);
  else if (f[1] == "bf16") r.dtype = static_cast<int>(kernels::DType::bf16);
  else return "dtype (" + f[1] + ") must be f32, f16, bf16 or *";
  std::int64_t d = 0;
  if (f[2] != "*" && (!parse_count(f[2], d) || d < 1 || d > kernels::kMaxHeadDim))
    return "D (" + f[2] + ") must be a head dim in [1, " + std::to_string(kernels::kMaxHeadDim) + "] or *";
  r.d = static_cast<int>(d);
  const std::string lengths = " must be N, LO-HI, LO-* or * (lengths up to " + std::to_string(kMaxLength) + ")";
  if (!parse_range(f[3], r.m)) return "M (" + f[3] + ")" + lengths;
  if (!parse_range(f[4], r.n)) return "N (" + f[4] + ")" + lengths;
  if (const auto s = kernels::strategy_named(f[6])) r.strategy = *s;
  else return "strategy (" + f[6] + ") must be online, two_pass or three_pass";
  if (!parse_size(f[7], r.mb)) return "mb (" + f[7] + ") must be a count (0 = default)";
  if (!parse_size(f[8], r.nb)) return "nb (" + f[8] + ") must be a count (0 = default)";
  if (!parse_bytes(f[9], r.stage_bytes)) return "stage (" + f[9] + ") must be bytes, e.g. 524288 or 512K (0 = default)";
  if (!parse_size(f[10], r.pipe_ahead) || r.pipe_ahead > 64)
    return "pipe_ahead (" + f[10] + ") must be in [0, 64] (0 = default)";
  r.direct = -1;
  if (f.size() == 12) {
    if (f[11] == "direct") r.direct = 1;
    else if (f[11] == "packed") r.direct = 0;
    else if (f[11] != "*") return "kv (" + f[11] + ") must be direct, packed or *";
  }
  return "";
}

}  // namespace

PlanTable load_tuning_file(const char* what, const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(ATTNRT_CONFIG_ERROR, what, " (", path, "): cannot open the file: ", std::strerror(errno));
  PlanTable table;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (const std::size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::vector<std::string> fields;
    for (std::string w; words >> w;) fields.push_back(w);
    if (fields.empty()) continue;
    PlanRule rule{};
    if (const std::string err = parse_rule(fields, rule); !err.empty())
      fail(ATTNRT_CONFIG_ERROR, what, " (", path, "): line ", number, ": ", err);
    table.push_back(rule);
  }
  if (in.bad()) fail(ATTNRT_CONFIG_ERROR, what, " (", path, "): read error");
  return table;
}

std::string tuning_line(const PlanRule& r) {
  auto range = [](SizeRange x) {
    if (x.lo <= 0 && x.hi < 0) return std::string("*");
    if (x.hi < 0) return std::to_string(x.lo) + "-*";
    return x.lo == x.hi ? std::to_string(x.lo) : std::to_string(x.lo) + "-" + std::to_string(x.hi);
  };
  static constexpr const char* kDtype[] = {"f32", "f16", "bf16"};
  std::ostringstream os;
  os << (r.isa.empty() ? "*" : r.isa) << ' ' << (r.dtype < 0 ? "*" : kDtype[r.dtype]) << ' '
     << (r.d == 0 ? std::string("*") : std::to_string(r.d)) << ' ' << range(r.m) << ' ' << range(r.n)
     << " -> " << kernels::strategy_name(r.strategy) << ' ' << r.mb << ' ' << r.nb << ' ' << r.stage_bytes
     << ' ' << r.pipe_ahead;
  if (r.direct >= 0) os << ' ' << (r.direct == 1 ? "direct" : "packed");
  return os.str();
}

PlanTable load_tuning_from_env() {
  const char* path = std::getenv("ATTNRT_TUNING_FILE");
  if (!path || !*path) return {};
  return load_tuning_file("ATTNRT_TUNING_FILE", path);
}

}  // namespace attnrt::rt
