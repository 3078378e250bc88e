// Where the x86 sets' row-walking loops prefetch (a template argument of
// their kernels, from the CPU's StreamParams; no intrinsics here, so the
// kernels' declarations can name it).
#pragma once

#include "kernels/kernel_set.hpp"

namespace attnrt::kernels::x86 {

// Where a loop's prefetches of the rows it walks go: into L1, into L2 only
// (StreamParams::into_l2), or into L2 only and, an eighth as far ahead,
// into L1 (StreamParams::l2_far; RowPrefetch). An L1 prefetch holds one of L1's few miss
// buffers until its line arrives; finding the line in L2 it holds one a
// short while, not a DRAM latency, and the L2 prefetches wait in L2's
// longer queue. A plain read of DRAM by one Sapphire Rapids-class core
// (two streams of 64-byte loads, medians of 9 samples of 256 MiB, three
// rounds): 11.3-11.5 GB/s with prefetcht0 2 KiB ahead, 13.1-13.5 with
// prefetcht0 1 KiB and prefetcht2 8 KiB ahead, 12.0-12.3 with the
// prefetcht2 alone. (The kernels' L2 prefetch is prefetcht1: on these
// cores it fills L2, as prefetcht2 does.)
enum class Prefetch { l1, l2, l1_and_l2 };
template <StreamParams S>
inline constexpr Prefetch kPrefetch = S.into_l2 ? Prefetch::l2 : S.l2_far ? Prefetch::l1_and_l2 : Prefetch::l1;

}  // namespace attnrt::kernels::x86
