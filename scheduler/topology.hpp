// The machine as the scheduler sees it: domains (NUMA nodes that have cores;
// a CMG on A64FX), their cores and their caches. Read from this system by
// hwloc, or from an hwloc XML file or synthetic description (ATTNRT_TOPOLOGY),
// so a 48-core A64FX can be planned and tested on any box.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace attnrt::scheduler {

struct Core {
  int os_index;          // the core's OS number
  std::vector<int> pus;  // OS numbers of its hardware threads: what binding uses
};

struct Domain {
  int os_node;                // NUMA node number for libnuma; -1 when not known
  std::vector<Core> cores;    // cores this process may use, in hwloc's logical order
  std::size_t l1d_bytes;      // L1 data cache of one core
  std::size_t l2_bytes;       // all L2 caches of the domain together
  int cores_per_l2;           // cores sharing one L2: 12 on A64FX, 1 on most x86
  int line_bytes;             // cache line (256 on A64FX)

  // The L2 one core can count on when all cores of the domain work at once.
  std::size_t l2_share_bytes() const { return cores.empty() ? 0 : l2_bytes / cores.size(); }
};

// A bad ATTNRT_TOPOLOGY, or a machine hwloc cannot read.
struct TopologyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Machine {
 public:
  // This system, through hwloc (only the cores this process may run on).
  static Machine this_system();
  // An hwloc XML file (a path that exists) or a synthetic description such as
  // "package:1 group:4 [numa] l2:1(size=8MiB) core:12 l1d:1(size=64KiB) pu:1".
  static Machine load(const std::string& description);
  // Whether load() works: this build has hwloc.
  static bool can_load();
  // this_system() when description is empty, else load().
  static Machine from(const std::string& description) {
    return description.empty() ? this_system() : load(description);
  }

  const std::vector<Domain>& domains() const { return domains_; }
  int cores() const;
  // Binding threads and placing memory only mean something on this system.
  bool is_this_system() const { return this_system_; }
  const std::string& source() const { return source_; }
  // Several lines: one per domain, with its cores and caches.
  std::string describe() const;

  // Made from parts, for tests and for builds without hwloc.
  Machine(std::vector<Domain> domains, bool this_system, std::string source);

 private:
  std::vector<Domain> domains_;
  bool this_system_;
  std::string source_;
};

// "0-3,6" for a sorted list of numbers.
std::string format_ranges(const std::vector<int>& sorted);

}  // namespace attnrt::scheduler
