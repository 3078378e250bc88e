// Strong scaling: one fixed shape on 1, 2, ..., all workers. Prints CSV
// (threads,seconds,gflops,speedup,efficiency), writes it to a file and, with
// gnuplot installed, plots the speedup. Settings other than the thread count
// come from the environment (ATTNRT_EXECUTOR, ATTNRT_DOMAINS, ATTNRT_BIND...).
//
//   strong_scaling [shape options] [--max-threads T] [--rounds R] [--best] [--out PREFIX]
//
// The thread counts are measured in rounds, each round timing every count
// once, and the median per count is kept: on a shared machine, load that
// comes and goes hits all counts alike. Each round also times a perfectly
// parallel FMA loop on as many threads: its speedup is what the machine
// offered at the time, printed beside attnrt's.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "examples/scheduler_example.hpp"

int main(int argc, char** argv) {
  example::Shape shape;  // B1 H8 M=N=2048 D128
  example::ScalingOptions opt;
  opt.out = "strong_scaling";
  opt.parse(argc, argv, shape);
  try {
    const int max_threads = opt.max_threads > 0 ? opt.max_threads : example::default_workers();
    example::Tensors t(shape);
    std::vector<std::vector<double>> secs(max_threads), machine(max_threads);
    for (int r = 0; r < opt.rounds; ++r)
      for (int n = 1; n <= max_threads; ++n) {
        secs[n - 1].push_back(example::seconds_on(n, [&](attnrt::Runtime& rt) { rt.forward(t.tq, t.tk, t.tv, t.to); }));
        machine[n - 1].push_back(example::parallel_fma_seconds(n));
      }

    std::fprintf(stderr, "strong scaling: %s, isa %s, %d rounds, %s\n", shape.text().c_str(),
                 attnrt::Runtime().isa().c_str(), opt.rounds, opt.best ? "fastest round" : "median round");
    const std::string csv = opt.out + ".csv";
    const double t1 = opt.pick(secs[0]);
    example::write_table(csv, "threads,seconds,gflops,speedup,efficiency", max_threads, [&](FILE* o, int n) {
      const double s = opt.pick(secs[n - 1]);
      std::fprintf(o, "%d,%.6f,%.2f,%.3f,%.3f\n", n, s, shape.flops() / s * 1e-9, t1 / s, t1 / s / n);
    });
    for (int n = 2; n <= max_threads; ++n)
      std::fprintf(stderr, "%d threads: attnrt %.3fx, a perfectly parallel loop %.3fx in the same rounds\n", n,
                   t1 / opt.pick(secs[n - 1]), opt.pick(machine[0]) / opt.pick(machine[n - 1]));
    example::plot(csv, opt.out + ".png", "strong scaling: " + shape.text(), "speedup", {{4, "speedup"}}, true);
  } catch (const std::exception& e) {  // attnrt::Error, or sizes too large to allocate
    std::fprintf(stderr, "attnrt: %s\n", e.what());
    return 1;
  }
  return 0;
}
