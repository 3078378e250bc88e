// What `attnrt-bench --tune` prints: per shape, every candidate plan with
// its speed, sorted fastest first. Every line starts with '#', so the output
// with the rule lines after it is a valid tuning file as it stands.
#pragma once

#include <cstdio>

#include "bench/options.hpp"
#include "bench/peak.hpp"
#include "bench/tune.hpp"

namespace attnrt::bench {

void print_tune_header(std::FILE* out, int threads, const Options& opt, const Peaks& peaks);
void print_tune_table(std::FILE* out, const TunedShape& t, const Peaks& peaks);

}  // namespace attnrt::bench
