// Reading option values, for the command line and the shape files alike;
// every error names the option and what it expects.
#pragma once

#include <charconv>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace attnrt::bench {

// A bad command line or shape file; the message names the option.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline std::int64_t positive(std::string_view opt, std::string_view text, std::int64_t max) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v <= 0 || v > max)
    throw UsageError(std::string(opt) + " expects an integer in [1, " + std::to_string(max) + "], got '" +
                     std::string(text) + "'");
  return v;
}

template <class T, std::size_t K>
T choice(std::string_view opt, std::string_view text, const std::pair<std::string_view, T> (&table)[K]) {
  std::string known;
  for (const auto& [name, value] : table) {
    if (name == text) return value;
    known += known.empty() ? "" : "|";
    known += name;
  }
  throw UsageError(std::string(opt) + " expects " + known + ", got '" + std::string(text) + "'");
}

}  // namespace attnrt::bench
