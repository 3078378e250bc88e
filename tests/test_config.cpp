// Configuration from the environment and from code: every ATTNRT_* variable
// with a bad value is ATTNRT_CONFIG_ERROR naming the variable (from
// attnrt_config_init, attnrt_runtime_create and the C++ Runtime alike), good
// values are taken, and an empty value means unset. Tests share a process,
// so each one starts from a clean ATTNRT_* environment and restores the
// caller's afterwards.
#include <attnrt/attnrt.h>
#include <attnrt/attnrt.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "kernels/tuning.hpp"
#include "runtime/internal/attnrt_internal.hpp"
#include "tests/backends.hpp"
#include "tests/harness.hpp"

namespace attnrt::test {
namespace {

constexpr const char* kVariables[] = {"ATTNRT_NUM_THREADS", "ATTNRT_DOMAINS",  "ATTNRT_BIND",
                                      "ATTNRT_EXECUTOR",    "ATTNRT_ISA",      "ATTNRT_STRATEGY",
                                      "ATTNRT_TOPOLOGY",    "ATTNRT_VERBOSE",  "ATTNRT_UARCH"};

// Sets (or, with nullptr, unsets) a variable; puts the old value back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_.c_str(), old_->c_str(), 1);
    else ::unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

class Config : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v : kVariables) clean_.emplace_back(std::make_unique<ScopedEnv>(v, nullptr));
  }
  void TearDown() override { clean_.clear(); }

 private:
  std::vector<std::unique_ptr<ScopedEnv>> clean_;
};

// ---- bad values -------------------------------------------------------------

struct BadValue {
  const char* variable;
  const char* value;
};

class BadEnvironment : public Config, public ::testing::WithParamInterface<BadValue> {};

