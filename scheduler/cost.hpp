// The cost model the partition balances: score entries, i.e. (query row,
// key) pairs a row can see. Causal and windowed rows see fewer keys, so
// they cost less; a key range outside a row's band costs nothing.
#pragma once

#include <cstdint>

#include "scheduler/work.hpp"

namespace attnrt::scheduler {

// Entries that query rows [i0, i1) of batch b see among keys [k0, k1), in
// closed form (O(1), any size). A double: exact below 2^53 entries.
double visible_entries(const ProblemShape& s, std::int64_t b, std::int64_t i0, std::int64_t i1,
                       std::int64_t k0, std::int64_t k1);

}  // namespace attnrt::scheduler
