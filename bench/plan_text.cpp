#include "bench/plan_text.hpp"

namespace attnrt::bench {

bool uses_stage_bytes(kernels::Strategy s) { return s != kernels::Strategy::online; }
bool uses_pipe_ahead(kernels::Strategy s) { return s == kernels::Strategy::two_pass; }

std::string bytes_text(std::size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + "M";
  if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) return std::to_string(bytes >> 10) + "K";
  return std::to_string(bytes);
}

std::string plan_text(const rt::Plan& p) {
  // Appends only: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string.
  std::string s = kernels::strategy_name(p.strategy);
  s += " mb=";
  s += std::to_string(p.blocking.mb);
  s += " nb=";
  s += std::to_string(p.blocking.nb);
  if (uses_stage_bytes(p.strategy)) {
    s += " stage=";
    s += bytes_text(p.blocking.stage_bytes);
  }
  if (uses_pipe_ahead(p.strategy)) {
    s += " ahead=";
    s += std::to_string(p.blocking.pipe_ahead);
  }
  if (p.blocking.direct_kv) s += " direct";
  if (p.group_heads) s += " grouped";
  return s;
}

}  // namespace attnrt::bench
