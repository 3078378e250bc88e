// Reading machines: this one through hwloc, the test topologies from XML
// files and synthetic descriptions, and the errors a bad description gives.
#include <gtest/gtest.h>
#include <sched.h>

#include <string>

#include "runtime/internal/attnrt_internal.hpp"

namespace attnrt::scheduler {
namespace {

std::string data(const char* file) { return std::string(ATTNRT_TEST_DATA) + "/" + file; }

TEST(Topology, A64fxHasFourCmgsOfTwelveCoresWithSharedL2) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Machine m = Machine::load(data("a64fx.xml"));
  EXPECT_FALSE(m.is_this_system());
  ASSERT_EQ(m.domains().size(), 4u);
  EXPECT_EQ(m.cores(), 48);
  for (int d = 0; d < 4; ++d) {
    const Domain& dom = m.domains()[d];
    EXPECT_EQ(dom.os_node, d);
    EXPECT_EQ(dom.cores.size(), 12u);
    EXPECT_EQ(dom.l2_bytes, 8u << 20);
    EXPECT_EQ(dom.cores_per_l2, 12);
    EXPECT_EQ(dom.l1d_bytes, 64u << 10);
    EXPECT_EQ(dom.line_bytes, 256);
    EXPECT_EQ(dom.l2_share_bytes(), (8u << 20) / 12);
    EXPECT_EQ(dom.cores[0].pus, std::vector<int>{12 * d});
  }
}

TEST(Topology, TwoSocketServerHasTwoNodesPerSocketAndSmt) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Machine m = Machine::load(data("x86-2socket.xml"));
  ASSERT_EQ(m.domains().size(), 4u);
  EXPECT_EQ(m.cores(), 64);
  for (const Domain& d : m.domains()) {
    EXPECT_EQ(d.cores.size(), 16u);
    EXPECT_EQ(d.cores_per_l2, 1);
    EXPECT_EQ(d.l2_bytes, 16u << 20);  // 1 MiB per core
    EXPECT_EQ(d.cores[0].pus.size(), 2u);
    EXPECT_EQ(d.line_bytes, 64);
  }
}

TEST(Topology, UnevenMachineKeepsItsShortDomain) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Machine m = Machine::load(data("uneven-12-12-12-8.xml"));
  ASSERT_EQ(m.domains().size(), 4u);
  EXPECT_EQ(m.domains()[0].cores.size(), 12u);
  EXPECT_EQ(m.domains()[3].cores.size(), 8u);
  EXPECT_EQ(m.domains()[3].l2_share_bytes(), (8u << 20) / 8);
}

TEST(Topology, LaptopIsOneDomain) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Machine m = Machine::load(data("laptop.xml"));
  ASSERT_EQ(m.domains().size(), 1u);
  EXPECT_EQ(m.cores(), 8);
}

TEST(Topology, SyntheticDescriptionsLoad) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Machine m = Machine::load("package:2 [numa] l2:1(size=4MiB) core:3 l1d:1(size=32KiB) pu:2");
  ASSERT_EQ(m.domains().size(), 2u);
  EXPECT_EQ(m.domains()[1].cores.size(), 3u);
  EXPECT_EQ(m.domains()[1].cores[0].pus, (std::vector<int>{6, 7}));
  EXPECT_EQ(m.domains()[0].l2_bytes, 4u << 20);
  EXPECT_EQ(m.domains()[0].cores_per_l2, 3);
  // Without cache levels the defaults stand in.
  const Machine bare = Machine::load("core:4 pu:1");
  EXPECT_EQ(bare.domains()[0].l2_bytes, 4 * (512u << 10));
  EXPECT_EQ(bare.domains()[0].line_bytes, 64);
}

TEST(Topology, BadDescriptionsAreErrors) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  EXPECT_THROW(Machine::load("no-such-file.xml"), TopologyError);
  EXPECT_THROW(Machine::load("package:two core:1"), TopologyError);
  try {
    Machine::load(data("README-not-xml.txt"));
    FAIL();
  } catch (const TopologyError& e) {
    EXPECT_NE(std::string(e.what()).find("neither"), std::string::npos) << e.what();
  }
  const std::string not_xml = std::string(ATTNRT_TEST_DATA) + "/../test_scheduler_topology.cpp";
  EXPECT_THROW(Machine::load(not_xml), TopologyError);
}

// Every CPU of this_system() is in `set`, and every CPU of `set` is in it.
void expect_machine_of(const cpu_set_t& set) {
  const Machine m = Machine::this_system();
  EXPECT_TRUE(m.is_this_system());
  int pus = 0;
  for (const Domain& d : m.domains())
    for (const Core& c : d.cores)
      for (int pu : c.pus) {
        EXPECT_TRUE(CPU_ISSET(pu, &set)) << "cpu " << pu << " is not allowed";
        ++pus;
      }
  EXPECT_EQ(pus, CPU_COUNT(&set));
  EXPECT_GT(m.domains()[0].l2_bytes, 0u);
  EXPECT_NE(m.describe().find("domain 0"), std::string::npos);
}

TEST(Topology, ThisSystemMatchesTheAffinityMask) {
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  expect_machine_of(set);
}

// As under taskset or an MPI launcher's binding: the machine is the one CPU
// the thread may use, not every CPU hwloc sees.
TEST(Topology, ThisSystemKeepsToANarrowedMask) {
  cpu_set_t all, one;
  ASSERT_EQ(sched_getaffinity(0, sizeof all, &all), 0);
  int last = -1;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &all)) last = cpu;
  CPU_ZERO(&one);
  CPU_SET(last, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  expect_machine_of(one);
  const Placement p(Machine::this_system(), 0, 0, Bind::core);
  EXPECT_EQ(p.workers(), 1);
  EXPECT_EQ(p.allowed_cores(), 1);
  ASSERT_EQ(sched_setaffinity(0, sizeof all, &all), 0);
}

TEST(Topology, FormatsRanges) {
  EXPECT_EQ(format_ranges({}), "");
  EXPECT_EQ(format_ranges({3}), "3");
  EXPECT_EQ(format_ranges({0, 1, 2, 3, 6, 8, 9}), "0-3,6,8-9");
}

}  // namespace
}  // namespace attnrt::scheduler
