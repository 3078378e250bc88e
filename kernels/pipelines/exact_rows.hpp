// Rows whose output came out non-finite, computed again exactly. A key a
// row cannot see (outside its band or the tile's keys, or under a -inf
// bias) is never read and a key of weight 0 adds nothing, so a NaN or inf
// in K, V or bias where a row cannot see it leaves the row as if the key
// were not there; a non-finite value the row does see still makes it
// non-finite. The pipelines multiply such values by a weight of 0 (NaN)
// instead: finite inputs never take this path, and pay one scan of the
// tile's output rows for it.
#pragma once

#include "kernels/problem.hpp"

namespace attnrt::kernels {

// Recomputes every row of tile t of p whose O (or LSE) holds a NaN or inf,
// in double, and stores it over the pipeline's.
void repair_nonfinite_rows(const HeadProblem& p, const Tile& t);

}  // namespace attnrt::kernels
