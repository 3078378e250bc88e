// Runs a fuzz case and judges it: a valid case must match the double
// reference within the project's tolerances and leave the padding of its
// outputs alone; an invalid one must fail with a message and leave its
// outputs untouched. Runtimes are made once per (kernel set, threads,
// executor, topology) and kept; run() may be called from several threads at once,
// which then share them as a server's threads do.
#pragma once

#include <attnrt/attnrt.h>
#include <attnrt/attnrt.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "tests/fuzz/fuzz_case.hpp"

namespace attnrt::fuzz {

struct Outcome {
  bool passed = true;
  std::string message;  // why it failed
};

class Runner {
 public:
  Runner();
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  Outcome run(const Case& c);

 private:
  struct Runtimes {
    attnrt_runtime* c = nullptr;
    std::unique_ptr<attnrt::Runtime> cpp;
  };
  // The runtimes of a case's (set, threads, executor), made on first use.
  Runtimes& runtimes(const Case& c);

  std::mutex mutex_;  // guards runtimes_ (its entries stay where they are)
  std::map<std::tuple<std::string, int, std::string, std::string, std::string>, Runtimes> runtimes_;
};

}  // namespace attnrt::fuzz
