#include "scheduler/topology.hpp"

#include <sched.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <sstream>

#if ATTNRT_HAVE_HWLOC
#include <hwloc.h>
#endif

namespace attnrt::scheduler {
namespace {

// What hwloc may leave out: a cache size or line we then assume.
constexpr std::size_t kDefaultL1d = 32 * 1024;
constexpr std::size_t kDefaultL2PerCore = 512 * 1024;
constexpr int kDefaultLine = 64;

std::string bytes_text(std::size_t b) {
  char buf[32];
  if (b >= (1u << 20) && b % (1u << 20) == 0) std::snprintf(buf, sizeof buf, "%zu MiB", b >> 20);
  else std::snprintf(buf, sizeof buf, "%zu KiB", b >> 10);
  return buf;
}

#if ATTNRT_HAVE_HWLOC

struct TopologyDeleter {
  void operator()(hwloc_topology* t) const { hwloc_topology_destroy(t); }
};
using Topology = std::unique_ptr<hwloc_topology, TopologyDeleter>;

Topology open_topology(const std::string& description) {
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) throw TopologyError("hwloc could not start");
  Topology t(raw);
  if (!description.empty()) {
    struct stat st;
    const bool is_file = ::stat(description.c_str(), &st) == 0;
    const int rc = is_file ? hwloc_topology_set_xml(raw, description.c_str())
                           : hwloc_topology_set_synthetic(raw, description.c_str());
    if (rc != 0)
      throw TopologyError(is_file ? "hwloc cannot read it as an XML topology file"
                                  : "is neither an existing file nor a valid hwloc synthetic description");
  }
  if (hwloc_topology_load(raw) != 0)
    throw TopologyError(description.empty() ? "hwloc cannot read this machine's topology"
                                            : "hwloc cannot load it (a malformed XML topology?)");
  return t;
}

// The data (or unified) cache of the given level above `obj`, or null.
hwloc_obj_t cache_above(hwloc_obj_t obj, unsigned level) {
  for (hwloc_obj_t a = obj->parent; a; a = a->parent)
    if (hwloc_obj_type_is_dcache(a->type) && a->attr->cache.depth == level &&
        a->attr->cache.type != HWLOC_OBJ_CACHE_INSTRUCTION)
      return a;
  return nullptr;
}

struct BitmapDeleter {
  void operator()(hwloc_bitmap_s* b) const { hwloc_bitmap_free(b); }
};
using Bitmap = std::unique_ptr<hwloc_bitmap_s, BitmapDeleter>;

// The CPUs the calling thread may run on (taskset, cpusets, an MPI
// launcher's binding): hwloc's view of this system includes the others.
Bitmap affinity_mask() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) throw TopologyError("cannot read this thread's CPU affinity");
  Bitmap b(hwloc_bitmap_alloc());
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) hwloc_bitmap_set(b.get(), static_cast<unsigned>(cpu));
  return b;
}

// Cores of `type` under `cpuset` with a CPU in `allowed` (null: any).
int cores_allowed(hwloc_topology_t t, hwloc_const_cpuset_t cpuset, hwloc_obj_type_t type,
                  hwloc_const_bitmap_t allowed) {
  int n = 0;
  for (hwloc_obj_t c = nullptr; (c = hwloc_get_next_obj_inside_cpuset_by_type(t, cpuset, type, c));)
    n += !allowed || hwloc_bitmap_intersects(c->cpuset, allowed);
  return n;
}

