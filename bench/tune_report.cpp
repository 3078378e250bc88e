#include "bench/tune_report.hpp"

#include <attnrt/attnrt.h>

#include <cmath>
#include <limits>

#include "bench/plan_text.hpp"
#include "bench/tune_candidates.hpp"

namespace attnrt::bench {

void print_tune_header(std::FILE* out, int threads, const Options& opt, const Peaks& peaks) {
  std::fprintf(out, "# attnrt %s --tune: %d threads, exp2 %s; per plan a checked warm-up, then the median of %d reps, "
               "plans interleaved rep by rep\n",
               attnrt_version(), threads, precision_name(opt.precision), opt.reps);
  std::fprintf(out, "# peak (per thread CPU second, best of start and end of this run): %.1f GFLOP/s (%s, %s)",
               peaks.fp32.gflops, peaks.fp32.kind.c_str(), peaks.fp32.isa.c_str());
  if (peaks.bf16)
    std::fprintf(out, ", %.1f GFLOP/s (%s, %s)", peaks.bf16->gflops, peaks.bf16->kind.c_str(), peaks.bf16->isa.c_str());
  std::fprintf(out, "\n");
}

void print_tune_table(std::FILE* out, const TunedShape& t, const Peaks& peaks) {
  const double f = flops(t.shape);
  const PeakUsed pk = peak_for(peaks, arithmetic_of(t.shape.dtype, t.isa));
  std::fprintf(out, "#\n# %s: isa %s, %zu plans\n", t.shape.label().c_str(), t.isa.c_str(), t.candidates.size());
  std::fprintf(out, "# %5s  %-50s %10s %8s %6s %11s  %s\n", "rank", "plan", "ms", "GFLOP/s", "%peak", "max_abs_err",
               "check");
  for (std::size_t i = 0; i < t.candidates.size(); ++i) {
    const Candidate& c = t.candidates[i];
    const std::string plan = plan_text(c.plan);
    if (!c.error.empty()) {
      std::fprintf(out, "# %5s  %-50s rejected: %s\n", "-", plan.c_str(), c.error.c_str());
      continue;
    }
    if (!c.pass()) {
      std::fprintf(out, "# %5s  %-50s %10s %8s %6s %11.3g  FAIL (tolerance %.3g)\n", "-", plan.c_str(), "-", "-",
                   "-", c.check.max_abs_err, c.check.tolerance);
      continue;
    }
    const double secs = c.time->median, gflops = f / secs * 1e-9;
    std::fprintf(out, "# %5zu  %-50s %10.2f %8.2f %6.1f %11.3g  ok%s%s\n", i + 1, plan.c_str(), secs * 1e3, gflops,
                 100.0 * gflops / pk.peak.gflops, c.check.max_abs_err, same_plan(c.plan, t.current) ? "  current" : "",
                 t.best == i ? "  <- best" : "");
  }
  if (*pk.note) std::fprintf(out, "# [%s]\n", pk.note);

  const auto seconds_of_plan = [&](const rt::Plan& p) {
    for (const Candidate& c : t.candidates)
      if (c.pass() && same_plan(c.plan, p)) return c.time->median;
    return std::numeric_limits<double>::quiet_NaN();
  };
  if (!t.best) {
    std::fprintf(out, "# no plan passed the check: no rule for this shape\n");
    return;
  }
  const Candidate& best = t.candidates[*t.best];
  const double now = seconds_of_plan(t.current);
  if (std::isnan(now))
    std::fprintf(out, "# best: %s; the current plan (%s) failed its check\n", plan_text(best.plan).c_str(),
                 plan_text(t.current).c_str());
  else
    std::fprintf(out, "# best: %s, %.2fx the current plan (%s)\n", plan_text(best.plan).c_str(),
                 now / best.time->median, plan_text(t.current).c_str());
  if (t.best_unwritable) {
    const Candidate& u = t.candidates[*t.best_unwritable];
    std::fprintf(out, "# faster but not expressible as a rule (the tuning file has no head-grouping field): %s, %.2fx the best\n",
                 plan_text(u.plan).c_str(), best.time->median / u.time->median);
  }
}

}  // namespace attnrt::bench
