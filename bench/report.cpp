#include "bench/report.hpp"

#include <attnrt/attnrt.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/plan_text.hpp"
#include "bench/workload.hpp"

namespace attnrt::bench {
namespace {

class Json {
 public:
  Json& num(const char* key, double v) {
    char buf[32] = "null";
    if (std::isfinite(v)) std::snprintf(buf, sizeof buf, "%.6g", v);
    return raw(key, buf);
  }
  Json& integer(const char* key, long long v) { return raw(key, std::to_string(v)); }
  Json& boolean(const char* key, bool v) { return raw(key, v ? "true" : "false"); }
  Json& null(const char* key) { return raw(key, "null"); }
  Json& object(const char* key, const Json& inner) { return raw(key, inner.done()); }
  Json& str(const char* key, const std::string& v) {
    std::string q = "\"";
    for (char c : v) {
      if (c == '"' || c == '\\') q += '\\';
      if (static_cast<unsigned char>(c) >= 0x20) q += c;
    }
    return raw(key, q + '"');
  }
  std::string done() const { return s_ + "}"; }

 private:
  Json& raw(const char* key, const std::string& v) {
    s_ += s_.size() > 1 ? ", \"" : "\"";
    s_ += key;
    s_ += "\": ";
    s_ += v;
    return *this;
  }
  std::string s_ = "{";
};

std::string describe(const ComputePeak& p) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.1f GFLOP/s (%s, %s)", p.gflops, p.kind.c_str(), p.isa.c_str());
  return buf;
}

// The plan's fields; those its strategy does not read are null.
Json plan_json(const rt::Plan& p) {
  Json j;
  j.str("strategy", kernels::strategy_name(p.strategy)).integer("mb", p.blocking.mb).integer("nb", p.blocking.nb);
  if (uses_stage_bytes(p.strategy))
    j.integer("stage_bytes", static_cast<long long>(p.blocking.stage_bytes));
  else
    j.null("stage_bytes");
  if (uses_pipe_ahead(p.strategy))
    j.integer("pipe_ahead", p.blocking.pipe_ahead);
  else
    j.null("pipe_ahead");
  j.boolean("group_heads", p.group_heads);
  j.boolean("direct_kv", p.blocking.direct_kv);
  return j;
}

// Median over reps of (work / seconds of rep r) / (peak sampled right after
// rep r), in %: work in GFLOP or GB, peaks in GFLOP/s or GB/s.
double pct_of_samples(double work, const std::vector<double>& seconds, const std::vector<double>& peaks) {
  std::vector<double> pct;
  for (std::size_t r = 0; r < seconds.size() && r < peaks.size(); ++r)
    pct.push_back(100.0 * work / seconds[r] / peaks[r]);
  return pct.empty() ? NAN : summarize(pct).median;
}

// The shape's figures against the peaks sampled after its reps.
struct Sampled {
  double peak_gflops, peak_gbps;  // medians of the samples
  double pct_peak, pct_bw;        // medians of the per-rep ratios
  double pct_peak_cycles;         // the same by cycles; NaN without perf events
};

Sampled sampled(const ShapeResult& r) {
  const double gflop = flops(r.shape) * 1e-9, gb = bytes_moved(r.shape) * 1e-9;
  return {summarize(r.peak_gflops_reps).median, summarize(r.read_gbps_reps).median,
          pct_of_samples(gflop, r.attnrt_reps, r.peak_gflops_reps),
          pct_of_samples(gb, r.attnrt_reps, r.read_gbps_reps),
          r.pct_peak_cycles_reps.empty() ? NAN : summarize(r.pct_peak_cycles_reps).median};
}

// A figure, or "–" where there is none (no perf events, no baseline).
std::string figure(double v, int width, int precision) {
  char buf[32];
  if (std::isfinite(v))
    std::snprintf(buf, sizeof buf, "%*.*f", width, precision, v);
  else
    std::snprintf(buf, sizeof buf, "%*s\u2013", width - 1, "");  // "–" is one column, three bytes
  return buf;
}

// The figure a target is about: % of peak or of read bandwidth.
double target_figure(const ShapeResult& r, const Sampled& at) {
  return r.target.kind == Target::Kind::bw ? at.pct_bw : at.pct_peak;
}

// The most of the peak a call can reach that reads its Q, K, V and O once
// at the read bandwidth sampled beside it (the roofline): below a peak
// target, the target is out of this machine's reach, whatever the kernels.
double roofline_pct_peak(const ShapeResult& r, const Sampled& at) {
  return std::min(100.0, 100.0 * flops(r.shape) / bytes_moved(r.shape) * at.peak_gbps / at.peak_gflops);
}

}  // namespace

