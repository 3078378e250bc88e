// How attnrt-bench shows a plan ("two_pass mb=96 nb=128 stage=512K ahead=2
// grouped"), and which of its fields the plan's strategy reads: the others
// are shown as absent and written as 0 (the planner's default) in a rule.
#pragma once

#include <cstddef>
#include <string>

#include "runtime/internal/attnrt_internal.hpp"

namespace attnrt::bench {

bool uses_stage_bytes(kernels::Strategy s);  // two_pass and three_pass stage chunks of keys
bool uses_pipe_ahead(kernels::Strategy s);   // two_pass's ring of P panels

std::string plan_text(const rt::Plan& p);
std::string bytes_text(std::size_t bytes);  // 524288 -> "512K", 1536 -> "1536"

}  // namespace attnrt::bench
