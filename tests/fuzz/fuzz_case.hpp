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

namespace attnrt::fuzz {

using Strides = std::array<std::int64_t, 3>;

// How the call is made.
enum class Api {
  c,            // attnrt_runtime_forward on a runtime of the chosen set
  cpp,          // attnrt::Runtime::forward
  c_default,    // attnrt_attention_forward (process-wide runtime)
  cpp_default,  // attnrt::attention_forward
};

// The one rule an invalid case breaks (none: a valid case).
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
  count
};

struct Case {
  std::uint64_t seed = 0, index = 0;
  std::uint64_t data_seed = 0;  // the stream the input values are drawn from

  attnrt_dtype dtype = ATTNRT_F32;
  std::int64_t B = 1, Hq = 1, Hkv = 1, M = 1, N = 1, D = 1, Dv = 1;
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
  Api api = Api::c;

  bool hidden_nonfinite = false;   // NaN/inf in K, V, bias where no query looks
  bool visible_nonfinite = false;  // NaN in Q/K/bias or inf in V where one does
  Breakage breakage = Breakage::none;
};

// The case of (seed, index); the same on every machine that runs the same
// kernel sets and executors (the set and executor are drawn among those).
Case make_case(std::uint64_t seed, std::uint64_t index);

// One line that says everything above.
std::string describe(const Case& c);

const char* api_name(Api a);
const char* breakage_name(Breakage b);
const char* strategy_name(attnrt_strategy s);

}  // namespace attnrt::fuzz
