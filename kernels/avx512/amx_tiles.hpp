// AMX tile configuration (palette 1) as ldtilecfg reads it, shared by the
// avx512 folder's AMX kernels. Loading one costs ~85 ns on a Sapphire
// Rapids-class core (a 32x32x128 bf16 tile product takes ~125 ns), so the
// amx_bf16 set loads its own once per pipeline (KernelSet::fp_mode_enter),
// while the one-row int8 Q·Kᵀ, whose calls are long, loads its per call.
#pragma once

#include <cstdint>

namespace attnrt::kernels::avx512 {

struct alignas(64) TileConfig {
  std::uint8_t palette = 1;
  std::uint8_t start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t colsb[16] = {};  // bytes a row, per tile
  std::uint8_t rows[16] = {};
};

}  // namespace attnrt::kernels::avx512
