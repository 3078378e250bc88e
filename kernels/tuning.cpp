#include "kernels/tuning.hpp"

#include <cstring>
#include <string>

namespace attnrt::kernels {

const UarchTuning& uarch_tuning(Uarch u) {
  for (const UarchTuning& t : kUarchTable)
    if (t.uarch == u) return t;
  return kUarchTable.front();
}

const UarchTuning* uarch_tuning_named(const char* name) {
  for (const UarchTuning& t : kUarchTable)
    if (!std::strcmp(t.name, name)) return &t;
  return nullptr;
}

std::string uarch_tuning_names() {
  std::string names;
  for (const UarchTuning& t : kUarchTable) names += (names.empty() ? "" : ", ") + std::string(t.name);
  return names;
}

Uarch x86_uarch(CpuVendor vendor, int family, int model, bool amx) {
  if (vendor == CpuVendor::amd) {
    if (family == 0x1a) return Uarch::zen5;
    if (family == 0x19) {
      // Zen 3: Milan, Vermeer, Rembrandt, Cezanne (0x00-0x0f, 0x20-0x5f);
      // Zen 4: Genoa, Raphael, Phoenix, Bergamo (0x10-0x1f, 0x60-0xaf).
      if (model < 0x10 || (model >= 0x20 && model < 0x60)) return Uarch::zen3;
      return Uarch::zen4;
    }
    return Uarch::other;
  }
  if (vendor == CpuVendor::intel && family == 6) {
    switch (model) {
      case 0x6a: case 0x6c: return Uarch::ice_lake_sp;
      case 0x8f: case 0xcf: case 0xad: case 0xae: return Uarch::sapphire_rapids;  // and Emerald, Granite Rapids
      default: return amx ? Uarch::sapphire_rapids : Uarch::other;
    }
  }
  return Uarch::other;
}

Uarch arm_uarch(int implementer, int part) {
  return implementer == 0x46 && part == 0x001 ? Uarch::a64fx : Uarch::other;  // Fujitsu A64FX
}

StreamParams stream_for(const UarchTuning& t, const KernelSet& ks) {
  if (std::strcmp(ks.name, "avx2") == 0) return t.avx2;
  if (std::strcmp(ks.name, "avx512") == 0) return t.avx512;
  if (std::strncmp(ks.name, "sve", 3) == 0) return t.sve;
  return {};
}

const FewRowKernels* few_rows_for(const UarchTuning& t, const KernelSet& ks, std::uint32_t cpu) {
  const StreamParams want = stream_for(t, ks);
  const FewRowKernels* runs = nullptr;  // the first entry this CPU runs
  for (const FewRowKernels* f : ks.few_rows) {
    if (!has_features(cpu, f->requires_cpu)) continue;
    if (f->stream == want) return f;
    if (!runs) runs = f;
  }
  return runs;
}

}  // namespace attnrt::kernels
