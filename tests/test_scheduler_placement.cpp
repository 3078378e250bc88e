// Workers over domains and cores: proportional spread, domain lists,
// oversubscription and the CPUs each binding mode gives.
#include <gtest/gtest.h>

#include <string>

#include "runtime/internal/attnrt_internal.hpp"

namespace attnrt::scheduler {
namespace {

Machine load(const char* file) { return Machine::load(std::string(ATTNRT_TEST_DATA) + "/" + file); }

std::vector<int> per_domain(const Placement& p) {
  std::vector<int> n;
  for (std::size_t d = 0; d < p.machine().domains().size(); ++d) n.push_back(p.workers_in(static_cast<int>(d)));
  return n;
}

TEST(Placement, OneWorkerPerAllowedCoreByDefault) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Placement p(load("a64fx.xml"), 0, 0, Bind::core);
  EXPECT_EQ(p.workers(), 48);
  EXPECT_EQ(per_domain(p), (std::vector<int>{12, 12, 12, 12}));
  for (int w = 0; w < 48; ++w) {
    EXPECT_EQ(p.domain_of(w), w / 12);
    EXPECT_EQ(p.cpus(w), std::vector<int>{w});
  }
  EXPECT_FALSE(p.pins());  // not this system
}

TEST(Placement, SpreadsFewerWorkersOverDomains) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  EXPECT_EQ(per_domain(Placement(load("a64fx.xml"), 0, 24, Bind::core)), (std::vector<int>{6, 6, 6, 6}));
  EXPECT_EQ(per_domain(Placement(load("a64fx.xml"), 0, 1, Bind::core)), (std::vector<int>{1, 0, 0, 0}));
  EXPECT_EQ(per_domain(Placement(load("a64fx.xml"), 0, 2, Bind::core)), (std::vector<int>{1, 1, 0, 0}));
  EXPECT_EQ(per_domain(Placement(load("uneven-12-12-12-8.xml"), 0, 22, Bind::core)),
            (std::vector<int>{6, 6, 6, 4}));
}

TEST(Placement, DomainListsSelectDomains) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Placement p(load("a64fx.xml"), 0b1010, 0, Bind::core);  // "1,3"
  EXPECT_EQ(per_domain(p), (std::vector<int>{0, 12, 0, 12}));
  EXPECT_EQ(p.cpus(0), std::vector<int>{12});
  EXPECT_EQ(p.cpus(12), std::vector<int>{36});
  const Placement one(load("a64fx.xml"), 0b0001, 0, Bind::core);  // one CMG
  EXPECT_EQ(one.workers(), 12);
  try {
    Placement(load("a64fx.xml"), 1u << 5, 0, Bind::core);
    FAIL();
  } catch (const PlacementError& e) {
    EXPECT_EQ(std::string(e.what()), "domain 5 does not exist: the machine has domains 0-3");
  }
  // A list names domains 0-63 only; on a machine with more, those past 63
  // are left out with the rest, not taken as allowed.
  const Placement first(Machine::load("node:70 core:1 pu:1"), 0b1, 0, Bind::core);
  EXPECT_EQ(first.workers(), 1);
  EXPECT_EQ(first.workers_in(0), 1);
  EXPECT_EQ(Placement(Machine::load("node:70 core:1 pu:1"), 0, 0, Bind::core).workers(), 70);
}

TEST(Placement, DefaultIsOnePerCoreUpToTheMostWorkers) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Placement big(Machine::load("node:2 core:2500 pu:1"), 0, 0, Bind::core);
  EXPECT_EQ(big.allowed_cores(), 5000);
  EXPECT_EQ(big.workers(), kMaxWorkers);
}

TEST(Placement, MoreWorkersThanCoresShareCores) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Placement p(load("laptop.xml"), 0, 10, Bind::core);
  EXPECT_EQ(p.workers(), 10);
  EXPECT_EQ(p.cpus(8), p.cpus(0));
  EXPECT_EQ(p.cpus(0), (std::vector<int>{0, 1}));  // both hardware threads of core 0
}

TEST(Placement, DomainBindingGivesTheDomainsCpus) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Placement p(load("a64fx.xml"), 0b0100, 3, Bind::domain);
  EXPECT_EQ(p.cpus(1).size(), 12u);
  EXPECT_EQ(p.cpus(1).front(), 24);
  EXPECT_EQ(p.cpus(1).back(), 35);
}

TEST(Placement, L2ShareIsTheSmallestOverUsedDomains) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Placement all(load("uneven-12-12-12-8.xml"), 0, 0, Bind::core);
  EXPECT_EQ(all.l2_share_bytes(), (8u << 20) / 12);
  EXPECT_EQ(all.line_bytes(), 256);
  const Placement last(load("uneven-12-12-12-8.xml"), 0b1000, 0, Bind::core);
  EXPECT_EQ(last.l2_share_bytes(), (8u << 20) / 8);
}

TEST(Placement, DescribesWhereWorkersRun) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Placement p(load("a64fx.xml"), 0b0011, 4, Bind::core);
  const std::string d = p.describe();
  EXPECT_NE(d.find("domain 0: w0->cpu 0, w1->cpu 1"), std::string::npos) << d;
  EXPECT_NE(d.find("domain 1: w2->cpu 12, w3->cpu 13"), std::string::npos) << d;
  EXPECT_NE(d.find("not applied"), std::string::npos) << d;
}

}  // namespace
}  // namespace attnrt::scheduler
