// What the scheduler examples share: attnrt-bench's shape options, dense
// random tensors, the FLOP count, timing, and a gnuplot plot where gnuplot
// is installed. Every example takes its other settings (ATTNRT_EXECUTOR,
// ATTNRT_DOMAINS, ATTNRT_BIND, ATTNRT_TOPOLOGY, ...) from the environment.
#pragma once

#include <attnrt/attnrt.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "examples/args.hpp"

namespace example {

struct Shape {
  std::int64_t batch = 1, heads = 8, kv_heads = 0, q_len = 2048, kv_len = 2048, head_dim = 128;
  bool causal = false;
  std::int64_t kv() const { return kv_heads > 0 ? kv_heads : heads; }
  std::string text() const {
    char buf[160];
    std::snprintf(buf, sizeof buf, "B%lld H%lld/%lld M%lld N%lld D%lld%s", static_cast<long long>(batch),
                  static_cast<long long>(heads), static_cast<long long>(kv()), static_cast<long long>(q_len),
                  static_cast<long long>(kv_len), static_cast<long long>(head_dim), causal ? " causal" : "");
    return buf;
  }
  // Score entries a query sees (bottom-right causal), times 4·D: the FLOPs.
  double flops() const {
    double entries = 0;
    for (std::int64_t i = 0; i < q_len; ++i)
      entries += causal ? static_cast<double>(std::clamp<std::int64_t>(i + kv_len - q_len + 1, 0, kv_len))
                        : static_cast<double>(kv_len);
    return 4.0 * static_cast<double>(batch * heads) * entries * static_cast<double>(head_dim);
  }
};

// The shape options' part of a usage line.
inline constexpr const char* kShapeUsage =
    " [--batch B] [--heads H] [--kv-heads HKV] [--q-len M] [--kv-len N] [--head-dim D] [--causal]";

// Reads a shape option at the current argument (and its value); false if
// the argument is not one.
inline bool shape_option(Args& args, Shape& s) {
  if (args.is("--causal")) return s.causal = true;
  std::int64_t* field = args.is("--batch") ? &s.batch : args.is("--heads") ? &s.heads
                      : args.is("--kv-heads") ? &s.kv_heads : args.is("--q-len") ? &s.q_len
                      : args.is("--kv-len") ? &s.kv_len : args.is("--head-dim") ? &s.head_dim : nullptr;
  if (!field) return false;
  *field = args.integer(field == &s.kv_heads ? 0 : 1, INT32_MAX);  // kv-heads 0: as many as heads
  return true;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// What both scaling examples take besides the shape.
struct ScalingOptions {
  static constexpr const char* kUsage = " [--max-threads T] [--rounds R] [--best] [--out PREFIX]";
  int max_threads = 0;  // 0: as many as a runtime made from the environment has
  int rounds = 5;
  bool best = false;  // keep the fastest round instead of the median
  std::string out;    // file prefix for the CSV and the plot

  // Reads the option at the current argument (and its value); false if it
  // is neither one of these nor a shape option.
  bool option(Args& args, Shape& shape) {
    if (shape_option(args, shape)) return true;
    if (args.is("--best")) best = true;
    else if (args.is("--max-threads")) max_threads = static_cast<int>(args.integer(1, 4096));
    else if (args.is("--rounds")) rounds = static_cast<int>(args.integer(1, 1000000));
    else if (args.is("--out")) out = args.value();
    else return false;
    return true;
  }
  // Reads argv: shape options and the above; exits naming anything else.
  void parse(int argc, char** argv, Shape& shape) {
    Args args(argc, argv, std::string(kShapeUsage) + kUsage);
    while (args.next())
      if (!option(args, shape)) args.unknown();
    check_out(args);
  }
  // --out's directory takes files: checked before, not after, minutes of timing.
  void check_out(const Args& args) const {
    const std::size_t slash = out.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : out.substr(0, slash);
    args.require(access(dir.c_str(), W_OK) == 0, "--out (" + out + "): directory " + dir + " is not writable");
  }
  // The round kept: on a shared machine the fastest round is the one least
  // disturbed by other load.
  double pick(const std::vector<double>& v) const {
    return best ? *std::min_element(v.begin(), v.end()) : median(v);
  }
};

// Dense BHSD fp32 tensors with values in [-1, 1].
struct Tensors {
  std::vector<float> q, k, v, o;
  attnrt::Tensor tq, tk, tv, to;
  explicit Tensors(const Shape& s, unsigned seed = 1) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1, 1);
    q.resize(s.batch * s.heads * s.q_len * s.head_dim);
    k.resize(s.batch * s.kv() * s.kv_len * s.head_dim);
    v.resize(k.size());
    o.resize(q.size());
    for (auto* t : {&q, &k, &v})
      for (float& x : *t) x = u(rng);
    using attnrt::DType;
    using attnrt::Tensor;
    tq = Tensor::bhsd(q.data(), DType::f32, s.batch, s.heads, s.q_len, s.head_dim);
    tk = Tensor::bhsd(k.data(), DType::f32, s.batch, s.kv(), s.kv_len, s.head_dim);
    tv = Tensor::bhsd(v.data(), DType::f32, s.batch, s.kv(), s.kv_len, s.head_dim);
    to = Tensor::bhsd(o.data(), DType::f32, s.batch, s.heads, s.q_len, s.head_dim);
  }
  Tensors(const Tensors&) = delete;  // the views point into it
};

inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Seconds per call of f: calls repeated for at least `min_seconds`.
template <class F>
double seconds_per_call(F&& f, double min_seconds) {
  int calls = 0;
  const double t0 = now();
  double t = t0;
  do {
    f();
    ++calls;
    t = now();
  } while (t - t0 < min_seconds);
  return (t - t0) / calls;
}

// Seconds per call of `run` on a runtime of `threads` workers (other
// settings from the environment), made for this measurement alone so that
// no other runtime's threads are around to compete for the cores.
template <class Run>
double seconds_on(int threads, Run&& run, double min_seconds = 0.3) {
  attnrt::Config c;
  c.num_threads = threads;
  attnrt::Runtime rt(c);
  run(rt);  // warm up
  return seconds_per_call([&] { run(rt); }, min_seconds);
}

// The number of workers a Runtime configured from the environment gets.
inline int default_workers() { return attnrt::Runtime().num_threads(); }

// Seconds for `threads` threads to share a fixed, perfectly parallel FMA
// loop: how much parallel speedup the machine offers at this moment. Timed
// in the same rounds as attnrt, it tells a busy machine from poor scaling.
inline double parallel_fma_seconds(int threads, long iterations = 400'000'000) {
  std::vector<std::thread> ts;
  const double t0 = now();
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([n = iterations / threads] {
      float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
      for (long i = 0; i < n; i += 8)
        for (float& x : a) x = x * 0.999999f + 0.5f;
      volatile float sink = a[0] + a[7];
      (void)sink;
    });
  for (auto& t : ts) t.join();
  return now() - t0;
}

// A table of one row per thread count 1..threads, written to stdout and to
// `csv` (when it opens): the header line, then row(out, n) for each n.
template <class Row>
void write_table(const std::string& csv, const char* header, int threads, Row row) {
  FILE* f = std::fopen(csv.c_str(), "w");
  if (!f) std::fprintf(stderr, "cannot write %s: the table goes to stdout only\n", csv.c_str());
  for (FILE* o : {stdout, f}) {
    if (!o) continue;
    std::fprintf(o, "%s\n", header);
    for (int n = 1; n <= threads; ++n) row(o, n);
  }
  if (f) std::fclose(f);
}

inline bool have_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

// Plots columns of `csv` (x column, then y columns) into `png` with gnuplot.
inline void plot(const std::string& csv, const std::string& png, const std::string& title, const char* ylabel,
                 std::initializer_list<std::pair<int, const char*>> series, bool ideal_line,
                 const char* xlabel = "threads") {
  if (!have_gnuplot()) {
    std::fprintf(stderr, "gnuplot is not installed: no plot (data in %s)\n", csv.c_str());
    return;
  }
  const std::string script = png + ".gp";
  FILE* f = std::fopen(script.c_str(), "w");
  if (!f) return;
  std::fprintf(f,
               "set terminal pngcairo size 800,500\nset output '%s'\nset datafile separator ','\n"
               "set key top left\nset grid\nset title '%s'\nset xlabel '%s'\nset ylabel '%s'\n"
               "set xtics 1\nset yrange [0:*]\nplot ",
               png.c_str(), title.c_str(), xlabel, ylabel);
  bool first = true;
  for (auto [col, name] : series) {
    std::fprintf(f, "%s'%s' every ::1 using 1:%d with linespoints title '%s'", first ? "" : ", ", csv.c_str(), col,
                 name);
    first = false;
  }
  if (ideal_line) std::fprintf(f, ", x title 'ideal' with lines dashtype 2");
  std::fprintf(f, "\n");
  std::fclose(f);
  const std::string cmd = "gnuplot '" + script + "'";
  if (std::system(cmd.c_str()) == 0) std::fprintf(stderr, "plot: %s\n", png.c_str());
}

}  // namespace example
