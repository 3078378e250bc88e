// One differential-fuzzing case, drawn from (seed, index) alone: shapes,
// strides, dtype, masks, parameters, kernel set, threads, executor, API, the
// non-finite values hidden behind masks, and sometimes one broken argument.
// The fuzzer and the fuzz_regressions tests share it, so a printed
// (seed, index) replays the same case in either.
#pragma once

#include <attnrt/attnrt.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/caller_fp_env.hpp"

namespace attnrt::fuzz {

using Strides = std::array<std::int64_t, 3>;

// What the generator draws: new kinds of input come as a new generation,
// drawn after every field of the older ones, so that a (seed, index) pair
// found by an older generation replays exactly its case when asked for
// with that generation (drawing last alone is not enough: the new fields
// turn on for about half the pairs, and change those cases).
enum Generation : int {
  kDenseGeneration = 1,    // issue 18's dense calls, with ALiBi and sinks
  kServingGeneration = 2,  // + paged, varlen and quantized K/V (issue 20)
  kMixedGeneration = 3,    // + the dense rules broken on serving calls, arrays inside o or lse
  kWrittenGeneration = 4,  // + quantized K/V stored by attnrt_cache_write
  kCallerEnvGeneration = 5,  // + the caller's rounding and flush modes; writes on runtimes and in C++
  kPlacedGeneration = 6,     // + runtimes on an A64FX-shaped machine (four NUMA domains)
  kLongGeneration = 7,       // + rows of thousands of keys, past the pipelines' banks
  kTunedGeneration = 8,      // + runtimes on another CPU's row of the tuning table
  kLatestGeneration = kTunedGeneration,
};

// An A64FX as hwloc describes one synthetically: 4 CMGs (NUMA domains),
// each 12 cores sharing an 8 MiB L2. Runtimes on it take 4 or 8 workers,
// spread over the CMGs: 8 workers on this machine's few cores already
// cost ~0.2 s a call.
inline constexpr const char* kA64fxShape = "package:4 [numa] l2:1(size=8MiB) core:12 l1d:1(size=64KiB) pu:1";

// How the call is made.
enum class Api {
  c,            // attnrt_runtime_forward on a runtime of the chosen set
  cpp,          // attnrt::Runtime::forward
  c_default,    // attnrt_attention_forward (process-wide runtime)
  cpp_default,  // attnrt::attention_forward
};

// Which cache_write stores a written case's K/V: the C or C++ entry point,
// on the calling thread or the case's runtime (not with a default-runtime
// API). Generations before 5 write through attnrt_cache_write alone.
enum class Writer { c, c_runtime, cpp, cpp_runtime };

// The one rule an invalid case breaks (none: a valid case). Kinds after
// null_runtime break the serving inputs' rules and are drawn last, among
// those that apply to the case (older cases keep their kind).
enum class Breakage {
  none,
  negative_stride,
  batch_mismatch,
  seq_mismatch,
  head_dim_mismatch,
  kv_heads_not_dividing,
  head_dim_too_big,
  null_data,
  dtype_mismatch,
  misaligned_data,
  output_overlaps_input,
  output_rows_overlap,
  nonfinite_scale,
  bad_softcap,
  window_below_minus_one,
  kv_len_out_of_range,
  bias_shape,
  bias_dtype,
  lse_shape,
  lse_dtype,
  causal_not_bool,  // C APIs only: attnrt::Params::causal is a bool
  null_runtime,     // attnrt_runtime_forward only
  page_out_of_range,      // a block_table slot a sequence reads >= k.pages
  page_negative,          // ... or < 0
  kv_len_beyond_pages,    // kv_lens[b] past block_table_stride * page_size
  cu_seqlens_decreasing,  // an offset below the one before it
  cu_seqlens_bad_total,   // the last offset not the packed total
  scale_shape,            // k_scale or v_scale neither broadcast nor k's size
  quantized_q_or_o,       // q or o of a K/V-only (int8/fp8) dtype
  scale_missing,          // k_scale or v_scale NULL with quantized K/V
  kv_dtypes_differ,       // v of another quantized format than k
  kv_lens_missing,        // kv_lens NULL with a block table
  array_inside_output,    // kv_lens, offsets, block table, slopes or sinks (values kept) inside o or lse
  count
};
inline constexpr Breakage kLastDenseBreakage = Breakage::null_runtime;

// How quantized K/V scales are shared: per (token, KV head), per KV head
// ([1, Hkv, 1, 1]) or one per tensor ([1, 1, 1, 1]).
enum class ScaleGrain { token, head, tensor };

struct Case {
  std::uint64_t seed = 0, index = 0;
  int generation = kLatestGeneration;
  std::uint64_t data_seed = 0;  // the stream the input values are drawn from

  attnrt_dtype dtype = ATTNRT_F32;
  std::int64_t B = 1, Hq = 1, Hkv = 1, M = 1, N = 1, D = 1, Dv = 1;
  // Generation 7: N drawn past the pipelines' banks of a row's sums (1024
  // keys read in place, 8192 packed: kernels/pipelines/strip.hpp), M kept
  // small so the reference stays cheap.
  bool long_keys = false;
  Strides q_strides{}, k_strides{}, v_strides{}, o_strides{};
  bool inputs_broadcast = false;  // a stride of 0 in q, k or v

