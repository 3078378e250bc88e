// The examples' command lines: options read one at a time, each value
// parsed whole and checked, and any refusal naming the option, the value
// and the rule before the usage line (exit status 2).
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace example {

class Args {
 public:
  // usage: the options after the program's name in the usage line.
  Args(int argc, char** argv, std::string usage) : argc_(argc), argv_(argv), usage_(std::move(usage)) {}

  // Steps to the next option; false past the last.
  bool next() { return ++i_ < argc_; }
  const char* option() const { return argv_[i_]; }
  bool is(const char* name) const { return option() == std::string(name); }

  // The option's value (the next argument).
  const char* value() {
    if (i_ + 1 >= argc_) fail(std::string(option()) + " needs a value");
    return argv_[++i_];
  }
  std::int64_t integer(std::int64_t lo, std::int64_t hi) {
    const std::string name = option();
    const char* text = value();
    char* end = nullptr;
    errno = 0;
    const long long x = std::strtoll(text, &end, 10);
    if (end == text || *end || errno == ERANGE || x < lo || x > hi)
      fail(name + " (" + text + ") must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return x;
  }
  // A real in [lo, hi] (lo excluded when open_lo).
  double real(double lo, double hi, bool open_lo = false) {
    const std::string name = option();
    const char* text = value();
    char* end = nullptr;
    const double x = std::strtod(text, &end);
    if (end == text || *end || !(open_lo ? x > lo : x >= lo) || !(x <= hi))
      fail(name + " (" + text + ") must be a number in " + (open_lo ? "(" : "[") + trimmed(lo) + ", " + trimmed(hi) + "]");
    return x;
  }

  [[noreturn]] void unknown() const { fail(std::string("unknown option ") + option()); }
  // A rule between options, checked after all are read.
  void require(bool ok, const std::string& rule) const {
    if (!ok) fail(rule);
  }
  [[noreturn]] void fail(const std::string& why) const {
    std::fprintf(stderr, "%s: %s\nusage: %s%s\n", argv_[0], why.c_str(), argv_[0], usage_.c_str());
    std::exit(2);
  }

 private:
  static std::string trimmed(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", x);
    return buf;
  }
  int argc_;
  char** argv_;
  std::string usage_;
  int i_ = 0;
};

}  // namespace example
