// Rows whose output came out non-finite, computed again exactly. A key a
// row cannot see (outside its band or the tile's keys, or under a -inf
// bias) is never read and a key of weight 0 adds nothing, so a NaN or inf
// in K, V or bias where a row cannot see it leaves the row as if the key
// were not there; a non-finite value the row does see still makes it
// non-finite. The pipelines multiply such values by a weight of 0 (NaN)
// instead: finite inputs never take this path, and pay one scan of each
// row's fp32 accumulator, still in cache, for it (end_row_block).
#pragma once

#include "kernels/problem.hpp"

namespace attnrt::kernels {

// Whether any of the n fp32 values is NaN or inf.
bool any_nonfinite(const float* row, int n);

// Packed row r of tile t of p computed in double, stored over the
// pipeline's O (and LSE) row.
void exact_row(const HeadProblem& p, const Tile& t, int r);

}  // namespace attnrt::kernels
