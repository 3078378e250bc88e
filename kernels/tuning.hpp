// Settings that differ per microarchitecture, in one table (as BLIS's
// config/ does): the runtime detects the CPU once (runtime/src/
// cpu_features.cpp), looks its row up here, and the plan hands the kernels
// built for that row's settings to the pipelines (Blocking::few_rows).
// ATTNRT_VERBOSE prints the row and its settings. Kernels never look at the
// CPU, and no kernel header fixes these.
//
// Today the table holds how the few-row loops stream K and V
// (StreamParams, kernels/x86/few_rows.hpp): each set keeps on every CPU what
// it was measured best with so far (few_rows.hpp says where and how), until
// a row is measured otherwise on its own core. Zen 4's avx512 row
// prefetches into L2 only (kStreamZen4); its avx2 row, not yet run through
// attnrt-ab, keeps Zen 3's.
#pragma once

#include <array>
#include <cstddef>
#include <string>

#include "kernels/kernel_set.hpp"

namespace attnrt::kernels {

enum class Uarch : int { other = 0, zen3, zen4, zen5, ice_lake_sp, sapphire_rapids, a64fx };

// Stream settings the table uses, by where they were measured.
inline constexpr StreamParams kStreamZen3{8, 4};   // the avx2 set on Zen 3
// The avx512 set's one-row Q·Kᵀ on Zen 5, its P·V and pair tiles reading
// paged caches with their prefetches running on into the next pages: on
// Zen 5 a shuffled page's rows stream at ~1/3 of a contiguous read with no
// prefetch (the hardware prefetchers restart at each page), 0.83-0.91 with one
// 8 KiB ahead through the page list (probe: 8 KiB pieces of a 512 MiB
// buffer, 256-bit loads). attnrt-bench S5 --page-size 16, paged over
// contiguous, medians of 5 runs against the in-page prefetches: fp32 0.52
// -> 0.75, bf16 0.33 -> 0.71 (1 thread); 0.53 -> 0.72, 0.34 -> 0.76 (2).
inline constexpr StreamParams kStreamZen5{16, 1, true};
// Sapphire Rapids-class x86 took the same (now with l2_far, below) since decode calls span page
// pieces (FewRowKernels::span_rows): shuffled pages of 16 keys, attnrt-bench
// B4 H32 M1 N4096 D128, paged ms against the in-page setting (two runs
// each, one thread): bf16 22.3-28.9 vs 32.2-32.9, fp32 46.6-52.9 vs
// 51.5-54.8; with 8 KV heads bf16 6.9-8.0 vs 10.1-10.4, fp32 12.4-14.0 vs
// 12.9-15.9; two threads and pages of 1, 4, 256 keys ahead too.
// The same distances, prefetches stopping at a page's end: what Sapphire
// Rapids-class x86 ran faster with while paged decode made a call per page
// (rows_ahead.hpp); the CPUs not measured since keep it. (The avx2 set's
// P·V tiles stop there on every CPU: gemm_fp32.hpp.)
inline constexpr StreamParams kStreamAvx512InPage{16, 1, false};
// Sapphire Rapids-class x86: Zen 5's setting, but each row prefetched
// rows_ahead on into L2 only and an eighth as far into L1 (the read
// probe's 8 KiB and 1 KiB; x86/prefetch_to.hpp says why). (The figures
// below are of the first form, L1 rows_ahead on and L2 twice as far.)
// attnrt-bench S5, alternating with Zen 5's setting, medians of 21 reps,
// 3-4 runs: one thread, contiguous, int8 K/V 11.3-11.9 ms against
// 12.4-13.5 in three runs of four, bf16 20.1-22.4 against 22.1-25.3, fp32
// 44.4-45.9 against 44.9-52.9; two threads bf16 11.2-12.7 against
// 12.5-13.8, fp32 21.5-23.4 against 23.6-26.0, int8 7.1 against 6.8-7.9;
// shuffled pages of 16 keys, bf16 21.4-24.8 against 23.1-33.3, fp32 the
// same (44-47): paged fp32 over contiguous fell from 0.95-1.03 to 0.90-0.92.
inline constexpr StreamParams kStreamSapphireRapids{
    .rows_ahead = 16, .keys_per_pass = 1, .across_pages = true, .l2_far = true};
// Zen 4's avx512 set: Zen 5's distances, but prefetching into L2 only
// (prefetcht1). With prefetcht0 the L1's miss buffers cap how many lines
// a software prefetch keeps in flight: on a Zen 4 VM, shuffled 8 KiB pieces
// of a 512 MiB buffer streamed at 7.4 GB/s with no prefetch, 9.0 with
// prefetcht0 and 15.6 with prefetcht1 8 KiB ahead (contiguous: 19.7 both
// ways; probe). attnrt-bench S5, 1 thread, against the earlier setting (no
// prefetch in the one-row Q·Kᵀ, prefetcht0 in the P·V tiles): contiguous
// fp32 41-44 -> 32-35 ms, bf16 21-28 -> 14-17 ms; shuffled pages of 16
// fp32 62-79 -> 47-53 ms, bf16 36-52 -> 18-22 ms. attnrt-ab, 20 pairs,
// median: S5 1.22x, GQA decode (H32/8, fp16) 1.20x.
// Dense K/V are left to the hardware prefetchers (dense_by_hardware) where
// their rows are less than a memory page apart (kv_runs.hpp): the one-row
// loops' prefetches only slowed a contiguous stream. Zen 4 VM
// (EPYC family 25 model 17), attnrt-ab S5 (B4 H32 M1 N4096 D128), 12
// pairs, against prefetching dense rows too: one thread bf16 1.239, fp32
// 1.195, int8 K/V 1.018, 8 KV heads (tiles, not these loops) 0.995; two
// threads bf16 1.089, fp16 1.048, fp32 1.044, int8 1.045. (A plain read
// there: 16-byte loads, no prefetch, 26-29 GB/s; with prefetcht1 8 KiB
// ahead, 23-25.)
// fp32 rows a memory page apart or more (K/V [B, N, H, D], pools [pages,
// P, Hkv, D]) are read from their last line down (apart_rows_down): read
// upwards, a row's 8 lines draw the hardware's stream on into the next
// head's row, which nothing reads. Read probe of such a pool (fp32 rows
// 16 KiB apart, 32 rows prefetched ahead): 7.8 GB/s read upwards, 14.8
// down (the order of the loads decides, not that of the prefetches),
// contiguous 27. attnrt-ab S5, every row read down against up, one
// thread: pools [pages, 16, H, D] 1.28x, dense BSHD 1.34x, but contiguous
// rows 0.48, head-major pools 0.78 and 256-byte rows (fp16) 0.94: hence
// rows apart and fp32 only. So taken, against not (10-14 pairs): pools by
// token 1.20-1.29x, dense BSHD 1.25x (two threads 1.21x, 1.19x); head-major
// pools and contiguous rows 0.99, 1.01. The Q·Kᵀ tiles of a GQA group
// (qk_direct.cpp) read them so too: 8 KV heads by token 1.26-1.38x.
inline constexpr StreamParams kStreamZen4{.rows_ahead = 16,
                                          .keys_per_pass = 1,
                                          .across_pages = true,
                                          .into_l2 = true,
                                          .dense_by_hardware = true,
                                          .apart_rows_down = true};
// The SVE sets' direct kernels (qk_direct.hpp, pv_direct.hpp) prefetch K
// and V rows this many bytes ahead (PRFM PLDL1KEEP, a 256-byte line at a
// time): about what one A64FX core's share of HBM bandwidth (~40 GB/s)
// brings in over a memory latency of a few hundred ns. Chosen by that
// estimate, not measured (no A64FX here); other SVE cores keep it until
// measured on their own.
// Their prefetches run on into a paged cache's next pages (as they did
// before the pipelines asked the table whether to list them).
inline constexpr StreamParams kStreamSveA64fx{.across_pages = true, .bytes_ahead = 16 * 1024};

// One row: a microarchitecture and the settings each set's kernels take there.
struct UarchTuning {
  Uarch uarch;
  const char* name;
  StreamParams avx2;    // the avx2 set's few-row loops (Q·Kᵀ and P·V, up to 4 rows)
  StreamParams avx512;  // the avx512 set's one-row Q·Kᵀ (its P·V has its own tiles)
  StreamParams sve;     // the SVE sets' direct Q·Kᵀ and few-row P·V
};

// The table; the first row is the default (any CPU not named below).
inline constexpr std::array<UarchTuning, 7> kUarchTable{{
    {Uarch::other, "other", kStreamZen3, kStreamAvx512InPage, kStreamSveA64fx},
    {Uarch::zen3, "zen3", kStreamZen3, kStreamAvx512InPage, kStreamSveA64fx},
    {Uarch::zen4, "zen4", kStreamZen3, kStreamZen4, kStreamSveA64fx},
    {Uarch::zen5, "zen5", kStreamZen3, kStreamZen5, kStreamSveA64fx},
    {Uarch::ice_lake_sp, "ice_lake_sp", kStreamZen3, kStreamAvx512InPage, kStreamSveA64fx},
    {Uarch::sapphire_rapids, "sapphire_rapids", kStreamZen3, kStreamSapphireRapids, kStreamSveA64fx},
    {Uarch::a64fx, "a64fx", kStreamZen3, kStreamAvx512InPage, kStreamSveA64fx},
}};

// The row of `u` (the default row when the table has none).
const UarchTuning& uarch_tuning(Uarch u);
// The row named `name` ("zen4", ...), or null if the table has none.
const UarchTuning* uarch_tuning_named(const char* name);
// The rows' names, comma separated, for messages.
std::string uarch_tuning_names();

// An x86 CPU's microarchitecture from its cpuid vendor, (display) family
// and model, and whether it has AMX tiles; Uarch::other for any it does not
// know. Hypervisors may show a model that is not the host's (a Rocket Lake
// 0xa7 with AMX, seen on a cloud VM): an Intel model the table does not know
// that has AMX is a Sapphire Rapids-class Xeon, the only cores with it.
enum class CpuVendor : int { other = 0, amd, intel };
Uarch x86_uarch(CpuVendor vendor, int family, int model, bool amx = false);
// An AArch64 CPU's from its MIDR_EL1 implementer and part number.
Uarch arm_uarch(int implementer, int part);

// The stream settings set `ks` takes on row t ({} for a set the table does
// not tune), and its few-row entry built for them on a CPU with features
// `cpu` (CpuFeature bits): the first entry of that stream whose features the
// CPU has, else the first it has; null when the set has no few-row path.
StreamParams stream_for(const UarchTuning& t, const KernelSet& ks);
const FewRowKernels* few_rows_for(const UarchTuning& t, const KernelSet& ks, std::uint32_t cpu);

// The distinct values of one column of the table, in order of first
// appearance: the stream settings a set builds its few-row kernels for.
template <StreamParams UarchTuning::*Column>
constexpr std::size_t distinct_streams_count() {
  std::size_t n = 0;
  for (std::size_t i = 0; i < kUarchTable.size(); ++i) {
    bool seen = false;
    for (std::size_t j = 0; j < i; ++j) seen |= kUarchTable[j].*Column == kUarchTable[i].*Column;
    n += !seen;
  }
  return n;
}
template <StreamParams UarchTuning::*Column>
constexpr std::array<StreamParams, distinct_streams_count<Column>()> distinct_streams() {
  std::array<StreamParams, distinct_streams_count<Column>()> out{};
  std::size_t n = 0;
  for (std::size_t i = 0; i < kUarchTable.size(); ++i) {
    bool seen = false;
    for (std::size_t j = 0; j < n; ++j) seen |= out[j] == kUarchTable[i].*Column;
    if (!seen) out[n++] = kUarchTable[i].*Column;
  }
  return out;
}

}  // namespace attnrt::kernels