void print_header(const RunInfo& run) {
  std::printf("attnrt %s: kernel sets %s (tuning row %s); %d threads, strategy %s (requested), exp2 %s; "
              "median of %d reps, each right after an untimed call\n",
              attnrt_version(), run.kernel_sets.c_str(), run.uarch.c_str(), run.threads, run.strategy.c_str(),
              run.precision.c_str(), run.reps);
  std::printf("%%peak, %%bw: peak sampled after every rep, median of per-rep ratios (peak: GFLOP/s of the "
              "dtype's arithmetic on %d threads, and read GB/s of as many cores reading at once, per thread CPU "
              "second; the shape's median sample); %%cyc: the same by user-mode cycles of the call and of the "
              "loop (perf events)\n",
              run.threads);
  std::printf("run-level peak (best of start and end of this run): %s", describe(run.peaks.fp32).c_str());
  if (run.peaks.bf16) std::printf(", %s", describe(*run.peaks.bf16).c_str());
  std::printf("; read bandwidth %.1f GB/s (%d %s at once); buffers on %s\n", run.peaks.read_gbps, run.threads,
              run.threads == 1 ? "core" : "cores", page_backing().c_str());
  std::printf("ceiling: the same plan with P zeroed instead of the softmax (GEMMs only); "
              "softmax = 1 - attnrt/ceiling GFLOP/s\n");
  std::printf("baseline: %s\n", run.baseline.c_str());
  std::printf("%-40s %10s %8s %6s %6s %5s %7s %5s | %8s %7s | %10s %8s | %8s %11s  %-5s %s\n", "shape",
              "attnrt ms", "GFLOP/s", "%peak", "peak", "%cyc", "GB/s", "%bw", "ceiling", "softmax", "base ms",
              "GFLOP/s", "speedup", "max_abs_err", "check", "isa plan");
}

void print_row(const RunInfo& run, const ShapeResult& r) {
  const double f = flops(r.shape), secs = r.attnrt.median;
  const PeakUsed pk = peak_for(run.peaks, arithmetic_of(r.shape.dtype, r.isa));
  const Sampled at = sampled(r);
  std::printf("%-40s %10.2f %8.2f %6.1f %6.1f %s %7.2f %5.1f | ", r.shape.label().c_str(), secs * 1e3,
              f / secs * 1e-9, at.pct_peak, at.peak_gflops, figure(at.pct_peak_cycles, 5, 1).c_str(),
              bytes_moved(r.shape) / secs * 1e-9, at.pct_bw);
  std::printf("%8.2f %6.1f%% | ", f / r.ceiling.median * 1e-9, 100.0 * (1.0 - r.ceiling.median / secs));
  if (r.baseline)
    std::printf("%10.2f %8.2f | %7.2fx ", r.baseline->median * 1e3, f / r.baseline->median * 1e-9,
                r.baseline->median / secs);
  else
    std::printf("%s %s | %s ", figure(NAN, 10, 2).c_str(), figure(NAN, 8, 2).c_str(), figure(NAN, 8, 2).c_str());
  std::printf("%11.3g  %-5s %s %s", r.check.max_abs_err, r.pass() ? "ok" : "FAIL", r.isa.c_str(),
              plan_text(r.plan).c_str());
  if (!r.check.pass()) std::printf("  [attnrt over tolerance %.3g]", r.check.tolerance);
  if (!r.ceiling_ran) std::printf("  [ceiling output not finite]");
  if (r.baseline_check && !r.baseline_check->pass())
    std::printf("  [baseline FAIL: max_abs_err %.3g]", r.baseline_check->max_abs_err);
  if (*pk.note) std::printf("  [%s]", pk.note);
  std::printf("\n");
}