TEST_P(BadEnvironment, IsAConfigErrorNamingTheVariable) {
  const auto [variable, value] = GetParam();
  ScopedEnv env(variable, value);
  const std::string named = std::string(variable) + " (" + value + ")";

  attnrt_config c;
  EXPECT_EQ(attnrt_config_init(&c), ATTNRT_CONFIG_ERROR);
  EXPECT_TRUE(contains(attnrt_last_error(), named)) << attnrt_last_error();

  attnrt_runtime* rt = nullptr;
  EXPECT_EQ(attnrt_runtime_create(nullptr, &rt), ATTNRT_CONFIG_ERROR);
  EXPECT_EQ(rt, nullptr);
  EXPECT_TRUE(contains(attnrt_last_error(), named)) << attnrt_last_error();

  try {
    attnrt::Runtime cpp;
    ADD_FAILURE() << "attnrt::Runtime accepted " << named;
  } catch (const attnrt::Error& e) {
    EXPECT_EQ(e.status(), ATTNRT_CONFIG_ERROR);
    EXPECT_TRUE(contains(e.what(), named)) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Variables, BadEnvironment,
    ::testing::Values(BadValue{"ATTNRT_NUM_THREADS", "abc"}, BadValue{"ATTNRT_NUM_THREADS", "0"},
                      BadValue{"ATTNRT_NUM_THREADS", "-2"}, BadValue{"ATTNRT_NUM_THREADS", "4097"},
                      BadValue{"ATTNRT_NUM_THREADS", "2.5"}, BadValue{"ATTNRT_NUM_THREADS", "99999999999999999999"},
                      BadValue{"ATTNRT_EXECUTOR", "foo"}, BadValue{"ATTNRT_EXECUTOR", "OpenMP"},
                      BadValue{"ATTNRT_STRATEGY", "bar"}, BadValue{"ATTNRT_STRATEGY", "ONLINE"},
                      BadValue{"ATTNRT_DOMAINS", "x-1"}, BadValue{"ATTNRT_DOMAINS", "3-1"},
                      BadValue{"ATTNRT_DOMAINS", "64"}, BadValue{"ATTNRT_DOMAINS", "1,,2"},
                      BadValue{"ATTNRT_DOMAINS", "0-"}, BadValue{"ATTNRT_DOMAINS", "-1"},
                      BadValue{"ATTNRT_BIND", "socket"}, BadValue{"ATTNRT_BIND", "Core"},
                      BadValue{"ATTNRT_VERBOSE", "2"}, BadValue{"ATTNRT_VERBOSE", "yes"},
                      BadValue{"ATTNRT_UARCH", "zen9"}, BadValue{"ATTNRT_UARCH", "Zen4"}),
    [](const ::testing::TestParamInfo<BadValue>& info) {
      std::string name = std::string(info.param.variable).substr(7) + "_" + std::to_string(info.index);
      return name;
    });

TEST_F(Config, UnknownIsaIsAConfigErrorWhenTheRuntimeIsMade) {
  ScopedEnv env("ATTNRT_ISA", "nonexistent");
  attnrt_config c;
  ASSERT_EQ(attnrt_config_init(&c), ATTNRT_OK) << attnrt_last_error();  // checked against the registry later
  ASSERT_STREQ(c.isa, "nonexistent");
  attnrt_runtime* rt = nullptr;
  EXPECT_EQ(attnrt_runtime_create(&c, &rt), ATTNRT_CONFIG_ERROR);
  const std::string message = attnrt_last_error();
  EXPECT_TRUE(contains(message, "ATTNRT_ISA (nonexistent)")) << message;
  EXPECT_TRUE(contains(message, "generic")) << "the message should list the sets there are: " << message;
  EXPECT_EQ(attnrt_runtime_create(nullptr, &rt), ATTNRT_CONFIG_ERROR);
  EXPECT_THROW(attnrt::Runtime{}, attnrt::Error);
}

TEST_F(Config, UnknownIsaInCodeNamesTheFieldAndListsEverySetOnce) {
  attnrt_config c;
  ASSERT_EQ(attnrt_config_init(&c), ATTNRT_OK) << attnrt_last_error();
  c.isa = "nonexistent";
  attnrt_runtime* rt = nullptr;
  EXPECT_EQ(attnrt_runtime_create(&c, &rt), ATTNRT_CONFIG_ERROR);
  const std::string message = attnrt_last_error();
  EXPECT_EQ(message.rfind("config.isa (nonexistent) must name a kernel set of this build: ", 0), 0u) << message;

  // The list: every set of the registry once, "generic" too though
  // "generic_v3" contains it.
  std::vector<std::string> listed, expected;
  for (std::size_t at = message.find(": ") + 2, end; at <= message.size(); at = end + 2) {
    end = std::min(message.find(", ", at), message.size());
    listed.push_back(message.substr(at, end - at));
  }
  for (attnrt_dtype t : {ATTNRT_F32, ATTNRT_F16, ATTNRT_BF16})
    for (const kernels::KernelSet* ks : sets_for(t))
      if (std::find(expected.begin(), expected.end(), ks->name) == expected.end()) expected.push_back(ks->name);
  std::sort(listed.begin(), listed.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(listed, expected) << message;
}

TEST_F(Config, IsaTheCpuLacksIsUnsupported) {
  for (attnrt_dtype t : {ATTNRT_F32, ATTNRT_F16, ATTNRT_BF16})
    for (const kernels::KernelSet* ks : sets_for(t)) {
      if (cpu_runs(*ks)) continue;
      ScopedEnv env("ATTNRT_ISA", ks->name);
      attnrt_runtime* rt = nullptr;
      EXPECT_EQ(attnrt_runtime_create(nullptr, &rt), ATTNRT_UNSUPPORTED) << ks->name;
      EXPECT_TRUE(contains(attnrt_last_error(), std::string("ATTNRT_ISA (") + ks->name + ")")) << attnrt_last_error();
      // The same set named in code names the field.
      ScopedEnv unset("ATTNRT_ISA", nullptr);
      attnrt_config c{};
      c.isa = ks->name;
      EXPECT_EQ(attnrt_runtime_create(&c, &rt), ATTNRT_UNSUPPORTED) << ks->name;
      EXPECT_TRUE(contains(attnrt_last_error(), std::string("config.isa (") + ks->name + ")")) << attnrt_last_error();
      return;
    }
  GTEST_SKIP() << "this CPU runs every kernel set of this build";
}

// A runtime that failed to be made on first use reports its error on every
// call. Run in a forked child: the default runtime is made once per process
// (no other test of this file makes it). "fast" forks without re-executing
// the binary, which also works under qemu-user.
TEST_F(Config, DefaultRuntimeReportsABadEnvironmentOnEveryCall) {
  GTEST_FLAG_SET(death_test_style, "fast");
  EXPECT_EXIT(
      {
        ScopedEnv env("ATTNRT_STRATEGY", "bar");
        Problem p({.M = 3, .N = 5});
        HostTensor o = p.make_o();
        bool ok = true;
        for (int call = 0; call < 2; ++call) {
          ok &= attnrt_attention_forward(&p.q().c(), &p.k().c(), &p.v().c(), &o.c(), nullptr) == ATTNRT_CONFIG_ERROR;
          ok &= contains(attnrt_last_error(), "default runtime: ATTNRT_STRATEGY (bar)");
        }
        std::exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

// ---- good values ------------------------------------------------------------

TEST_F(Config, GoodValuesAreTaken) {
  {
    ScopedEnv env("ATTNRT_NUM_THREADS", "3");
    attnrt_config c;
    ASSERT_EQ(attnrt_config_init(&c), ATTNRT_OK) << attnrt_last_error();
    EXPECT_EQ(c.num_threads, 3);
    attnrt::Runtime rt;
    EXPECT_EQ(rt.num_threads(), 3);
  }
  for (const auto& [value, want] : {std::pair{"openmp", ATTNRT_EXECUTOR_OPENMP}, {"tbb", ATTNRT_EXECUTOR_TBB}}) {
    ScopedEnv env("ATTNRT_EXECUTOR", value);
    attnrt_config c;
    ASSERT_EQ(attnrt_config_init(&c), ATTNRT_OK) << attnrt_last_error();
    EXPECT_EQ(c.executor, want);
  }
  for (const auto& [value, want] :
       {std::pair{"auto", ATTNRT_STRATEGY_AUTO}, {"online", ATTNRT_STRATEGY_ONLINE},
        {"two_pass", ATTNRT_STRATEGY_TWO_PASS}, {"three_pass", ATTNRT_STRATEGY_THREE_PASS}}) {
    ScopedEnv env("ATTNRT_STRATEGY", value);
    attnrt_config c;
    ASSERT_EQ(attnrt_config_init(&c), ATTNRT_OK) << attnrt_last_error();
    EXPECT_EQ(c.strategy, want);
  }
  for (const char* value : {"0", "0-3", "1,3", "0,2-3", "63"}) {
    ScopedEnv env("ATTNRT_DOMAINS", value);
    attnrt_config c;
    ASSERT_EQ(attnrt_config_init(&c), ATTNRT_OK) << value << ": " << attnrt_last_error();
    EXPECT_STREQ(c.domains, value);
  }
  for (const char* value : {"core", "domain", "none"}) {
    ScopedEnv env("ATTNRT_BIND", value);
    attnrt_config c;
    ASSERT_EQ(attnrt_config_init(&c), ATTNRT_OK) << value << ": " << attnrt_last_error();
    EXPECT_STREQ(c.bind, value);
  }
  for (const auto& [value, want] : {std::pair{"0", 0}, {"1", 1}}) {
    ScopedEnv env("ATTNRT_VERBOSE", value);
    attnrt_config c;
    ASSERT_EQ(attnrt_config_init(&c), ATTNRT_OK) << attnrt_last_error();
    EXPECT_EQ(c.verbose, want);
  }
  {
    ScopedEnv env("ATTNRT_TOPOLOGY", "package:1 core:4 pu:1");
    attnrt_config c;
    ASSERT_EQ(attnrt_config_init(&c), ATTNRT_OK) << attnrt_last_error();
    EXPECT_STREQ(c.topology, "package:1 core:4 pu:1");
  }
  {
    ScopedEnv env("ATTNRT_ISA", "generic");
    attnrt::Runtime rt;
    EXPECT_EQ(rt.isa(), "generic");
  }
  for (const kernels::UarchTuning& row : kernels::kUarchTable) {
    ScopedEnv env("ATTNRT_UARCH", row.name);
    attnrt_config c;
    ASSERT_EQ(attnrt_config_init(&c), ATTNRT_OK) << attnrt_last_error();
    EXPECT_STREQ(c.uarch, row.name);
    attnrt::Runtime rt;
    EXPECT_EQ(rt.uarch(), row.name);
  }
}

TEST_F(Config, EmptyValuesMeanUnset) {
  std::vector<std::unique_ptr<ScopedEnv>> empty;
  for (const char* v : kVariables) empty.emplace_back(std::make_unique<ScopedEnv>(v, ""));
  attnrt_config c;
  ASSERT_EQ(attnrt_config_init(&c), ATTNRT_OK) << attnrt_last_error();
  EXPECT_EQ(c.num_threads, 0);
  EXPECT_EQ(c.executor, ATTNRT_EXECUTOR_DEFAULT);
  EXPECT_EQ(c.isa, nullptr);
  EXPECT_EQ(c.strategy, ATTNRT_STRATEGY_AUTO);
  EXPECT_EQ(c.domains, nullptr);
  EXPECT_EQ(c.bind, nullptr);
  EXPECT_EQ(c.topology, nullptr);
  EXPECT_EQ(c.verbose, 0);
  EXPECT_EQ(c.uarch, nullptr);
}

TEST_F(Config, NoEnvironmentMeansTheBestSetThisCpuRuns) {
  attnrt::Runtime rt;
  for (const kernels::KernelSet* ks : sets_for(ATTNRT_F32))
    if (cpu_runs(*ks)) {
      EXPECT_EQ(rt.isa(), ks->name);
      break;
    }
  EXPECT_GE(rt.num_threads(), 1);
  EXPECT_EQ(rt.uarch(), kernels::uarch_tuning(rt::cpu_features().uarch).name);
}

TEST_F(Config, VerbosePrintsOneLinePerCall) {
  ScopedEnv env("ATTNRT_VERBOSE", "1");
  Problem p({.M = 3, .N = 5});
  HostTensor o = p.make_o();
  ::testing::internal::CaptureStderr();
  {
    attnrt::Runtime rt;
    for (int call = 0; call < 2; ++call) rt.forward(p.q().cpp(), p.k().cpp(), p.v().cpp(), o.cpp());
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  std::size_t calls = 0;
  for (std::size_t at = err.find("strategy="); at != std::string::npos; at = err.find("strategy=", at + 1)) ++calls;
  EXPECT_EQ(calls, 2u) << err;
  EXPECT_TRUE(contains(err, "isa=")) << err;
  EXPECT_TRUE(contains(err, "gflops=")) << err;
}

// ---- values given in code ---------------------------------------------------

TEST_F(Config, BadValuesInCodeNameTheField) {
  // Enum fields get out-of-range values through their bytes, as a C caller
  // may store them.
  struct Case {
    void (*apply)(attnrt_config&);
    const char* named;
  };
  const Case cases[] = {
      {[](attnrt_config& c) { c.num_threads = -1; }, "config.num_threads (-1)"},
      {[](attnrt_config& c) { const int bad = 7; std::memcpy(&c.executor, &bad, sizeof bad); }, "config.executor (7)"},
      {[](attnrt_config& c) { const int bad = 9; std::memcpy(&c.strategy, &bad, sizeof bad); }, "config.strategy (9)"},
      {[](attnrt_config& c) { c.domains = "x"; }, "config.domains (x)"},
      {[](attnrt_config& c) { c.bind = "socket"; }, "config.bind (socket)"},
      {[](attnrt_config& c) { c.uarch = "zen9"; }, "config.uarch (zen9) must name a row of the tuning table: other, "},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.named);
    attnrt_config c;
    ASSERT_EQ(attnrt_config_init(&c), ATTNRT_OK);
    k.apply(c);
    attnrt_runtime* rt = nullptr;
    EXPECT_EQ(attnrt_runtime_create(&c, &rt), ATTNRT_CONFIG_ERROR);
    EXPECT_EQ(rt, nullptr);
    EXPECT_TRUE(contains(attnrt_last_error(), k.named)) << attnrt_last_error();
  }
  try {
    attnrt::Config cfg;
    cfg.executor = "foo";
    attnrt::Runtime rt(cfg);
    ADD_FAILURE() << "executor foo accepted";
  } catch (const attnrt::Error& e) {
    EXPECT_EQ(e.status(), ATTNRT_CONFIG_ERROR);
    EXPECT_TRUE(contains(e.what(), "config.executor (foo)")) << e.what();
  }
}

// Every worker's workspace (a few MiB) is made and touched with the
// runtime: 4096 workers on 2 cores took 56 s and 20 GiB before the limit.
TEST_F(Config, MoreThanEightWorkersPerAllowedCoreAreRefused) {
  const int cores = attnrt::Runtime().num_threads();  // 0 threads: one per allowed core
  const int limit = 8 * cores;
  if (limit >= 4096) GTEST_SKIP() << cores << " allowed cores take 4096 workers";
  const std::string rule = " must be at most " + std::to_string(limit) +
                           " (8 workers per allowed core; allowed cores: " + std::to_string(cores) + ")";
  attnrt_runtime* rt = nullptr;
  {
    ScopedEnv env("ATTNRT_NUM_THREADS", "4096");
    EXPECT_EQ(attnrt_runtime_create(nullptr, &rt), ATTNRT_CONFIG_ERROR);
    EXPECT_EQ(rt, nullptr);
    EXPECT_EQ(std::string(attnrt_last_error()), "ATTNRT_NUM_THREADS (4096)" + rule);
  }
  attnrt_config c{};
  c.num_threads = 4096;
  EXPECT_EQ(attnrt_runtime_create(&c, &rt), ATTNRT_CONFIG_ERROR);
  EXPECT_EQ(rt, nullptr);
  EXPECT_EQ(std::string(attnrt_last_error()), "config.num_threads (4096)" + rule);
}

TEST_F(Config, CodeOverridesEnvironment) {
  ScopedEnv threads("ATTNRT_NUM_THREADS", "3");
  ScopedEnv isa("ATTNRT_ISA", "nonexistent");
  attnrt::Config cfg;
  cfg.num_threads = 1;
  cfg.isa = "generic";
  ScopedEnv uarch("ATTNRT_UARCH", "zen3");
  cfg.uarch = "zen4";
  attnrt::Runtime rt(cfg);
  EXPECT_EQ(rt.num_threads(), 1);
  EXPECT_EQ(rt.isa(), "generic");
  EXPECT_EQ(rt.uarch(), "zen4");
}

}  // namespace
}  // namespace attnrt::test