// The domains of `t`, with only the cores that have a CPU in `allowed`
// (null: all). A domain's L2 is the allowed cores' share of its caches, so
// that a process given part of a shared L2 does not plan for all of it.
std::vector<Domain> read_domains(hwloc_topology_t t, hwloc_const_bitmap_t allowed) {
  // Cores, or PUs on a topology that has no core objects.
  const hwloc_obj_type_t core_type =
      hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
  const int nodes = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE);
  std::vector<Domain> by_node(std::max(nodes, 1));
  std::vector<std::vector<hwloc_obj_t>> l2_of_node(by_node.size());

  for (hwloc_obj_t c = nullptr; (c = hwloc_get_next_obj_by_type(t, core_type, c));) {
    if (hwloc_bitmap_iszero(c->cpuset)) continue;
    if (allowed && !hwloc_bitmap_intersects(c->cpuset, allowed)) continue;
    // A core belongs to the first NUMA node covering it (a memory-only node,
    // such as HBM beside DDR, covers the same cores and gets none).
    const hwloc_obj_t node =
        hwloc_get_next_obj_covering_cpuset_by_type(t, c->cpuset, HWLOC_OBJ_NUMANODE, nullptr);
    const std::size_t idx = node ? node->logical_index : 0;
    Domain& d = by_node[idx];
    if (d.cores.empty()) {
      d.os_node = node ? static_cast<int>(node->os_index) : -1;
      const hwloc_obj_t l1 = cache_above(c, 1);
      d.l1d_bytes = l1 && l1->attr->cache.size ? l1->attr->cache.size : kDefaultL1d;
      d.line_bytes = l1 && l1->attr->cache.linesize ? static_cast<int>(l1->attr->cache.linesize) : kDefaultLine;
      d.l2_bytes = 0;
      d.cores_per_l2 = 1;
    }
    Core core{static_cast<int>(c->os_index), {}};
    unsigned pu;
    hwloc_bitmap_foreach_begin(pu, c->cpuset) if (!allowed || hwloc_bitmap_isset(allowed, pu)) {
      core.pus.push_back(static_cast<int>(pu));
    }
    hwloc_bitmap_foreach_end();
    d.cores.push_back(std::move(core));

    if (const hwloc_obj_t l2 = cache_above(c, 2)) {
      auto& seen = l2_of_node[idx];
      if (std::find(seen.begin(), seen.end(), l2) == seen.end()) {
        seen.push_back(l2);
        const int sharing = std::max(hwloc_get_nbobjs_inside_cpuset_by_type(t, l2->cpuset, core_type), 1);
        d.l2_bytes += l2->attr->cache.size * cores_allowed(t, l2->cpuset, core_type, allowed) / sharing;
        d.cores_per_l2 = std::max(d.cores_per_l2, sharing);
      }
    }
  }

  std::vector<Domain> domains;
  for (Domain& d : by_node) {
    if (d.cores.empty()) continue;
    if (d.l2_bytes == 0) d.l2_bytes = kDefaultL2PerCore * d.cores.size();
    domains.push_back(std::move(d));
  }
  return domains;
}

#endif  // ATTNRT_HAVE_HWLOC

}  // namespace

Machine::Machine(std::vector<Domain> domains, bool this_system, std::string source)
    : domains_(std::move(domains)), this_system_(this_system), source_(std::move(source)) {
  if (domains_.empty()) throw TopologyError("the topology has no cores");
}

bool Machine::can_load() { return ATTNRT_HAVE_HWLOC; }

int Machine::cores() const {
  int n = 0;
  for (const Domain& d : domains_) n += static_cast<int>(d.cores.size());
  return n;
}

#if ATTNRT_HAVE_HWLOC

Machine Machine::this_system() {
  const Topology t = open_topology("");
  return Machine(read_domains(t.get(), affinity_mask().get()), true, "this machine");
}

Machine Machine::load(const std::string& description) {
  const Topology t = open_topology(description);
  return Machine(read_domains(t.get(), nullptr), hwloc_topology_is_thissystem(t.get()) != 0, description);
}

#else  // without hwloc: one domain of the CPUs this process may use

Machine Machine::this_system() {
  cpu_set_t set;
  CPU_ZERO(&set);
  Domain d{-1, {}, kDefaultL1d, 0, 1, kDefaultLine};
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &set)) d.cores.push_back({cpu, {cpu}});
  if (d.cores.empty()) d.cores.push_back({0, {0}});
  d.l2_bytes = kDefaultL2PerCore * d.cores.size();
  return Machine({std::move(d)}, true, "this machine (without hwloc)");
}

Machine Machine::load(const std::string&) {
  throw TopologyError("this build of attnrt has no hwloc, so it cannot load topologies");
}

#endif

std::string Machine::describe() const {
  std::ostringstream os;
  os << "topology: " << source_ << (this_system_ ? "" : " (not this system: threads are not pinned)") << ", "
     << domains_.size() << (domains_.size() == 1 ? " domain, " : " domains, ") << cores() << " cores";
  for (std::size_t i = 0; i < domains_.size(); ++i) {
    const Domain& d = domains_[i];
    std::vector<int> ids;
    for (const Core& c : d.cores) ids.insert(ids.end(), c.pus.begin(), c.pus.end());
    std::sort(ids.begin(), ids.end());
    os << "\n  domain " << i << " (NUMA node " << d.os_node << "): " << d.cores.size() << " cores, cpus "
       << format_ranges(ids) << ", L1d " << bytes_text(d.l1d_bytes) << ", L2 " << bytes_text(d.l2_bytes)
       << " (" << d.cores_per_l2 << (d.cores_per_l2 == 1 ? " core" : " cores") << " per L2, "
       << bytes_text(d.l2_share_bytes()) << " per core), line " << d.line_bytes << " B";
  }
  return os.str();
}

std::string format_ranges(const std::vector<int>& sorted) {
  std::ostringstream os;
  for (std::size_t i = 0; i < sorted.size();) {
    std::size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    if (i) os << ',';
    os << sorted[i];
    if (j > i) os << '-' << sorted[j];
    i = j + 1;
  }
  return os.str();
}

}  // namespace attnrt::scheduler
