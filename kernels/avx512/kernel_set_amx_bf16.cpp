// The amx_bf16 set: bf16 Q, K, V; Q·Kᵀ and P·V on AMX tiles (tdpbf16ps,
// fp32 accumulators), P rounded to bf16 as in avx512_bf16. Row max, rescale
// (for its 32 rows) and normalize are the fp32 sets'. Decode and other
// blocks of up to 14 rows go to the avx512 set, which reads bf16 rows in place.
#include <cstdint>

#include "kernels/avx512/amx_bf16.hpp"
#include "kernels/avx512/kernel_set.hpp"
#include "kernels/avx512/ops.hpp"

namespace attnrt::kernels::avx512 {
namespace {

void pack_k_tiles(const void* src, std::int64_t ld, int keys, int d, void* dst) {
  pack_k_pairs_to(src, ld, keys, d, round_up(d, kAmxTile), dst);
}
void pack_v_tiles(const void* src, std::int64_t ld, int keys, int dv, void* dst) {
  pack_v_pairs_to(src, ld, keys, dv, round_up(keys, kAmxTile), dst);
}

static_assert(kNr == kAmxTile && kNv == kAmxTile, "the pair panels' widths are the tiles'");

constexpr KernelSet kAmxBf16{
    .name = "amx_bf16",
    .dtype = DType::bf16,
    .requires_cpu = kFeatureAvx512 | kFeatureAvx512Bf16 | kFeatureAmxBf16,
    .mr = kAmxTile,
    .nr = kAmxTile,
    .nv = kAmxTile,
    .k_pack = kAmxTile,
    .packed_elem = 2,
    .pack_q = pack_q_row_blocks,
    .pack_k = pack_k_tiles,
    .pack_v = pack_v_tiles,
    .qk = qk_amx_bf16,
    .pv_init = pv_amx_bf16_init,
    .pv_acc = pv_amx_bf16_acc,
    .row_max = row_max,
    .exp2_rows = exp2_rows_row_blocks,
    .rescale = rescale_32,
    .normalize = normalize,
    .fp_mode_enter = amx_bf16_tiles_enter,
    .fp_mode_leave = amx_bf16_tiles_leave,
    .few_rows_from = [] { return set_for(kSets, DType::bf16); },
    // Past one avx512 strip (14 rows) the tiles, packing K and V, beat the
    // reads in place, which then take two strips (attnrt-ab, one thread:
    // 16 rows 1.15-1.45x, GQA groups of 16 in decode 1.35-1.57x; 10-12 rows
    // 0.65-0.93, 14 rows the same plan).
    .few_rows_from_max_rows = 14,
    .a_block = kAmxTile,
};

}  // namespace

constinit const SetsByDtype kAmxBf16Sets{nullptr, nullptr, &kAmxBf16};

}  // namespace attnrt::kernels::avx512
