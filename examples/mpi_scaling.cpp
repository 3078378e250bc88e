// Scaling over MPI ranks: context-parallel attention (attnrt_mpi_forward)
// on 1, 2, ..., P ranks of one mpirun, P = the job's size.
//   strong: one global shape (default B1 H8 M=N=2048 D128) cut into k shards;
//   weak:   a fixed shard per rank (--weak-len rows and keys), k shards.
// With --layout keys (decode over key-sharded K/V) only the keys are cut:
// every rank holds all --q-len rows, and --weak-len is keys per rank.
// Writes <out>_strong.csv and <out>_weak.csv (and plots with gnuplot):
//   ranks,seconds,gflops,speedup,efficiency,compute_s,wait_s,wait_share,mib_sent,loop_speedup,vs_single
// seconds is the slowest rank's call; wait_s the most any rank spent blocked
// on K/V transfers, and wait_share that over seconds; loop_speedup what a
// perfectly parallel FMA loop on as many ranks got in the same rounds (a
// busy machine, not poor scaling, when it is low too); vs_single the work
// rate against the k = 1 problem as one plain attnrt call without MPI.
//
//   mpirun -np 2 --bind-to core env ATTNRT_NUM_THREADS=1 mpi_scaling [shape options]
//       [--layout context|zigzag|keys] [--weak-len L] [--rounds R] [--best] [--out PREFIX]
//
// The rank counts are measured in rounds, each round timing every count
// once, and the median (or --best) round is kept: load that comes and goes
// hits all counts alike. Ranks not in the count at hand sleep, not spin.
#include <attnrt/attnrt_mpi.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <thread>

#include "examples/scheduler_example.hpp"

namespace {

int world_rank() { int r; MPI_Comm_rank(MPI_COMM_WORLD, &r); return r; }
int world_size() { int s; MPI_Comm_size(MPI_COMM_WORLD, &s); return s; }

// A barrier that sleeps while it waits (Open MPI's spins): idle ranks leave
// the cores to the ranks being timed.
void sleepy_barrier() {
  MPI_Request req;
  MPI_Ibarrier(MPI_COMM_WORLD, &req);
  for (int done = 0; MPI_Test(&req, &done, MPI_STATUS_IGNORE), !done;)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
}

struct Sample {
  double seconds, compute, wait, mib, loop;  // loop: the FMA loop's share on these ranks
};

// One shard per rank of a k-rank run: m rows and n keys of the global shape.
struct Run {
  example::Shape shard;
  example::Tensors t;
  double flops;  // of the whole k-rank problem
  Run(example::Shape s, double f) : shard(s), t(s, 1 + world_rank()), flops(f) {}
};

class Scaling {
 public:
  Scaling(attnrt_runtime* rt, attnrt_mpi_layout layout) : rt_(rt), layout_(layout) {
    const int p = world_size();
    comms_.resize(p + 1, MPI_COMM_NULL);
    for (int k = 1; k <= p; ++k) MPI_Comm_split(MPI_COMM_WORLD, world_rank() < k ? 0 : MPI_UNDEFINED, 0, &comms_[k]);
  }
  ~Scaling() {
    for (MPI_Comm& c : comms_)
      if (c != MPI_COMM_NULL) MPI_Comm_free(&c);
  }

