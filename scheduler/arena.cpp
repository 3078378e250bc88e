#include "scheduler/arena.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <sstream>

#if ATTNRT_HAVE_NUMA
#include <numa.h>
#include <numaif.h>
#endif

namespace attnrt::scheduler {
namespace {

constexpr std::size_t kHugePage = 2u << 20;

std::size_t round_up(std::size_t x, std::size_t m) { return (x + m - 1) / m * m; }

}  // namespace

Arena::Arena(const Placement& placement, std::size_t workspace_bytes)
    : workspace_bytes_(workspace_bytes), slices_(placement.workers(), nullptr),
      shared_(placement.machine().domains().size(), Slice{nullptr, 0}) {
  const Machine& m = placement.machine();
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
#if ATTNRT_HAVE_NUMA
  const bool numa = m.is_this_system() && numa_available() >= 0;
#else
  const bool numa = false;
#endif
  numa_bound_ = numa;
  huge_pages_ = true;
  for (int d = 0; d < static_cast<int>(m.domains().size()); ++d) {
    const int workers = placement.workers_in(d);
    if (workers == 0) continue;
    const std::size_t line = static_cast<std::size_t>(m.domains()[d].line_bytes);
    // Consecutive workspaces start a few lines apart modulo the page, so
    // the same offset in each (a staging slice, a ring slot) does not land
    // in the same cache sets of the shared L2 for every core.
    const std::size_t stride = round_up(std::max<std::size_t>(workspace_bytes, 1), page) + 4 * line;
    const std::size_t shared = workers > 1 ? round_up(m.domains()[d].l2_share_bytes() * workers / 2, line) : 0;
    const std::size_t bytes = round_up(stride * workers + shared, page);
    const bool huge = bytes >= kHugePage;
    const std::size_t map_bytes = bytes + (huge ? kHugePage : 0);
    void* map = mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) throw std::bad_alloc();
    regions_.push_back({map, map_bytes});
    auto* base = static_cast<std::byte*>(map);
    if (huge) {  // align to a huge page so the region can be backed by them
      const auto addr = reinterpret_cast<std::uintptr_t>(base);
      base += round_up(addr, kHugePage) - addr;
      huge_pages_ &= madvise(base, bytes, MADV_HUGEPAGE) == 0;
    } else {
      huge_pages_ = false;
    }
#if ATTNRT_HAVE_NUMA
    const int node = m.domains()[d].os_node;
    if (numa && node >= 0) {
      // Preferred rather than bound: a full node falls back to another
      // instead of failing.
      unsigned long mask[16] = {};
      if (node < static_cast<int>(sizeof mask * 8)) {
        mask[node / (8 * sizeof(unsigned long))] = 1ul << (node % (8 * sizeof(unsigned long)));
        numa_bound_ &= mbind(base, bytes, MPOL_PREFERRED, mask, sizeof mask * 8, 0) == 0;
      } else {
        numa_bound_ = false;
      }
    } else {
      numa_bound_ = false;
    }
#endif
    std::memset(base, 0, bytes);  // fault every page in now, on its node
    for (int j = 0; j < workers; ++j) slices_[placement.first_worker(d) + j] = base + j * stride;
    shared_[d] = {shared ? base + workers * stride : nullptr, shared};
    total_bytes_ += bytes;
  }
}

Arena::~Arena() {
  for (const Region& r : regions_) munmap(r.map, r.map_bytes);
}

std::string Arena::describe() const {
  std::ostringstream os;
  os << "arena: " << slices_.size() << " workspaces of " << (workspace_bytes_ + 1023) / 1024 << " KiB, "
     << (total_bytes_ + (1u << 20) - 1) / (1u << 20) << " MiB in " << regions_.size()
     << (regions_.size() == 1 ? " region" : " regions");
  std::size_t shared = 0;
  for (const Slice& sl : shared_) shared = std::max(shared, sl.bytes);
  if (shared) os << " with up to " << (shared + 1023) / 1024 << " KiB shared per domain";
  os << ", "
     << (numa_bound_ ? "on each domain's NUMA node" : "not NUMA-bound") << ", "
     << (huge_pages_ ? "huge pages requested" : "normal pages");
  return os.str();
}

}  // namespace attnrt::scheduler
