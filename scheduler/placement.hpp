// Where the workers are: which domain and core each one runs on, and pinning
// a thread there. Workers are numbered domain by domain, so the workers of a
// domain are a contiguous range and "part p" of a partition can be handed to
// a worker of the same domain as worker p.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "scheduler/topology.hpp"

namespace attnrt::scheduler {

// The most workers a placement has (ATTNRT_NUM_THREADS' bound, and the
// default's on a machine of more cores).
inline constexpr int kMaxWorkers = 4096;

enum class Bind {
  core,    // each worker on one core (all hardware threads of that core)
  domain,  // each worker on the cores of its domain; the OS moves it within
  none     // no pinning
};

const char* bind_name(Bind b);

// A bad domain list or worker count; the message names no variable.
struct PlacementError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

struct WorkerSlot {
  int domain;  // index into machine().domains()
  int core;    // index into that domain's cores
};

class Placement {
 public:
  // domain_mask: bit d allows domain d < 64 (0 = all domains). workers: 0 = one per
  // allowed core. Workers are spread over the allowed domains in proportion
  // to their cores (24 workers on 4 x 12 cores: 6 per domain), so every used
  // domain brings its L2 and memory bandwidth. More workers than cores share
  // cores, round robin.
  Placement(Machine machine, std::uint64_t domain_mask, int workers, Bind bind);

  const Machine& machine() const { return machine_; }
  int workers() const { return static_cast<int>(slots_.size()); }
  // Cores of the allowed domains: workers = 0 gives each one worker.
  int allowed_cores() const { return allowed_cores_; }
  const WorkerSlot& slot(int worker) const { return slots_[worker]; }
  int domain_of(int worker) const { return slots_[worker].domain; }
  // Workers of machine domain d: [first_worker(d), first_worker(d) + workers_in(d)).
  int first_worker(int domain) const { return first_[domain]; }
  int workers_in(int domain) const { return first_[domain + 1] - first_[domain]; }
  Bind bind() const { return bind_; }
  // Whether pin_current_thread does anything: binding on, and the topology is this system.
  bool pins() const { return bind_ != Bind::none && machine_.is_this_system(); }

  // Binds the calling thread to worker w's CPUs (a no-op unless pins()). A
  // thread already bound there by this placement makes no system call.
  void pin_current_thread(int worker) const;
  // The OS CPU numbers worker w is bound to (sorted).
  const std::vector<int>& cpus(int worker) const { return cpus_[worker]; }

  // The smallest L2 share per core and the largest cache line over the used domains.
  std::size_t l2_share_bytes() const;
  int line_bytes() const;

  // One line per domain with workers: which worker runs on which CPUs.
  std::string describe() const;

 private:
  Machine machine_;
  Bind bind_;
  int allowed_cores_ = 0;
  std::vector<WorkerSlot> slots_;
  std::vector<int> first_;                      // per machine domain, plus an end
  std::vector<std::vector<int>> cpus_;          // per worker
  std::vector<std::vector<unsigned long>> masks_;  // per worker, a cpu_set_t of any size
  std::uint64_t id_;                            // tells placements apart in the pin cache
};

}  // namespace attnrt::scheduler
