// Weak scaling: the work per worker stays fixed (the batch grows with the
// worker count), so ideal time is constant. Prints CSV
// (threads,batch,seconds,gflops,efficiency), writes it to a file and, with
// gnuplot installed, plots the efficiency. Other settings come from the
// environment. Each round also times a perfectly parallel FMA loop with fixed
// work per thread: its efficiency is what the machine offered at the time.
//
//   weak_scaling [shape options: the shape of ONE worker's share]
//                [--max-threads T] [--rounds R] [--best] [--out PREFIX]
#include <algorithm>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "examples/scheduler_example.hpp"

int main(int argc, char** argv) {
  example::Shape per_worker;
  per_worker.heads = 4;
  per_worker.q_len = per_worker.kv_len = 1024;
  example::ScalingOptions opt;
  opt.out = "weak_scaling";
  opt.parse(argc, argv, per_worker);
  try {
    const int max_threads = opt.max_threads > 0 ? opt.max_threads : example::default_workers();
    std::vector<example::Shape> shapes;
    std::vector<std::unique_ptr<example::Tensors>> tensors;
    for (int n = 1; n <= max_threads; ++n) {
      shapes.push_back(per_worker);
      shapes.back().batch = per_worker.batch * n;
      tensors.push_back(std::make_unique<example::Tensors>(shapes.back()));
    }
    std::vector<std::vector<double>> secs(max_threads), machine(max_threads);
    for (int r = 0; r < opt.rounds; ++r)
      for (int n = 1; n <= max_threads; ++n) {
        const example::Tensors& t = *tensors[n - 1];
        secs[n - 1].push_back(example::seconds_on(n, [&](attnrt::Runtime& rt) { rt.forward(t.tq, t.tk, t.tv, t.to); }));
        machine[n - 1].push_back(example::parallel_fma_seconds(n, 200'000'000L * n));
      }

    std::fprintf(stderr, "weak scaling: per worker %s, isa %s, %d rounds, %s\n", per_worker.text().c_str(),
                 attnrt::Runtime().isa().c_str(), opt.rounds, opt.best ? "fastest round" : "median round");
    const std::string csv = opt.out + ".csv";
    const double t1 = opt.pick(secs[0]);
    example::write_table(csv, "threads,batch,seconds,gflops,efficiency", max_threads, [&](FILE* o, int n) {
      const double s = opt.pick(secs[n - 1]);
      std::fprintf(o, "%d,%lld,%.6f,%.2f,%.3f\n", n, static_cast<long long>(shapes[n - 1].batch), s,
                   shapes[n - 1].flops() / s * 1e-9, t1 / s);
    });
    for (int n = 2; n <= max_threads; ++n)
      std::fprintf(stderr, "%d threads: attnrt efficiency %.3f, a perfectly parallel loop %.3f in the same rounds\n",
                   n, t1 / opt.pick(secs[n - 1]), opt.pick(machine[0]) / opt.pick(machine[n - 1]));
    example::plot(csv, opt.out + ".png", "weak scaling: per worker " + per_worker.text(), "efficiency",
                  {{5, "efficiency"}}, false);
  } catch (const std::exception& e) {  // attnrt::Error, or sizes too large to allocate
    std::fprintf(stderr, "attnrt: %s\n", e.what());
    return 1;
  }
  return 0;
}
