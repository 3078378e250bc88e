// The runtime's public queries: the kernel set per dtype
// (attnrt_runtime_kernel_set, attnrt::Runtime::kernel_set), checked against
// the set the runtime really runs (runtime/src/plan_override.hpp) and the
// registry, and attnrt_runtime_isa as the fp32 set.
#include <gtest/gtest.h>

#include <attnrt/attnrt.h>
#include <attnrt/attnrt.hpp>

#include <memory>
#include <string>

#include "kernels/registry.hpp"
#include "runtime/src/plan_override.hpp"

namespace attnrt::test {
namespace {

constexpr attnrt_dtype kDtypes[] = {ATTNRT_F32, ATTNRT_F16, ATTNRT_BF16};

struct RuntimeDeleter {
  void operator()(attnrt_runtime* r) const { attnrt_runtime_destroy(r); }
};
using RuntimePtr = std::unique_ptr<attnrt_runtime, RuntimeDeleter>;

// A runtime from the environment, with `isa` forced unless it is null.
RuntimePtr make_runtime(const char* isa) {
  attnrt_config c;
  EXPECT_EQ(attnrt_config_init(&c), ATTNRT_OK) << attnrt_last_error();
  c.num_threads = 1;
  if (isa) c.isa = isa;
  attnrt_runtime* r = nullptr;
  EXPECT_EQ(attnrt_runtime_create(&c, &r), ATTNRT_OK) << attnrt_last_error();
  return RuntimePtr(r);
}

bool registered(const std::string& name, attnrt_dtype t) {
  for (const kernels::KernelSet* ks : kernels::kernel_sets(static_cast<kernels::DType>(t)))
    if (ks && name == ks->name && ks->dtype == static_cast<kernels::DType>(t)) return true;
  return false;
}

TEST(RuntimeQueries, KernelSetPerDtypeIsTheSetThatRuns) {
  RuntimePtr rt = make_runtime(nullptr);
  ASSERT_TRUE(rt);
  for (attnrt_dtype t : kDtypes) {
    SCOPED_TRACE("dtype " + std::to_string(t));
    const std::string name = attnrt_runtime_kernel_set(rt.get(), t);
    EXPECT_FALSE(name.empty());
    EXPECT_EQ(name, rt::kernel_set_of(rt.get(), t).name);
    EXPECT_TRUE(registered(name, t)) << name << " is not a registered set of this dtype";
  }
}

TEST(RuntimeQueries, IsaIsTheFp32Set) {
  RuntimePtr rt = make_runtime(nullptr);
  ASSERT_TRUE(rt);
  EXPECT_STREQ(attnrt_runtime_isa(rt.get()), attnrt_runtime_kernel_set(rt.get(), ATTNRT_F32));
}

TEST(RuntimeQueries, KernelSetFollowsTheRequestedIsa) {
  // The portable set is in every build and runs on every CPU.
  RuntimePtr rt = make_runtime("generic");
  ASSERT_TRUE(rt);
  for (attnrt_dtype t : kDtypes) EXPECT_STREQ(attnrt_runtime_kernel_set(rt.get(), t), "generic") << t;
}

TEST(RuntimeQueries, KernelSetOfNothingIsEmpty) {
  EXPECT_STREQ(attnrt_runtime_kernel_set(nullptr, ATTNRT_F32), "");
  RuntimePtr rt = make_runtime(nullptr);
  ASSERT_TRUE(rt);
  EXPECT_STREQ(attnrt_runtime_kernel_set(rt.get(), static_cast<attnrt_dtype>(3)), "");
  EXPECT_STREQ(attnrt_runtime_kernel_set(rt.get(), static_cast<attnrt_dtype>(-1)), "");
}

TEST(RuntimeQueries, CppWrapperMatchesTheCAbi) {
  Config cfg;
  cfg.num_threads = 1;
  Runtime cpp(cfg);
  RuntimePtr c = make_runtime(nullptr);
  ASSERT_TRUE(c);
  for (DType t : {DType::f32, DType::f16, DType::bf16})
    EXPECT_EQ(cpp.kernel_set(t), attnrt_runtime_kernel_set(c.get(), static_cast<attnrt_dtype>(t)));
  EXPECT_EQ(cpp.isa(), cpp.kernel_set(DType::f32));
}

}  // namespace
}  // namespace attnrt::test
