// Where a direct kernel's prefetches of rows past its call go
// (FewRowKernels::qk's `next`): row i of rows [0, n) is at rows + i·ld;
// the rows after them are at next + (i - n)·ld, or in memory after row
// n - 1 when next is null (dense K and V).
#pragma once

#include <cstdint>

namespace attnrt::kernels {

// Row i, past the call's rows onto the next page.
template <class T>
inline const T* row_ahead(const T* rows, std::int64_t ld, int n, const void* next, int i) {
  return i < n || !next ? rows + i * ld : static_cast<const T*>(next) + (i - n) * ld;
}

// Row i, but past a page's end the call's first row again (in L1 by then:
// a prefetch of it costs no traffic, and the loop stays branch-free). On
// x86, prefetching the next page's rows ran slower than not: shuffled pages
// of 16 keys at 0.79 of contiguous K/V against 0.90 (B4 H32 M1 N4096 D128
// fp32, one thread, Sapphire Rapids-class VM, three runs each).
template <class T>
inline const T* row_ahead_in_page(const T* rows, std::int64_t ld, int n, const void* next, int i) {
  return i < n || !next ? rows + i * ld : rows;
}

}  // namespace attnrt::kernels