  bool causal = false;
  attnrt_causal_align align = ATTNRT_ALIGN_BOTTOM_RIGHT;
  std::int64_t window_left = -1, window_right = -1;
  std::vector<std::int64_t> kv_lens;  // empty: all N
  bool bias = false, bias_batch1 = false, bias_heads1 = false;
  Strides bias_strides{};
  int bias_masked_per_mille = 0;  // chance of -inf per entry
  float softcap = 0, scale = 0;
  std::vector<float> alibi_slopes, sinks;  // [Hq] each, or empty (drawn last: older cases replay)
  bool lse = false;
  Strides lse_strides{};
  attnrt_precision precision = ATTNRT_EXP2_ACCURATE;
  attnrt_strategy strategy = ATTNRT_STRATEGY_AUTO;

  std::string kernel_set;  // for Api::c / cpp; "" on the default runtime
  int threads = 1;
  std::string executor;  // "openmp" or "tbb"
  // Generation 6: "" (this machine) or kA64fxShape, the machine the runtime
  // places its `threads` workers on (4 or 8: one or two a CMG): the
  // flagship's partition across domains, split-KV pieces and per-domain
  // K/V sharing, with more workers than this machine has cores.
  std::string topology;
  // Generation 8: "" (this CPU's) or the tuning row the runtime takes
  // (config.uarch): another CPU's read orders and page walks, here.
  std::string uarch;
  Api api = Api::c;

  bool hidden_nonfinite = false;   // NaN/inf in K, V, bias where no query looks
  bool visible_nonfinite = false;  // NaN in Q/K/bias or inf in V where one does
  Breakage breakage = Breakage::none;

  // Serving inputs (issue 20), drawn after everything above. Sequences are
  // the B batch items; varlen packs them (q, o, lse [1, Hq, cu_q[B], .],
  // k, v [1, Hkv, cu_k[B], .] unless paged), their rows and keys at most M
  // and N each; paged K/V are pools [pages, Hkv, page_size, D] (strides in
  // k_strides, v_strides) read through block_table with kv_lens (always
  // given). Bias only with plain dense K/V.
  bool varlen = false;
  std::vector<std::int32_t> cu_q, cu_k;  // [B + 1] each; cu_k empty when paged
  bool paged = false;
  std::int64_t page_size = 0, pages = 0, table_stride = 0;
  std::vector<std::int32_t> block_table;  // [B, table_stride]; slots past a sequence's keys hold junk
  bool shared_pages = false;              // sequence 1's first pages are sequence 0's
  attnrt_dtype kv_dtype = ATTNRT_F32;     // == dtype unless k and v are int8/fp8 codes
  ScaleGrain scale_grain = ScaleGrain::token;
  Strides k_scale_strides{}, v_scale_strides{};
  bool wide_codes = false;  // fp8 codes over every finite value, not just the top binades
  bool written = false;     // the codes (and per-token scales) stored by attnrt_cache_write from fp32 rows

  // Generation 5: the floating-point modes the calling thread holds while
  // the library runs (its writes and the call); a valid call must then give
  // the bits the same call gives in the default environment.
  test::CallerFpMode caller_fp;
  Writer writer = Writer::c;

  bool quantized() const { return kv_dtype != dtype; }
  bool serving() const { return varlen || paged || quantized(); }
  std::int64_t seqs() const { return B; }
  // Query rows of sequence b: (batch, first row, count) in q and o.
  std::int64_t q_batch(std::int64_t b) const { return varlen ? 0 : b; }
  std::int64_t q_row0(std::int64_t b) const { return varlen ? cu_q[b] : 0; }
  std::int64_t q_rows(std::int64_t b) const { return varlen ? cu_q[b + 1] - cu_q[b] : M; }
  // Keys sequence b has, and where its key j lives in k and v: (batch or
  // page, row).
  std::int64_t keys(std::int64_t b) const;
  std::array<std::int64_t, 2> kv_slot(std::int64_t b, std::int64_t j) const;
  // Shapes of the views the call takes.
  std::array<std::int64_t, 4> q_shape(std::int64_t dim) const;  // q, o (dim Dv), lse (dim 1)
  std::array<std::int64_t, 4> kv_shape(std::int64_t dim) const;  // k, v; scales per token (dim 1)
  std::array<std::int64_t, 4> scale_shape() const;
};

// The case of (seed, index) of a generation; the same on every machine that
// runs the same kernel sets and executors (the set and executor are drawn
// among those).
Case make_case(std::uint64_t seed, std::uint64_t index, int generation = kLatestGeneration);

// One line that says everything above.
std::string describe(const Case& c);

const char* api_name(Api a);
const char* writer_name(Writer w);
const char* rounding_name(int mode);  // FE_TONEAREST ... as "nearest" ...
const char* breakage_name(Breakage b);
const char* strategy_name(attnrt_strategy s);

}  // namespace attnrt::fuzz
