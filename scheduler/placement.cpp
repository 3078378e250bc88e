#include "scheduler/placement.hpp"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <sstream>

namespace attnrt::scheduler {
namespace {

std::atomic<std::uint64_t> g_next_id{1};

// Which (placement, worker) the calling thread is bound to, so re-entering
// the same worker costs no system call.
struct PinnedTo {
  std::uint64_t placement = 0;
  int worker = -1;
};
thread_local PinnedTo t_pinned;

constexpr int kBitsPerWord = sizeof(unsigned long) * CHAR_BIT;

}  // namespace

const char* bind_name(Bind b) {
  switch (b) {
    case Bind::core: return "core";
    case Bind::domain: return "domain";
    case Bind::none: return "none";
  }
  return "?";
}

Placement::Placement(Machine machine, std::uint64_t domain_mask, int workers, Bind bind)
    : machine_(std::move(machine)), bind_(bind), id_(g_next_id.fetch_add(1)) {
  const auto& doms = machine_.domains();
  const int nd = static_cast<int>(doms.size());
  if (workers < 0) throw PlacementError("the number of workers must not be negative");
  if (nd < 64 && (domain_mask >> nd) != 0) {
    int bad = nd;
    while (!((domain_mask >> bad) & 1)) ++bad;
    throw PlacementError("domain " + std::to_string(bad) + " does not exist: the machine has domains 0-" +
                         std::to_string(nd - 1));
  }
  // A mask names domains 0-63; past those, only "all" (0) allows a domain.
  auto allowed = [&](int d) { return domain_mask == 0 || (d < 64 && ((domain_mask >> d) & 1)); };

  long total_cores = 0;
  for (int d = 0; d < nd; ++d)
    if (allowed(d)) total_cores += static_cast<long>(doms[d].cores.size());
  allowed_cores_ = static_cast<int>(total_cores);
  if (workers == 0) workers = std::min(allowed_cores_, kMaxWorkers);

  // Largest-remainder split of the workers, proportional to cores.
  std::vector<int> count(nd, 0);
  std::vector<std::pair<long, int>> rest;  // (remainder numerator, domain)
  int given = 0;
  for (int d = 0; d < nd; ++d) {
    if (!allowed(d)) continue;
    const long share = static_cast<long>(workers) * static_cast<long>(doms[d].cores.size());
    count[d] = static_cast<int>(share / total_cores);
    given += count[d];
    rest.push_back({share % total_cores, d});
  }
  std::stable_sort(rest.begin(), rest.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (int i = 0; given < workers; ++i, ++given) ++count[rest[i % rest.size()].second];

  first_.assign(nd + 1, 0);
  for (int d = 0; d < nd; ++d) {
    first_[d + 1] = first_[d] + count[d];
    const int cores = static_cast<int>(doms[d].cores.size());
    for (int j = 0; j < count[d]; ++j) slots_.push_back({d, j % cores});
  }

  for (const WorkerSlot& s : slots_) {
    std::vector<int> cpus;
    const Domain& dom = doms[s.domain];
    if (bind_ == Bind::domain) {
      for (const Core& c : dom.cores) cpus.insert(cpus.end(), c.pus.begin(), c.pus.end());
    } else {
      cpus = dom.cores[s.core].pus;
    }
    std::sort(cpus.begin(), cpus.end());
    std::vector<unsigned long> mask(std::max(1, (cpus.empty() ? 0 : cpus.back()) / kBitsPerWord + 1), 0ul);
    for (int c : cpus) mask[c / kBitsPerWord] |= 1ul << (c % kBitsPerWord);
    cpus_.push_back(std::move(cpus));
    masks_.push_back(std::move(mask));
  }
}

void Placement::pin_current_thread(int worker) const {
  if (!pins()) return;
  if (t_pinned.placement == id_ && t_pinned.worker == worker) return;
  const std::vector<unsigned long>& m = masks_[worker];
  // A failure (e.g. a CPU this process may no longer use) leaves the thread
  // where it was: the work is still right, only its placement is lost.
  if (sched_setaffinity(0, m.size() * sizeof(unsigned long), reinterpret_cast<const cpu_set_t*>(m.data())) == 0)
    t_pinned = {id_, worker};
}

std::size_t Placement::l2_share_bytes() const {
  std::size_t share = 0;
  for (int d = 0; d + 1 < static_cast<int>(first_.size()); ++d)
    if (workers_in(d) > 0) {
      const std::size_t s = machine_.domains()[d].l2_share_bytes();
      share = share == 0 ? s : std::min(share, s);
    }
  return share;
}

int Placement::line_bytes() const {
  int line = 64;
  for (int d = 0; d + 1 < static_cast<int>(first_.size()); ++d)
    if (workers_in(d) > 0) line = std::max(line, machine_.domains()[d].line_bytes);
  return line;
}

std::string Placement::describe() const {
  std::ostringstream os;
  os << workers() << (workers() == 1 ? " worker" : " workers") << ", bind " << bind_name(bind_);
  if (bind_ != Bind::none && !machine_.is_this_system()) os << " (not applied: the topology is not this system)";
  for (int d = 0; d + 1 < static_cast<int>(first_.size()); ++d) {
    if (workers_in(d) == 0) continue;
    os << "\n  domain " << d << ":";
    for (int w = first_worker(d); w < first_worker(d) + workers_in(d); ++w)
      os << " w" << w << "->cpu " << format_ranges(cpus_[w]) << (w + 1 < first_worker(d) + workers_in(d) ? "," : "");
  }
  return os.str();
}

}  // namespace attnrt::scheduler
