// The A64FX sets: this file is compiled with -mcpu=a64fx -msve-vector-bits=512.
#include "kernels/sve/kernel_set.hpp"
#include "kernels/sve/sets.hpp"

namespace attnrt::kernels::sve {
namespace {

using namespace a64fx;
constexpr std::uint32_t kA64fx = kFeatureSve | kFeatureSve512;
constexpr int kLanes = 16;

constexpr KernelSet kF32 = fp32_set<float, 8>("sve512", DType::f32, kA64fx, kLanes);
constexpr KernelSet kBf16 = fp32_set<Bf16, 8>("sve512", DType::bf16, kA64fx, kLanes);
constexpr KernelSet kF16 = fp16_12x2_set("sve512", kA64fx, kLanes);
constexpr KernelSet kF32_12x2 = fp32_set<float, 12>("sve512_12x2", DType::f32, kA64fx, kLanes);
constexpr KernelSet kBf16_12x2 = fp32_set<Bf16, 12>("sve512_12x2", DType::bf16, kA64fx, kLanes);
constexpr KernelSet kF16_12x2 = fp16_12x2_set("sve512_12x2", kA64fx, kLanes);

}  // namespace

constinit const SetsByDtype kA64fxSets{&kF32, &kF16, &kBf16};
constinit const SetsByDtype kA64fx12x2Sets{&kF32_12x2, &kF16_12x2, &kBf16_12x2};

}  // namespace attnrt::kernels::sve