void print_json(const RunInfo& run, const ShapeResult& r) {
  const Shape& s = r.shape;
  const double f = flops(s), bytes = bytes_moved(s), secs = r.attnrt.median;
  const PeakUsed pk = peak_for(run.peaks, arithmetic_of(s.dtype, r.isa));
  const Sampled at = sampled(r);
  Json j;
  j.integer("batch", s.batch).integer("heads", s.heads).integer("kv_heads", s.kv_heads);
  j.integer("q_len", s.q_len).integer("kv_len", s.kv_len);
  j.integer("head_dim", s.head_dim).integer("head_dim_v", s.head_dim_v);
  j.str("dtype", dtype_name(s.dtype)).boolean("causal", s.causal);
  // isa and strategy: what ran (the dtype's kernel set, the resolved strategy).
  j.str("isa", r.isa).str("uarch", run.uarch).integer("threads", run.threads);
  j.str("strategy", kernels::strategy_name(r.plan.strategy));
  j.str("requested_strategy", run.strategy).object("plan", plan_json(r.plan));
  j.str("precision", run.precision).integer("reps", run.reps);
  j.num("seconds", secs).num("seconds_min", r.attnrt.min).num("flops", f);
  j.num("gflops", f / secs * 1e-9);
  j.num("peak_gflops", at.peak_gflops).str("peak_kind", pk.peak.kind).str("peak_isa", pk.peak.isa);
  if (*pk.note) j.str("peak_note", pk.note);
  j.num("pct_peak", at.pct_peak).num("pct_peak_cycles", at.pct_peak_cycles);
  j.num("run_peak_gflops", pk.peak.gflops).num("run_pct_peak", 100.0 * f / secs * 1e-9 / pk.peak.gflops);
  j.num("bytes", bytes).num("gbps", bytes / secs * 1e-9).num("peak_gbps", at.peak_gbps).num("pct_bw", at.pct_bw);
  j.num("run_peak_gbps", run.peaks.read_gbps);
  j.num("ceiling_seconds", r.ceiling.median).num("ceiling_gflops", f / r.ceiling.median * 1e-9);
  j.num("ceiling_pct_peak", pct_of_samples(f * 1e-9, r.ceiling_reps, r.peak_gflops_reps));
  j.num("softmax_overhead", 1.0 - r.ceiling.median / secs).boolean("ceiling_finite", r.ceiling_ran);
  j.str("baseline", run.baseline);
  if (r.baseline) {
    j.num("baseline_seconds", r.baseline->median).num("baseline_gflops", f / r.baseline->median * 1e-9);
    j.num("baseline_pct_peak", pct_of_samples(f * 1e-9, r.baseline_reps, r.peak_gflops_reps));
    j.num("speedup_vs_baseline", r.baseline->median / secs);
    j.num("baseline_max_abs_err", r.baseline_check->max_abs_err);
  } else {
    j.null("baseline_seconds").null("baseline_gflops").null("baseline_pct_peak");
  }
  j.num("max_abs_err", r.check.max_abs_err).num("tolerance", r.check.tolerance);
  j.integer("checked_rows", r.check.rows).boolean("pass", r.pass());
  if (!r.name.empty()) j.str("name", r.name);
  if (r.target.kind != Target::Kind::none) {
    j.str("target", r.target.kind == Target::Kind::bw ? "bw" : "peak").num("target_pct", r.target.pct);
    j.boolean("target_met", target_figure(r, at) >= r.target.pct);
  }
  j.num("roofline_pct_peak", roofline_pct_peak(r, at));
  std::printf("%s\n", j.done().c_str());
}


void print_verdicts(const std::vector<ShapeResult>& results) {
  std::printf("\n");
  for (const ShapeResult& r : results) {
    const Sampled at = sampled(r);
    std::printf("%-8s %-40s ", r.name.empty() ? "-" : r.name.c_str(), r.shape.label().c_str());
    if (r.target.kind == Target::Kind::none) {
      std::printf("%5.1f%% of peak, no target", at.pct_peak);
    } else {
      const bool bw = r.target.kind == Target::Kind::bw;
      const double v = target_figure(r, at);
      std::printf("%5.1f%% of %s, target %.0f%%: %s", v, bw ? "read bandwidth" : "peak", r.target.pct,
                  v >= r.target.pct ? "met" : "SHORT");
      if (const double roof = roofline_pct_peak(r, at); !bw && roof < r.target.pct)
        std::printf(" (bound by its reads here: %.1f%% of read bandwidth; at most %.1f%% of peak at it)", at.pct_bw,
                    roof);
    }
    if (r.baseline)
      std::printf("; %.2fx the baseline", r.baseline->median / r.attnrt.median);
    std::printf("%s\n", r.pass() ? "" : "; CHECK FAILED");
  }
}

}  // namespace attnrt::bench
