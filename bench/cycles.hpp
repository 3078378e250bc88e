// User-mode CPU cycles of every thread of this process, read through Linux
// perf events (one counter per thread alive when it is made). A figure per
// cycle moves neither with the clock nor with how much of a core a busy
// neighbour leaves us, so attnrt-bench gives, beside each % of peak by time,
// the same % by cycles: FLOPs per cycle of the call over FLOPs per cycle of
// the FMA loop sampled right after it.
#pragma once

#include <cstdint>
#include <vector>

namespace attnrt::bench {

class ProcessCycles {
 public:
  ProcessCycles();  // counters for the threads alive now; none if not allowed
  ~ProcessCycles();
  ProcessCycles(const ProcessCycles&) = delete;
  ProcessCycles& operator=(const ProcessCycles&) = delete;

  bool available() const { return !fds_.empty(); }
  std::uint64_t read() const;  // sum over the threads; 0 when unavailable

 private:
  std::vector<int> fds_;
};

}  // namespace attnrt::bench
