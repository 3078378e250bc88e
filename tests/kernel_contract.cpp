#include "tests/kernel_contract.hpp"

#include <stdexcept>

#include "kernels/registry.hpp"
#include "tests/backends.hpp"

#ifdef ATTNRT_AVX512_SIMDE
#include "kernels/avx512/kernel_set.hpp"
#endif

namespace attnrt::test {

std::vector<const KernelSet*> contract_sets() {
  std::vector<const KernelSet*> out;
  for (const DType t : {DType::f32, DType::f16, DType::bf16}) {
#ifdef ATTNRT_AVX512_SIMDE
    for (const KernelSet* ks : {set_for(kernels::avx512::kSets, t), set_for(kernels::avx512::kBf16Sets, t)})
      if (ks) out.push_back(ks);
#else
    for (const KernelSet* ks : sets_for(static_cast<attnrt_dtype>(t))) out.push_back(ks);
#endif
  }
  return out;
}

const KernelSet& generic_set(DType t) {
  for (const KernelSet* ks : sets_for(static_cast<attnrt_dtype>(t)))
    if (std::string(ks->name) == "generic") return *ks;
  throw std::logic_error("no generic set");
}

const KernelSet* contract_set(const std::string& name, DType t) {
  for (const KernelSet* ks : contract_sets())
    if (ks->dtype == t && name == ks->name) return ks;
  return nullptr;
}

Matrix::Matrix(int r, int c, std::int64_t ld_, DType t_, std::mt19937& rng, float lo, float hi, int shift)
    : rows(r), cols(c), ld(ld_), t(t_), value(static_cast<std::size_t>(r) * c) {
  std::uniform_real_distribution<float> u(lo, hi);
  // Room to start on a 64-byte boundary: rows ld apart are then aligned
  // exactly when ld * element size is a multiple of 64.
  const std::size_t room = 64 + shift;
  if (t == DType::f32) {
    single.assign(static_cast<std::size_t>(r) * ld + room, kNaNf);
    first = (64 - reinterpret_cast<std::uintptr_t>(single.data()) % 64) % 64 / sizeof(float) + shift;
  } else {
    half.assign(static_cast<std::size_t>(r) * ld + room, 0x7e00);  // NaN in fp16 and bf16
    first = (64 - reinterpret_cast<std::uintptr_t>(half.data()) % 64) % 64 / sizeof(std::uint16_t) + shift;
  }
  for (int i = 0; i < r; ++i)
    for (int j = 0; j < c; ++j) {
      const float x = u(rng);
      const std::size_t at = first + static_cast<std::size_t>(i) * ld + j;
      if (t == DType::f32)
        single[at] = x;
      else
        half[at] = t == DType::f16 ? kernels::float_to_fp16(x) : kernels::float_to_bf16(x);
      value[static_cast<std::size_t>(i) * c + j] = value_of(t, t == DType::f32 ? (const void*)single.data() : half.data(), at);
    }
}

Matrix bf16_valued(const Matrix& m) {
  Matrix r = m;
  for (int i = 0; i < r.rows; ++i)
    for (int j = 0; j < r.cols; ++j) {
      float& x = r.single[r.first + static_cast<std::size_t>(i) * r.ld + j];
      x = kernels::bf16_to_float(kernels::float_to_bf16(x));
      r.value[static_cast<std::size_t>(i) * r.cols + j] = x;
    }
  return r;
}

double value_of(DType t, const void* p, std::size_t i) {
  switch (t) {
    case DType::f32: return static_cast<const float*>(p)[i];
    case DType::f16: return kernels::fp16_to_float(static_cast<const std::uint16_t*>(p)[i]);
    case DType::bf16: return kernels::bf16_to_float(static_cast<const std::uint16_t*>(p)[i]);
  }
  return 0;
}

double packed_value(const KernelSet& ks, const void* base, std::size_t index) {
  return value_of(ks.packed_elem == 4 ? DType::f32 : DType::bf16, base, index);
}

double p_value(const KernelSet& ks, Exp2Precision prec, const void* base, std::size_t index) {
  const kernels::PvPath pv = kernels::pv_path(ks, prec);
  if (pv.pv_acc != ks.pv_acc && pv.elem == 2) return value_of(ks.dtype, base, index);
  return packed_value(ks, base, index);
}

void set_packed(const KernelSet& ks, void* base, std::size_t index, double v) {
  if (ks.packed_elem == 4)
    static_cast<float*>(base)[index] = static_cast<float>(v);
  else
    static_cast<std::uint16_t*>(base)[index] = kernels::float_to_bf16(static_cast<float>(v));
}

std::size_t panel_index(int w, int k_pack, int i, int p, int kp) {
  const std::size_t base = static_cast<std::size_t>(i / w) * w * kp;
  if (k_pack == 1) return base + static_cast<std::size_t>(p) * w + i % w;
  return base + (static_cast<std::size_t>(p / 2) * w + i % w) * 2 + p % 2;
}

double ulp_f32(double x) {
  const double a = std::fabs(x);
  if (a < std::ldexp(1.0, -126)) return std::ldexp(1.0, -149);
  return std::ldexp(1.0, std::ilogb(a) - 23);
}

PvWant pv_want(const HostTensor& p1, const HostTensor& v1, const HostTensor& p2, const HostTensor& v2, int keys,
               int r, int c) {
  PvWant w{0, 0, 0};
  double second = 0;
  for (int j = 0; j < keys; ++j) {
    const double x1 = p1.get(0, 0, r, j) * v1.get(0, 0, j, c), x2 = p2.get(0, 0, r, j) * v2.get(0, 0, j, c);
    w.init += x1;
    second += x2;
    w.mag += std::fabs(x1) + std::fabs(x2);
  }
  w.acc = w.init + second;
  return w;
}

void KernelSetTest::SetUp() {
  if (!kEmulatedSets && !cpu_runs(ks())) GTEST_SKIP() << ks().name << " needs CPU features this machine lacks";
  mode_.emplace(ks());
}

std::vector<float> KernelSetTest::read_a_panel(const void* a_panel, int kp, Exp2Precision prec) {
  const KernelSet& k = ks();
  const kernels::PvPath pv = kernels::pv_path(k, prec);
  HostTensor eye = matrix(dtype(), kp, kp);
  for (int i = 0; i < kp; ++i)
    for (int j = 0; j < kp; ++j) eye.set(0, 0, i, j, i == j ? 1.0 : 0.0);
  Buffer v(kernels::v_panels_bytes(k, kp, kp), 0xff);
  pv.pack_v(src(eye), ld(eye), kp, kp, v.data());
  const int ldo = round_up(kp, k.nv);
  std::vector<float> o(static_cast<std::size_t>(k.mr) * ldo, kSentinel);
  const std::size_t v_panel = static_cast<std::size_t>(round_up(kp, k.k_pack)) * k.nv * pv.elem;
  for (int c = 0; c < kp; c += k.nv) pv.pv_init(kp, a_panel, v.bytes() + (c / k.nv) * v_panel, o.data() + c, ldo);
  std::vector<float> out(static_cast<std::size_t>(k.mr) * kp);
  for (int r = 0; r < k.mr; ++r)
    for (int c = 0; c < kp; ++c) out[r * kp + c] = o[r * ldo + c];
  return out;
}

INSTANTIATE_TEST_SUITE_P(Registry, KernelSetTest, ::testing::ValuesIn(contract_sets()),
                         [](const ::testing::TestParamInfo<const KernelSet*>& info) {
                           return std::string(info.param->name) + "_" + dtype_short(info.param->dtype);
                         });

}  // namespace attnrt::test

namespace attnrt::kernels {
void PrintTo(const KernelSet* ks, std::ostream* os) { *os << ks->name << "/" << static_cast<int>(ks->dtype); }
}  // namespace attnrt::kernels
