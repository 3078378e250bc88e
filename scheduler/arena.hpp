// Per-domain memory: every worker's workspace (a pipeline's scratch, which
// holds three_pass's L2 staging slice and two_pass's ring), and for a domain
// of several workers a shared slice its workers fill and read together
// (shared_slots.hpp: packed K/V panels), carved from one region per domain allocated on that domain's NUMA node (plain memory where
// NUMA is unavailable or the topology is not this system), on huge pages
// where the OS gives them. Made once per Runtime and touched at creation, so
// calls neither allocate nor fault pages in.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "scheduler/placement.hpp"

namespace attnrt::scheduler {

struct Slice {
  void* data;
  std::size_t bytes;
};

class Arena {
 public:
  // workspace_bytes: what one worker needs for the largest plan the runtime makes.
  Arena(const Placement& placement, std::size_t workspace_bytes);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // Worker w's workspace: workspace_bytes() bytes, aligned to a cache line,
  // on the NUMA node of w's domain.
  Slice workspace(int worker) const { return {slices_[worker], workspace_bytes_}; }
  std::size_t workspace_bytes() const { return workspace_bytes_; }
  // Domain d's shared slice: half the L2 its workers share (none for a
  // domain of one worker, which has no one to share with).
  Slice shared(int domain) const { return shared_[domain]; }
  // Whether the memory was bound to its domain's node and got huge pages.
  bool numa_bound() const { return numa_bound_; }
  bool huge_pages() const { return huge_pages_; }
  std::string describe() const;

 private:
  struct Region {
    void* map;
    std::size_t map_bytes;
  };
  std::size_t workspace_bytes_;
  std::size_t total_bytes_ = 0;
  std::vector<Region> regions_;
  std::vector<void*> slices_;  // per worker
  std::vector<Slice> shared_;  // per machine domain
  bool numa_bound_ = false, huge_pages_ = false;
};

}  // namespace attnrt::scheduler