  // One timed call on the first k ranks (the others wait); rank 0 gets the
  // slowest rank's figures.
  Sample time(int k, Run& run) {
    Sample s{};
    if (comms_[k] != MPI_COMM_NULL) {
      attnrt_mpi_params p;
      attnrt_mpi_params_init(&p);
      p.attn.causal = run.shard.causal;
      p.layout = layout_;
      p.runtime = rt_;
      attnrt_mpi_stats st;
      p.stats = &st;
      const attnrt_tensor q = run.t.tq.c(), kk = run.t.tk.c(), v = run.t.tv.c(), o = run.t.to.c();
      MPI_Barrier(comms_[k]);
      if (attnrt_mpi_forward(comms_[k], &q, &kk, &v, &o, &p) != ATTNRT_OK) {
        std::fprintf(stderr, "attnrt_mpi: %s\n", attnrt_mpi_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
      // The same ranks share a fixed, perfectly parallel loop: what the
      // machine offered them at this moment.
      MPI_Barrier(comms_[k]);
      const double loop = example::parallel_fma_seconds(1, 200'000'000 / k);
      const double mine[5] = {st.seconds, st.compute_seconds, st.wait_seconds, st.bytes_sent / 1048576.0, loop};
      double most[5];
      MPI_Reduce(mine, most, 5, MPI_DOUBLE, MPI_MAX, 0, comms_[k]);
      s = {most[0], most[1], most[2], most[3], most[4]};
    }
    sleepy_barrier();
    return s;
  }

  // The same whole problem as one plain attnrt call on rank 0 (no MPI):
  // what the ranks are measured against.
  double time_single(Run& run) {
    double seconds = 0;
    if (world_rank() == 0) {
      attnrt_params p;
      attnrt_params_init(&p);
      p.causal = run.shard.causal;
      const attnrt_tensor q = run.t.tq.c(), kk = run.t.tk.c(), v = run.t.tv.c(), o = run.t.to.c();
      const double t0 = MPI_Wtime();
      if (attnrt_runtime_forward(rt_, &q, &kk, &v, &o, &p) != ATTNRT_OK) {
        std::fprintf(stderr, "attnrt: %s\n", attnrt_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
      seconds = MPI_Wtime() - t0;
    }
    sleepy_barrier();
    return seconds;
  }

 private:
  attnrt_runtime* rt_;
  attnrt_mpi_layout layout_;
  std::vector<MPI_Comm> comms_;
};

void write(const std::string& csv, const std::vector<std::vector<Sample>>& samples, const std::vector<double>& flops,
           const std::vector<double>& single, const example::ScalingOptions& opt) {
  const auto pick = [&](int k, double Sample::*f) {
    std::vector<double> v;
    for (const Sample& s : samples[k - 1]) v.push_back(s.*f);
    return opt.pick(v);
  };
  const double rate1 = flops[0] / pick(1, &Sample::seconds);
  example::write_table(csv, "ranks,seconds,gflops,speedup,efficiency,compute_s,wait_s,wait_share,mib_sent,loop_speedup,vs_single",
                       static_cast<int>(samples.size()), [&](FILE* o, int k) {
    const double s = pick(k, &Sample::seconds), rate = flops[k - 1] / s;
    // Speedup in work per second: weak runs do k shards' work, and a strong
    // run's shards may round M down.
    std::fprintf(o, "%d,%.6f,%.2f,%.3f,%.3f,%.6f,%.6f,%.3f,%.2f,%.3f,%.3f\n", k, s, rate * 1e-9, rate / rate1,
                 rate / rate1 / k, pick(k, &Sample::compute), pick(k, &Sample::wait), pick(k, &Sample::wait) / s,
                 pick(k, &Sample::mib), pick(1, &Sample::loop) / pick(k, &Sample::loop),
                 rate / (flops[0] / opt.pick(single)));
  });
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  example::Shape shape;  // B1 H8 M=N=2048 D128
  example::ScalingOptions opt;
  opt.out = "mpi_scaling";
  std::string layout_name = "context";
  std::int64_t weak_len = 0;
  example::Args args(argc, argv, std::string(example::kShapeUsage) + example::ScalingOptions::kUsage +
                                    " [--layout context|zigzag|keys] [--weak-len L]");
  while (args.next()) {
    if (args.is("--layout")) layout_name = args.value();
    else if (args.is("--weak-len")) weak_len = args.integer(1, INT32_MAX);
    else if (!opt.option(args, shape)) args.unknown();
  }
  args.require(layout_name == "context" || layout_name == "zigzag" || layout_name == "keys",
               "--layout (" + layout_name + ") must be context, zigzag or keys");
  opt.check_out(args);
  const attnrt_mpi_layout layout = layout_name == "zigzag" ? ATTNRT_MPI_CONTEXT_ZIGZAG
                                   : layout_name == "keys" ? ATTNRT_MPI_KEYS
                                                           : ATTNRT_MPI_CONTEXT;
  const bool keys = layout == ATTNRT_MPI_KEYS;  // rows whole on every rank, keys cut

  const int p = world_size(), rank = world_rank();
  if (weak_len <= 0) weak_len = (keys ? shape.kv_len : shape.q_len) / p;
  // Every rank's shard of the strong problem, and the weak one, needs rows
  // (two chunks each with zigzag).
  const std::int64_t least = (layout == ATTNRT_MPI_CONTEXT_ZIGZAG ? 2 : 1) * p;
  if (std::min(keys ? least : shape.q_len, shape.kv_len) < least || weak_len < least / p) {
    if (rank == 0)
      std::fprintf(stderr, "mpi_scaling: --q-len and --kv-len must be at least %lld and --weak-len at least %lld "
                   "for %d ranks with layout %s\n", static_cast<long long>(least), static_cast<long long>(least / p), p,
                   layout_name.c_str());
    MPI_Finalize();
    return 2;
  }
  attnrt_runtime* rt = nullptr;
  if (attnrt_mpi_runtime_create(MPI_COMM_WORLD, nullptr, &rt) != ATTNRT_OK) {
    std::fprintf(stderr, "attnrt_mpi: %s\n", attnrt_mpi_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  {
    Scaling scaling(rt, layout);
    const std::int64_t even = layout == ATTNRT_MPI_CONTEXT_ZIGZAG ? 2 : 1;
    std::deque<Run> strong, weak;  // never moved: the views point into them
    for (int k = 1; k <= p; ++k) {
      example::Shape s = shape, w = shape, g = shape;
      s.q_len = keys ? shape.q_len : shape.q_len / k / even * even, s.kv_len = shape.kv_len / k / even * even;
      g.q_len = keys ? s.q_len : s.q_len * k, g.kv_len = s.kv_len * k;
      strong.emplace_back(s, g.flops());
      w.kv_len = weak_len / even * even, w.q_len = keys ? shape.q_len : w.kv_len;
      g.q_len = keys ? w.q_len : w.q_len * k, g.kv_len = w.kv_len * k;
      weak.emplace_back(w, g.flops());
    }
    std::vector<std::vector<Sample>> ts(p), tw(p);
    std::vector<double> single_s, single_w;  // the k = 1 problems as plain calls
    for (int k = 1; k <= p; ++k) scaling.time(k, strong[k - 1]), scaling.time(k, weak[k - 1]);  // warm up
    for (int r = 0; r < opt.rounds; ++r) {
      single_s.push_back(scaling.time_single(strong[0]));
      single_w.push_back(scaling.time_single(weak[0]));
      for (int k = 1; k <= p; ++k) {
        ts[k - 1].push_back(scaling.time(k, strong[k - 1]));
        tw[k - 1].push_back(scaling.time(k, weak[k - 1]));
      }
    }
    if (rank == 0) {
      std::vector<double> fs, fw;
      for (int k = 0; k < p; ++k) fs.push_back(strong[k].flops), fw.push_back(weak[k].flops);
      std::fprintf(stderr, "mpi scaling: %s, layout %s, %d ranks of %d threads, isa %s, %d rounds, %s\n",
                   shape.text().c_str(), layout_name.c_str(), p, attnrt_runtime_num_threads(rt), attnrt_runtime_isa(rt),
                   opt.rounds, opt.best ? "fastest round" : "median round");
      std::printf("# strong: the global shape above cut into k shards\n");
      write(opt.out + "_strong.csv", ts, fs, single_s, opt);
      std::printf("# weak: %lld %s per rank\n", static_cast<long long>(weak[0].shard.kv_len), keys ? "keys" : "rows and keys");
      write(opt.out + "_weak.csv", tw, fw, single_w, opt);
      example::plot(opt.out + "_strong.csv", opt.out + "_strong.png", "strong scaling over ranks: " + shape.text(),
                    "speedup", {{4, "speedup"}, {8, "wait share"}}, true, "ranks");
      example::plot(opt.out + "_weak.csv", opt.out + "_weak.png", "weak scaling over ranks", "efficiency",
                    {{5, "efficiency"}, {8, "wait share"}}, false, "ranks");
    }
  }
  attnrt_runtime_destroy(rt);
  MPI_Finalize();
  return 0;
}
