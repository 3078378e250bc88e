// One runtime per rank, placed by the rank's index on its node: the node's
// ranks split its domains, so four ranks on an A64FX get a CMG each.
#include <attnrt/attnrt_mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <sys/stat.h>

#include "mpi/src/check.hpp"
#include "mpi/src/error.hpp"

#if ATTNRT_HAVE_HWLOC
#include <hwloc.h>
#endif

namespace attnrt::mpi {
namespace {

struct Node {
  int domains = 1;
  int cores_per_domain = 1;  // of the smallest domain
};

// The domains as attnrt counts them: NUMA nodes with cores, in hwloc's order.
Node read_node(const char* topology) {
  Node node;
#if ATTNRT_HAVE_HWLOC
  hwloc_topology_t t;
  if (hwloc_topology_init(&t) != 0) return node;
  if (topology && *topology) {
    struct stat st;  // as the core decides: an existing file is XML
    const bool file = ::stat(topology, &st) == 0;
    const int rc = file ? hwloc_topology_set_xml(t, topology) : hwloc_topology_set_synthetic(t, topology);
    if (rc != 0) {
      hwloc_topology_destroy(t);
      fail(ATTNRT_CONFIG_ERROR, "topology (", topology, ") is neither an hwloc XML file nor a synthetic description");
    }
  }
  if (hwloc_topology_load(t) == 0) {
    int found = 0, fewest = 0;
    for (hwloc_obj_t n = nullptr; (n = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_NUMANODE, n));) {
      const int cores = hwloc_get_nbobjs_inside_cpuset_by_type(t, n->cpuset, HWLOC_OBJ_CORE);
      if (cores <= 0) continue;
      fewest = found == 0 ? cores : std::min(fewest, cores);
      ++found;
    }
    if (found > 0) node = {found, fewest};
  }
  hwloc_topology_destroy(t);
#else
  (void)topology;
#endif
  return node;
}

// The node's domains split among its ranks, then a runtime on this rank's.
attnrt_runtime* create_local(attnrt_config cfg, int local_rank, int local_size) {
  char domains[64];
  if (!cfg.domains) {  // ATTNRT_DOMAINS, per rank, wins over the rule
    const Node node = read_node(cfg.topology);
    const int share = attnrt_mpi_local_domains(node.domains, local_rank, local_size, domains, sizeof domains);
    if (share == 0) fail(ATTNRT_INTERNAL_ERROR, "no domain for local rank ", local_rank, " of ", local_size);
    cfg.domains = domains;
    // Ranks sharing a domain share its cores: threads stay where mpirun put
    // the rank (--bind-to core), or anywhere in it when it did not.
    if (share > 1 && cfg.num_threads == 0) cfg.num_threads = std::max(1, node.cores_per_domain / share);
    if (share > 1 && !cfg.bind) cfg.bind = "none";
  }
  attnrt_runtime* rt = nullptr;
  const attnrt_status s = attnrt_runtime_create(&cfg, &rt);
  if (s != ATTNRT_OK) fail(s, attnrt_last_error());
  return rt;
}

// Collective: a rank that fails (a bad argument or setting of its own)
// still takes part, and then every rank fails with its message, rather
// than the others waiting for it.
attnrt_runtime* create(MPI_Comm comm, const attnrt_config* given, bool out_given) {
  if (comm == MPI_COMM_NULL) fail(ATTNRT_INVALID_ARGUMENT, "comm is MPI_COMM_NULL: a communicator of no ranks");
  std::string error;
  attnrt_status status = ATTNRT_OK;
  attnrt_config cfg{};
  if (!out_given) {
    error = "out must not be NULL", status = ATTNRT_INVALID_ARGUMENT;
  } else if (given) {
    cfg = *given;
  } else if (attnrt_config_init(&cfg) != ATTNRT_OK) {
    error = attnrt_last_error(), status = ATTNRT_CONFIG_ERROR;
  }
  // The ranks of this node (MPI-3's shared-memory split: Open MPI's
  // OMPI_COMM_WORLD_LOCAL_RANK for MPI_COMM_WORLD, and the same on any MPI).
  MPI_Comm local;
  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
  int local_rank = 0, local_size = 1;
  MPI_Comm_rank(local, &local_rank);
  MPI_Comm_size(local, &local_size);
  MPI_Comm_free(&local);

  attnrt_runtime* rt = nullptr;
  if (error.empty()) {
    try {
      rt = create_local(cfg, local_rank, local_size);
    } catch (const Failure& f) {
      error = f.what(), status = f.status;
    } catch (const std::bad_alloc&) {
      error = "out of memory", status = ATTNRT_INTERNAL_ERROR;
    }
  }
  try {
    agree_on_status(comm, error, status);
  } catch (...) {
    attnrt_runtime_destroy(rt);
    throw;
  }
  return rt;
}

}  // namespace
}  // namespace attnrt::mpi

extern "C" int attnrt_mpi_local_domains(int num_domains, int local_rank, int local_size, char* buf, size_t len) {
  if (num_domains < 1 || local_size < 1 || local_rank < 0 || local_rank >= local_size || !buf) return 0;
  int first, last, share = 1;
  if (local_size <= num_domains) {  // each rank its own run of domains
    first = static_cast<int>(static_cast<long>(local_rank) * num_domains / local_size);
    last = static_cast<int>(static_cast<long>(local_rank + 1) * num_domains / local_size) - 1;
  } else {  // ranks spread over the domains; count those landing on this one
    first = last = static_cast<int>(static_cast<long>(local_rank) * num_domains / local_size);
    share = 0;
    for (int r = 0; r < local_size; ++r) share += static_cast<long>(r) * num_domains / local_size == first;
  }
  const int n = first == last ? std::snprintf(buf, len, "%d", first) : std::snprintf(buf, len, "%d-%d", first, last);
  return n > 0 && static_cast<size_t>(n) < len ? share : 0;
}

extern "C" attnrt_status attnrt_mpi_runtime_create(MPI_Comm comm, const attnrt_config* config, attnrt_runtime** out) {
  if (out) *out = nullptr;
  try {
    attnrt::mpi::set_last_error("");
    attnrt_runtime* rt = attnrt::mpi::create(comm, config, out != nullptr);
    *out = rt;
    return ATTNRT_OK;
  } catch (const attnrt::mpi::Failure& f) {
    attnrt::mpi::set_last_error(f.what());
    return f.status;
  }
}
