#include "tests/fuzz/fuzz_case.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <ostream>
#include <sstream>

#include "runtime/internal/attnrt_internal.hpp"
#include "tests/backends.hpp"
#include "tests/fuzz/rng.hpp"
#include "tests/tensors.hpp"

namespace attnrt::fuzz {
namespace {

constexpr std::int64_t kMax64 = std::numeric_limits<std::int64_t>::max();

// Multiply-adds the double reference may spend on one case: keeps a case
// near a few milliseconds natively, with now and then a big one.
constexpr double kWorkBudget = 1.5e7, kBigWorkBudget = 8e7;

std::int64_t draw_seq(Rng& r) {
  const int k = static_cast<int>(r.range(0, 99));
  if (k < 30) return r.range(1, 8);
  if (k < 88) return r.range(1, 300);
  return r.range(301, 2048);
}

std::int64_t draw_head_dim(Rng& r) {
  const int k = static_cast<int>(r.range(0, 99));
  if (k < 25) {
    static constexpr std::int64_t common[] = {16, 32, 64, 80, 96, 128};
    return common[r.range(0, 5)];
  }
  if (k < 85) return r.range(1, 64);
  return r.range(65, 512);  // kernels::kMaxHeadDim
}

// Strides of a [B, H, S, D] view: dense BHSD or BSHD, the three outer
// dimensions in any order with gaps, or (inputs only) one broadcast dimension.
Strides draw_strides(Rng& r, const std::array<std::int64_t, 4>& shape, bool allow_broadcast, bool* broadcast) {
  const auto [B, H, S, D] = shape;
  const int k = static_cast<int>(r.range(0, 99));
  if (k < 30) return {H * S * D, S * D, D};
  if (k < 55) return {S * H * D, D, H * D};
  if (k < 90 || !allow_broadcast) {
    int order[3] = {0, 1, 2};  // innermost first
    for (int i = 2; i > 0; --i) std::swap(order[i], order[r.range(0, i)]);
    Strides s{};
    std::int64_t run = D + (r.chance(70) ? r.range(0, 5) : r.range(0, 70));
    for (const int dim : order) {
      s[dim] = run;
      run = run * shape[dim] + r.range(0, 7);
    }
    return s;
  }
  Strides s{H * S * D, S * D, D};
  s[r.range(0, 2)] = 0;
  *broadcast = true;
  return s;
}

std::int64_t draw_window(Rng& r, std::int64_t n) {
  const int k = static_cast<int>(r.range(0, 99));
  if (k < 60) return -1;
  if (k < 70) return 0;
  if (k < 90) return r.range(0, n + 2);
  static constexpr std::int64_t huge[] = {kMax64, kMax64 - 1, std::int64_t{1} << 40, std::int64_t{1} << 31};
  return huge[r.range(0, 3)];
}

// Shrinks the largest of M, N, B, Hq (keeping Hkv | Hq) until the reference
// fits the budget.
void fit_budget(Case& c, double budget) {
  auto work = [&] { return double(c.B) * c.Hq * c.M * c.N * (c.D + c.Dv); };
  while (work() > budget) {
    if (c.long_keys) {  // (its keys go last)
      if (c.M > 1) c.M = (c.M + 1) / 2;
      else if (c.B > 1) --c.B;
      else if (c.Hq > c.Hkv) c.Hq -= c.Hkv;
      else if (c.Hkv > 1) c.Hq = c.Hkv = c.Hkv - 1;
      else if (c.N > 1) c.N = (c.N + 1) / 2;
      else break;
      continue;
    }
    if (c.M >= c.N && c.M > 1) c.M = (c.M + 1) / 2;
    else if (c.N > 1) c.N = (c.N + 1) / 2;
    else if (c.B > 1) --c.B;
    else if (c.Hq > c.Hkv) c.Hq -= c.Hkv;
    else if (c.Hkv > 1) c.Hq = c.Hkv = c.Hkv - 1;
    else break;
  }
}

std::vector<std::string> runnable_sets(attnrt_dtype t) {
  std::vector<std::string> out;
  for (const kernels::KernelSet* ks : test::sets_for(t))
    if (test::cpu_runs(*ks)) out.push_back(ks->name);
  return out;
}

// 0 sometimes, the whole length sometimes, else anything up to it.
std::int64_t draw_len(Rng& r, std::int64_t max) {
  const int k = static_cast<int>(r.range(0, 9));
  return k < 2 ? 0 : k < 4 ? max : r.range(0, max);
}

// Offsets [B + 1] of sequences of up to `max` rows each, the total at least
// 1 (a view has no empty dimension).
std::vector<std::int32_t> draw_offsets(Rng& r, std::int64_t seqs, std::int64_t max) {
  std::vector<std::int32_t> cu{0};
  for (std::int64_t b = 0; b < seqs; ++b) cu.push_back(static_cast<std::int32_t>(cu.back() + draw_len(r, max)));
  if (cu.back() == 0) cu.back() = 1;
  return cu;
}

std::int64_t draw_page_size(Rng& r) {
  const int k = static_cast<int>(r.range(0, 99));
  if (k < 15) return 1;
  if (k < 45) return r.range(2, 20);
  if (k < 75) return std::int64_t{1} << r.range(1, 8);  // 2 .. 256
  return r.range(21, 256);                              // runtime/src/validate.cpp: kMaxPageSize
}

// A paged cache for the case's key counts: pages in order, reversed or
// shuffled, sometimes a prefix shared by sequences 0 and 1, a few pages no
// sequence names, and junk in the slots past each sequence's keys.
void draw_pages(Rng& r, Case& c) {
  c.paged = true;
  if (c.kv_lens.empty())
    for (std::int64_t b = 0; b < c.B; ++b) c.kv_lens.push_back(draw_len(r, c.N));
  c.page_size = draw_page_size(r);
  std::vector<std::int64_t> need;
  for (const std::int64_t n : c.kv_lens) need.push_back((n + c.page_size - 1) / c.page_size);
  c.table_stride = std::max<std::int64_t>(1, *std::max_element(need.begin(), need.end()) + r.range(0, 2));
  const std::int64_t shared = c.B >= 2 && r.chance(30) ? r.range(0, std::min(need[0], need[1])) : 0;
  c.shared_pages = shared > 0;
  c.pages = std::max<std::int64_t>(1, std::accumulate(need.begin(), need.end(), std::int64_t{0}) - shared + r.range(0, 3));
  std::vector<std::int32_t> physical(c.pages);
  std::iota(physical.begin(), physical.end(), 0);
  const int order = static_cast<int>(r.range(0, 9));
  if (order < 2) std::reverse(physical.begin(), physical.end());
  if (order >= 4)
    for (std::int64_t i = c.pages - 1; i > 0; --i) std::swap(physical[i], physical[r.range(0, i)]);
  c.block_table.resize(c.B * c.table_stride);
  for (std::int32_t& slot : c.block_table)
    slot = static_cast<std::int32_t>(r.chance(50) ? -r.range(1, 5) : c.pages + r.range(0, 1000));
  std::int64_t next = 0;
  for (std::int64_t b = 0; b < c.B; ++b)
    for (std::int64_t s = 0; s < need[b]; ++s)
      c.block_table[b * c.table_stride + s] = b == 1 && s < shared ? c.block_table[s] : physical[next++];
}

void draw_quantized(Rng& r, Case& c) {
  static constexpr attnrt_dtype kinds[] = {ATTNRT_I8, ATTNRT_F8_E4M3, ATTNRT_F8_E5M2};
  c.kv_dtype = kinds[r.range(0, 2)];
  const int k = static_cast<int>(r.range(0, 99));
  const int token = c.kv_dtype == ATTNRT_I8 ? 70 : 20;  // int8 caches scale per token, fp8 per head
  c.scale_grain = k < token ? ScaleGrain::token : k < token + (100 - token) * 2 / 3 ? ScaleGrain::head : ScaleGrain::tensor;
  c.wide_codes = r.chance(50);
}

// The serving inputs of a valid case, then sometimes one of their rules
// broken: all drawn after every older field (kServingGeneration).
void draw_serving(Rng& r, Case& c) {
  if (c.breakage != Breakage::none) return;
  if (r.chance(20)) {
    c.varlen = true;
    c.cu_q = draw_offsets(r, c.B, c.M);
    c.cu_k = draw_offsets(r, c.B, c.N);
    c.kv_lens.clear();
  }
  if (r.chance(20)) {
    draw_pages(r, c);
    c.cu_k.clear();
  }
  if (r.chance(20)) draw_quantized(r, c);
  if (c.varlen || c.paged) c.bias = false;  // bias is dense-only
  if (c.varlen) {
    c.inputs_broadcast = false;
    c.q_strides = draw_strides(r, c.q_shape(c.D), false, nullptr);
    c.o_strides = draw_strides(r, c.q_shape(c.Dv), false, nullptr);
    if (c.lse) c.lse_strides = draw_strides(r, c.q_shape(1), false, nullptr);
  }
  if (c.varlen || c.paged) {
    c.k_strides = draw_strides(r, c.kv_shape(c.D), false, nullptr);
    c.v_strides = draw_strides(r, c.kv_shape(c.Dv), false, nullptr);
  }
  if (c.quantized()) {
    for (Strides* s : {&c.k_scale_strides, &c.v_scale_strides}) {
      const std::array<std::int64_t, 4> shape = c.scale_shape();
      *s = c.scale_grain == ScaleGrain::token ? draw_strides(r, shape, false, nullptr)
           : r.chance(50)                     ? Strides{0, 1, 0}
                                              : Strides{shape[1], 1, 1};
    }
  }
  if (!r.chance(c.serving() ? 12 : 2)) return;  // quantized q or o is the only kind for the rest
  std::vector<Breakage> kinds{Breakage::quantized_q_or_o};
  if (c.paged)
    kinds.insert(kinds.end(), {Breakage::page_out_of_range, Breakage::page_negative, Breakage::kv_len_beyond_pages,
                               Breakage::kv_lens_missing});
  if (c.varlen) kinds.insert(kinds.end(), {Breakage::cu_seqlens_decreasing, Breakage::cu_seqlens_bad_total});
  if (c.quantized()) kinds.insert(kinds.end(), {Breakage::scale_shape, Breakage::scale_missing, Breakage::kv_dtypes_differ});
  c.breakage = kinds[r.range(0, static_cast<std::int64_t>(kinds.size()) - 1)];
}

// Generation 3: a valid serving call may break one of the dense rules
// that apply to it as well, and any call with an array the library reads
// while it writes (kv_lens, offsets, block table, slopes, sinks) may have
// that array inside o or lse.
void draw_mixed(Rng& r, Case& c) {
  if (c.breakage != Breakage::none) return;
  const bool arrays = !c.kv_lens.empty() || c.varlen || c.paged || !c.alibi_slopes.empty() || !c.sinks.empty();
  if (!r.chance(c.serving() ? 12 : arrays ? 4 : 0)) return;
  std::vector<Breakage> kinds;
  if (arrays) kinds.push_back(Breakage::array_inside_output);
  if (c.serving()) {
    kinds.insert(kinds.end(), {Breakage::negative_stride, Breakage::null_data, Breakage::output_overlaps_input,
                               Breakage::nonfinite_scale, Breakage::bad_softcap, Breakage::window_below_minus_one,
                               Breakage::causal_not_bool});
    if (!c.quantized()) kinds.push_back(Breakage::misaligned_data);  // (1-byte codes are never misaligned)
    if (c.api == Api::c) kinds.push_back(Breakage::null_runtime);
  }
  c.breakage = kinds[r.range(0, static_cast<std::int64_t>(kinds.size()) - 1)];
  if (c.breakage == Breakage::causal_not_bool && c.api == Api::cpp) c.api = Api::c;  // (same kernel set)
  if (c.breakage == Breakage::causal_not_bool && c.api == Api::cpp_default) c.api = Api::c_default;
}

// Generation 5: the modes the calling thread holds (half the cases the
// default), and which writer fills a written case's cache.
void draw_caller_env(Rng& r, Case& c) {
  static constexpr int kModes[] = {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
  if (r.chance(50)) c.caller_fp.rounding = kModes[r.range(0, 2)];
  c.caller_fp.flush = r.chance(30);
  const bool cpp = c.api == Api::cpp || c.api == Api::cpp_default, runtime = c.api == Api::c || c.api == Api::cpp;
  const bool on_runtime = runtime && r.chance(60);
  c.writer = cpp ? (on_runtime ? Writer::cpp_runtime : Writer::cpp) : (on_runtime ? Writer::c_runtime : Writer::c);
}

}  // namespace

std::int64_t Case::keys(std::int64_t b) const {
  if (varlen && !paged) return cu_k[b + 1] - cu_k[b];
  return kv_lens.empty() ? N : kv_lens[b];
}

std::array<std::int64_t, 2> Case::kv_slot(std::int64_t b, std::int64_t j) const {
  if (paged) return {block_table[b * table_stride + j / page_size], j % page_size};
  if (varlen) return {0, cu_k[b] + j};
  return {b, j};
}

std::array<std::int64_t, 4> Case::q_shape(std::int64_t dim) const {
  return varlen ? std::array<std::int64_t, 4>{1, Hq, cu_q.back(), dim} : std::array<std::int64_t, 4>{B, Hq, M, dim};
}

std::array<std::int64_t, 4> Case::kv_shape(std::int64_t dim) const {
  if (paged) return {pages, Hkv, page_size, dim};
  if (varlen) return {1, Hkv, cu_k.back(), dim};
  return {B, Hkv, N, dim};
}

std::array<std::int64_t, 4> Case::scale_shape() const {
  if (scale_grain == ScaleGrain::token) return kv_shape(1);
  return {1, scale_grain == ScaleGrain::head ? Hkv : 1, 1, 1};
}

Case make_case(std::uint64_t seed, std::uint64_t index, int generation) {
  Rng r(case_seed(seed, index));
  Case c;
  c.seed = seed;
  c.index = index;
  c.generation = generation;
  c.data_seed = r.next();
  c.dtype = static_cast<attnrt_dtype>(r.range(0, 2));

  c.B = r.chance(80) ? r.range(1, 2) : r.range(3, 4);
  c.Hkv = r.range(1, 4);
  c.Hq = c.Hkv * (r.chance(30) ? 1 : r.range(1, 4));
  if (r.chance(15)) c.Hkv = 1;  // multi-query
  c.M = draw_seq(r);
  c.N = draw_seq(r);
  // Generation 7: one case in thirty-odd has rows of thousands of keys.
  // Drawn from a stream of its own, so that the main one draws what it
  // drew before and every other case is the one older generations name.
  if (generation >= kLongGeneration) {
    Rng lr(case_seed(seed ^ 0x6c6f6e67ull, index));
    if (lr.chance(3)) {
      c.long_keys = true;
      c.N = lr.range(1025, 40000);
      c.M = std::min(c.M, lr.range(1, 64));
    }
  }
  c.D = draw_head_dim(r);
  c.Dv = r.chance(70) ? c.D : draw_head_dim(r);
  fit_budget(c, r.chance(5) ? kBigWorkBudget : kWorkBudget);

  const std::array<std::int64_t, 4> q_shape{c.B, c.Hq, c.M, c.D}, k_shape{c.B, c.Hkv, c.N, c.D},
      v_shape{c.B, c.Hkv, c.N, c.Dv}, o_shape{c.B, c.Hq, c.M, c.Dv};
  c.q_strides = draw_strides(r, q_shape, true, &c.inputs_broadcast);
  c.k_strides = draw_strides(r, k_shape, true, &c.inputs_broadcast);
  c.v_strides = draw_strides(r, v_shape, true, &c.inputs_broadcast);
  c.o_strides = draw_strides(r, o_shape, false, nullptr);

  c.causal = r.chance(30);
  c.align = r.chance(50) ? ATTNRT_ALIGN_BOTTOM_RIGHT : ATTNRT_ALIGN_TOP_LEFT;
  c.window_left = draw_window(r, c.N);
  c.window_right = draw_window(r, c.N);
  if (r.chance(25)) {
    for (std::int64_t b = 0; b < c.B; ++b) {
      const int k = static_cast<int>(r.range(0, 9));
      c.kv_lens.push_back(k < 2 ? 0 : k < 4 ? c.N : r.range(0, c.N));
    }
  }
  if ((c.bias = r.chance(30))) {
    c.bias_batch1 = r.chance(40);
    c.bias_heads1 = r.chance(40);
    c.bias_strides = draw_strides(r, {c.bias_batch1 ? 1 : c.B, c.bias_heads1 ? 1 : c.Hq, c.M, c.N}, false, nullptr);
    static constexpr int masked[] = {0, 125, 500, 950, 1000};
    c.bias_masked_per_mille = masked[r.range(0, 4)];
  }
  if (r.chance(15)) c.softcap = static_cast<float>(r.chance(30) ? r.real(0.1, 1) : r.real(1, 50));
  if (r.chance(25)) c.scale = static_cast<float>(r.real(-2, 2) / std::sqrt(static_cast<double>(c.D)));
  if ((c.lse = r.chance(50))) c.lse_strides = draw_strides(r, {c.B, c.Hq, c.M, 1}, false, nullptr);
  c.precision = r.chance(30) ? ATTNRT_EXP2_FAST : ATTNRT_EXP2_ACCURATE;
  c.strategy = static_cast<attnrt_strategy>(r.range(0, 3));

  const int api = static_cast<int>(r.range(0, 9));
  c.api = api < 4 ? Api::c : api < 8 ? Api::cpp : api < 9 ? Api::c_default : Api::cpp_default;
  const std::vector<std::string> sets = runnable_sets(c.dtype);
  c.kernel_set = sets[r.range(0, static_cast<std::int64_t>(sets.size()) - 1)];
  c.threads = static_cast<int>(r.range(1, 2));
  const bool tbb = scheduler::has_executor(scheduler::ExecutorKind::tbb);
  c.executor = tbb && r.chance(50) ? "tbb" : "openmp";

  c.hidden_nonfinite = !c.inputs_broadcast && r.chance(40);
  c.visible_nonfinite = r.chance(5);
  if (r.chance(12)) {
    c.breakage = static_cast<Breakage>(r.range(1, static_cast<int>(kLastDenseBreakage)));
    if (c.breakage == Breakage::causal_not_bool && (c.api == Api::cpp || c.api == Api::cpp_default)) c.api = Api::c;
    if (c.breakage == Breakage::null_runtime) c.api = Api::c;
    if (c.breakage == Breakage::kv_len_out_of_range && c.kv_lens.empty()) c.kv_lens.assign(c.B, c.N);
    if (c.breakage == Breakage::bias_shape || c.breakage == Breakage::bias_dtype) {
      if (!c.bias) c.bias_strides = {c.Hq * c.M * c.N, c.M * c.N, c.N};
      c.bias = true;
      c.bias_batch1 = c.bias_heads1 = false;
    }
    if (c.breakage == Breakage::lse_shape || c.breakage == Breakage::lse_dtype) {
      if (!c.lse) c.lse_strides = {c.Hq * c.M, c.M, 1};
      c.lse = true;
    }
  }
  if (c.api == Api::c_default || c.api == Api::cpp_default) c.kernel_set.clear();  // after any change of API
  // Drawn after everything else, so that (seed, index) pairs found before
  // ALiBi and sinks existed still name the same case.
  if (r.chance(20))
    for (std::int64_t h = 0; h < c.Hq; ++h) c.alibi_slopes.push_back(static_cast<float>(r.real(-0.5, 1)));
  if (r.chance(20))
    for (std::int64_t h = 0; h < c.Hq; ++h)
      c.sinks.push_back(r.chance(15) ? -std::numeric_limits<float>::infinity() : static_cast<float>(r.real(-8, 8)));
  c.kv_dtype = c.dtype;
  if (generation >= kServingGeneration) draw_serving(r, c);
  if (generation >= kMixedGeneration) draw_mixed(r, c);
  // Generation 4: a valid quantized call's cache as a server fills it. (K/V
  // broadcast by a zero stride is no cache: the writer refuses such output.)
  if (generation >= kWrittenGeneration && r.chance(50))
    c.written = c.quantized() && !c.inputs_broadcast && c.breakage == Breakage::none;
  if (generation >= kCallerEnvGeneration) draw_caller_env(r, c);
  // Generation 6: one case in twenty on a runtime of its own (not the
  // default one) placed on an A64FX's four CMGs, where hwloc can describe
  // them: 4 workers (one a CMG) or 8.
  if (generation >= kPlacedGeneration && r.chance(5) && (c.api == Api::c || c.api == Api::cpp) &&
      scheduler::Machine::can_load()) {
    c.topology = kA64fxShape;
    c.threads = r.chance(50) ? 4 : 8;
  }
  // Generation 8: half the cases on a runtime of their own (on this
  // machine, one or two workers: each row is another runtime the fuzzer
  // keeps) take a row of the tuning table that changes their set's
  // few-row kernels here. From a stream of its own, as generation 7's.
  if (generation >= kTunedGeneration && (c.api == Api::c || c.api == Api::cpp) && c.topology.empty() &&
      c.threads <= 2) {
    Rng ur(case_seed(seed ^ 0x7561726368ull, index));
    const std::vector<const char*> rows = test::tuning_rows_changing(c.kernel_set, c.dtype);
    if (!rows.empty() && ur.chance(50))
      c.uarch = rows[static_cast<std::size_t>(ur.range(0, static_cast<std::int64_t>(rows.size()) - 1))];
  }
  return c;
}

const char* api_name(Api a) {
  switch (a) {
    case Api::c: return "c";
    case Api::cpp: return "cpp";
    case Api::c_default: return "c_default";
    case Api::cpp_default: return "cpp_default";
  }
  return "?";
}

const char* writer_name(Writer w) {
  switch (w) {
    case Writer::c: return "c";
    case Writer::c_runtime: return "c_runtime";
    case Writer::cpp: return "cpp";
    case Writer::cpp_runtime: return "cpp_runtime";
  }
  return "?";
}

const char* rounding_name(int mode) {
  switch (mode) {
    case FE_TONEAREST: return "nearest";
    case FE_UPWARD: return "upward";
    case FE_DOWNWARD: return "downward";
    case FE_TOWARDZERO: return "toward_zero";
  }
  return "?";
}

const char* breakage_name(Breakage b) {
  static const char* const names[] = {
      "none", "negative_stride", "batch_mismatch", "seq_mismatch", "head_dim_mismatch", "kv_heads_not_dividing",
      "head_dim_too_big", "null_data", "dtype_mismatch", "misaligned_data", "output_overlaps_input",
      "output_rows_overlap", "nonfinite_scale", "bad_softcap", "window_below_minus_one", "kv_len_out_of_range",
      "bias_shape", "bias_dtype", "lse_shape", "lse_dtype", "causal_not_bool", "null_runtime", "page_out_of_range",
      "page_negative", "kv_len_beyond_pages", "cu_seqlens_decreasing", "cu_seqlens_bad_total", "scale_shape",
      "quantized_q_or_o", "scale_missing", "kv_dtypes_differ", "kv_lens_missing",
      "array_inside_output"};
  static_assert(std::size(names) == static_cast<std::size_t>(Breakage::count));
  return names[static_cast<int>(b)];
}

const char* strategy_name(attnrt_strategy s) {
  static const char* const names[] = {"auto", "online", "two_pass", "three_pass"};
  return names[s];
}

namespace {

template <class T>
void list(std::ostream& os, const char* name, const std::vector<T>& v) {
  os << name;
  for (std::size_t i = 0; i < v.size() && i < 64; ++i) os << (i ? "," : "") << v[i];
  if (v.size() > 64) os << ",...(" << v.size() << ")";
}

void describe_serving(std::ostream& os, const Case& c) {
  if (c.varlen) {
    list(os, " varlen cu_q=", c.cu_q);
    if (!c.paged) list(os, " cu_k=", c.cu_k);
  }
  if (c.paged) {
    os << " paged page_size=" << c.page_size << " pages=" << c.pages << " stride=" << c.table_stride
       << (c.shared_pages ? " shared" : "");
    list(os, " table=", c.block_table);
  }
  if (c.quantized()) {
    static const char* const grains[] = {"token", "head", "tensor"};
    os << " kv=" << test::dtype_name(c.kv_dtype) << " scales=" << grains[static_cast<int>(c.scale_grain)] << "["
       << c.k_scale_strides[0] << "," << c.k_scale_strides[1] << "," << c.k_scale_strides[2] << "]"
       << (c.wide_codes ? " wide_codes" : "") << (c.written ? " written" : "");
  }
}

}  // namespace

std::string describe(const Case& c) {
  std::ostringstream os;
  // Streamed: GCC 12 -O3 misreads "[" + std::to_string(...) as an overlapping copy (-Wrestrict).
  auto strides = [](const Strides& s) {
    std::ostringstream t;
    t << "[" << s[0] << "," << s[1] << "," << s[2] << "]";
    return t.str();
  };
  os << test::dtype_name(c.dtype) << " B" << c.B << " H" << c.Hq << "/" << c.Hkv << " M" << c.M << " N" << c.N
     << " D" << c.D << " Dv" << c.Dv << " q" << strides(c.q_strides) << " k" << strides(c.k_strides) << " v"
     << strides(c.v_strides) << " o" << strides(c.o_strides);
  if (c.causal) os << " causal";
  if (c.causal || c.window_left >= 0 || c.window_right >= 0)
    os << (c.align == ATTNRT_ALIGN_BOTTOM_RIGHT ? " bottom_right" : " top_left");
  if (c.window_left >= 0 || c.window_right >= 0) os << " window=" << c.window_left << "," << c.window_right;
  if (!c.kv_lens.empty()) {
    os << " kv_lens=";
    for (std::size_t b = 0; b < c.kv_lens.size(); ++b) os << (b ? "," : "") << c.kv_lens[b];
  }
  if (c.bias)
    os << " bias[" << (c.bias_batch1 ? "1" : "B") << (c.bias_heads1 ? "1" : "H") << "]" << strides(c.bias_strides)
       << " masked=" << c.bias_masked_per_mille << "/1000";
  if (c.softcap != 0) os << " softcap=" << c.softcap;
  for (const auto& [name, values] : {std::pair{" alibi=", &c.alibi_slopes}, std::pair{" sinks=", &c.sinks}})
    for (std::size_t h = 0; h < values->size(); ++h) os << (h ? "," : name) << (*values)[h];
  if (c.scale != 0) os << " scale=" << c.scale;
  if (c.lse) os << " lse" << strides(c.lse_strides);
  os << (c.precision == ATTNRT_EXP2_FAST ? " fast" : " accurate") << " " << strategy_name(c.strategy);
  if (c.kernel_set.empty()) os << " set=default";  // the process-wide runtime: threads as the environment says
  else os << " set=" << c.kernel_set << " threads=" << c.threads << " " << c.executor;
  if (!c.topology.empty()) os << " on=a64fx";
  if (!c.uarch.empty()) os << " uarch=" << c.uarch;
  os << " api=" << api_name(c.api);
  if (c.hidden_nonfinite) os << " hidden_nonfinite";
  if (c.visible_nonfinite) os << " visible_nonfinite";
  describe_serving(os, c);  // nothing for a case without serving inputs: older cases read as before
  if (c.written && c.generation >= kCallerEnvGeneration) os << " writer=" << writer_name(c.writer);
  if (c.caller_fp.rounding != FE_TONEAREST) os << " caller_rounding=" << rounding_name(c.caller_fp.rounding);
  if (c.caller_fp.flush) os << " caller_flush";
  if (c.breakage != Breakage::none) os << " INVALID:" << breakage_name(c.breakage);
  return os.str();
}

}  // namespace attnrt::fuzz
