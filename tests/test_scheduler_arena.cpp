// Per-domain memory: one workspace per worker, aligned, disjoint, on the
// worker's NUMA node on this machine.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/internal/attnrt_internal.hpp"

namespace attnrt::scheduler {
namespace {

void expect_disjoint_aligned(const Arena& a, const Placement& p, std::size_t line) {
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> spans;
  for (int w = 0; w < p.workers(); ++w) {
    const Slice s = a.workspace(w);
    ASSERT_NE(s.data, nullptr);
    EXPECT_EQ(s.bytes, a.workspace_bytes());
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(s.data) % line, 0u) << "worker " << w;
    std::memset(s.data, w & 0xff, s.bytes);  // writable to the last byte
    spans.push_back({reinterpret_cast<std::uintptr_t>(s.data), reinterpret_cast<std::uintptr_t>(s.data) + s.bytes});
  }
  std::sort(spans.begin(), spans.end());
  for (std::size_t i = 1; i < spans.size(); ++i) EXPECT_LE(spans[i - 1].second, spans[i].first);
  for (int w = 0; w < p.workers(); ++w)
    EXPECT_EQ(static_cast<unsigned char*>(a.workspace(w).data)[a.workspace_bytes() - 1], w & 0xff);
}

TEST(Arena, WorkspacesAreDisjointAndLineAligned) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Placement p(Machine::load(std::string(ATTNRT_TEST_DATA) + "/a64fx.xml"), 0, 0, Bind::core);
  const Arena a(p, 100'000);
  expect_disjoint_aligned(a, p, 256);
  EXPECT_FALSE(a.numa_bound());  // the topology is not this system
}

TEST(Arena, StaggersWorkspacesAcrossCacheSets) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  // Workspaces of one domain do not all start at the same offset in a page.
  const Placement p(Machine::load(std::string(ATTNRT_TEST_DATA) + "/a64fx.xml"), 1, 0, Bind::core);
  const Arena a(p, 64 * 1024);
  const auto offset = [&](int w) { return reinterpret_cast<std::uintptr_t>(a.workspace(w).data) % 4096; };
  EXPECT_NE(offset(0), offset(1));
}

TEST(Arena, IsOnTheDomainsNodeOnThisMachine) {
  const Placement p(Machine::this_system(), 0, 0, Bind::core);
  const Arena a(p, 3u << 20);  // big enough for huge pages
  expect_disjoint_aligned(a, p, 64);
  if (!a.numa_bound()) GTEST_SKIP() << "NUMA is not available here";
  for (int w = 0; w < p.workers(); ++w) {
    // get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR): the node of the page at an address.
    int node = -1;
    constexpr unsigned long kNodeOfAddress = 1 | 2;
    ASSERT_EQ(syscall(SYS_get_mempolicy, &node, nullptr, 0ul, a.workspace(w).data, kNodeOfAddress), 0);
    EXPECT_EQ(node, p.machine().domains()[p.domain_of(w)].os_node) << "worker " << w;
  }
  std::printf("%s\n", a.describe().c_str());
}

}  // namespace
}  // namespace attnrt::scheduler
