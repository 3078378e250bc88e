// The single-core kernel interface every ISA fills (like a BLIS context or a
// KleidiAI micro-kernel struct). Pipelines call only through it, so they
// never branch on the ISA.
//
// Both GEMMs share one panel layout, so one micro-kernel shape serves both:
//   A panel (Q, or P):  [k][mr]  column-major strip of mr rows, k = D or keys
//   B panel (K, or V):  [k][nr]  (resp. [k][nv]) row strip
// `k` is padded to a multiple of k_pack (2 when bf16 pairs are interleaved
// for vdpbf16ps-style dot products: then a panel is [k/2][mr][2]). Padding
// is zero-filled by the packers, so micro-kernels always run whole tiles and
// never see a tail.
//
// In general an A panel is a sequence of blocks of a_block k-columns, each
// block row-major [mr][a_block] (the last one [mr][k % a_block] when
// shorter): a_block = k_pack is the layout above. A set whose vectors run
// along k rather than along rows (avx2: a_block 8) then writes P and packs Q
// with plain row stores, no transpose. a_panel_index() below says where an
// element lives; pipelines only ever cut A panels at multiples of key_step,
// which a_block divides.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "kernels/rows_ahead.hpp"

namespace attnrt::kernels {

enum class DType : int { f32 = 0, f16 = 1, bf16 = 2 };
// How K and V rows are stored: in the problem's dtype, or as 1-byte codes
// (an int8 or fp8 KV cache, with scales: quant.hpp).
enum class KvFormat : int { plain = 0, i8 = 1, e4m3 = 2, e5m2 = 3 };
inline constexpr int kKvFormats = 4;
enum class Exp2Precision : int { accurate = 0, fast = 1 };

// Largest head_dim (D or Dv) any kernel set must handle.
inline constexpr int kMaxHeadDim = 512;

inline constexpr std::size_t dtype_size(DType t) { return t == DType::f32 ? 4 : 2; }

// CPU features a kernel set needs; the runtime detects them, kernels do not.
enum CpuFeature : std::uint32_t {
  kFeatureNone = 0,
  kFeatureX86V3 = 1u << 0,       // x86-64-v3 (AVX2, FMA3, F16C, MOVBE, BMI1/2, LZCNT) + OS-enabled YMM state
  kFeatureAvx512 = 1u << 1,      // AVX-512 F/BW/DQ/VL + OS-enabled ZMM state
  kFeatureAvx512Bf16 = 1u << 2,  // AVX512_BF16 (vdpbf16ps)
  kFeatureAvx512Fp16 = 1u << 3,  // AVX512_FP16
  kFeatureAvx512Vnni = 1u << 4,  // AVX512_VNNI (vpdpbusd)
  kFeatureAmxInt8 = 1u << 5,     // AMX-TILE + AMX-INT8 (tdpbssd), tile state enabled and granted to the process
  kFeatureAmxBf16 = 1u << 6,     // AMX-TILE + AMX-BF16 (tdpbf16ps), the same
  kFeatureSve = 1u << 8,         // SVE, any vector length
  kFeatureSve512 = 1u << 9,      // SVE with 512-bit vectors (A64FX)
};
// Whether a CPU with feature bits `cpu` has every feature of `needs`.
constexpr bool has_features(std::uint32_t cpu, std::uint32_t needs) { return (cpu & needs) == needs; }

// ---- The few-row (direct) path ------------------------------------------------
// For few query rows (decode, skinny shapes, the query heads of one KV head
// stacked as rows), packing K and V costs as much as the math and doubles
// the memory traffic; these kernels read the user's K and V rows where they
// are, of the set's dtype (fp16/bf16 rows widened to fp32 as each vector is
// loaded, so that K and V stream from memory among the FMAs). A set fills a
// FewRowKernels completely or not at all (few_rows_complete below, checked
// at compile time by every set that has one and for every registered set by
// test_kernel_paths); only sets with fp32 panels (k_pack 1) can, since the
// direct P·V reads P as the fp32 A panel exp2_rows writes.
//
// Like XNNPACK's GEMM configs per MR, the P·V kernels are indexed by the rows
// they take: pv_rows serves strips of 1..pv_rows_max real rows and reads and
// writes those rows only; strips with more real rows take pv_init / pv_acc,
// which compute all mr rows (null when pv_rows_max == mr: pv_rows serves
// every strip). Q·Kᵀ takes any row count in one call (a whole row block:
// each K row should be read from memory once for all rows).
//
// Every direct kernel also takes `next`: where the rows after its last one
// continue, ld apart as ever (a paged cache's next pages, as a list of runs:
// rows_ahead.hpp), or none when they follow in memory. Only prefetches read
// there (kv_runs.hpp), so a kernel that prefetches K or V rows ahead streams
// across a page end as it does across its call's end, and never fetches the
// lines past a page, which belong to something else. A call that spans
// pieces (FewRowKernels::span_rows) reads its own keys past the first piece
// there too (RowsAfter::in_place).

// S[rows x keys] = alpha * Q·Kᵀ: fp32 Q rows [rows x d] (row stride ldq) and
// K rows [keys x d] (row stride ldk elements) read in place, any rows >= 1,
// keys >= 0 and d >= 1 (no padding anywhere: tails are the kernel's job).
// Writes exactly S[0..rows)[0..keys), row stride lds.
using QkDirectFn = void (*)(int rows, int keys, int d, const float* q, std::int64_t ldq, const void* k,
                            std::int64_t ldk, float alpha, float* s, std::int64_t lds, RowsAfter next);
// O[mr x cols] = P·V (init) or O += P·V (acc) over kp >= 1 keys: P an A
// panel of fp32 (as exp2_rows writes it for the accurate precision), V rows
// read in place: row j of the B operand is row j of v (ldv elements apart),
// `cols` (>= 1, e.g. all of Dv) columns of it. O columns [cols,
// round_up(cols, nv)) get 0 (init) or += 0 (acc), so O's padding to nv stays
// 0. One call covers all columns so that a few keys per call (V rows kept in
// L1 for the next strip) cost no per-slice call.
using PvDirectFn = void (*)(int kp, const void* a, const void* v, std::int64_t ldv, int cols, float* o,
                            std::int64_t ldo, RowsAfter next);
// For a strip's real rows (decode: one row, or a GQA group's query heads
// stacked): O[r][0..dv) = P·V, or += P·V if `accumulate`, for rows r < rows
// (1 <= rows <= pv_rows_max; O rows ldo apart; kp >= 1), with P's rows from
// an A panel as above and all dv columns of V's rows read in place, row
// after row. Nothing else of O is written.
using PvDirectRowsFn = void (*)(int rows, int kp, const void* a, const void* v, std::int64_t ldv, int dv,
                                float* o, std::int64_t ldo, bool accumulate, RowsAfter next);
// dst[r][c] = src[r][c] widened to fp32, r < rows, c < cols (src row stride
// ld elements; dst dense, row stride cols): fp16/bf16 Q rows, which the
// direct Q·Kᵀ takes in fp32.
using WidenRowsFn = void (*)(const void* src, std::int64_t ld, int rows, int cols, float* dst);

// How few-row loops stream K and V from memory, which differs per
// microarchitecture: chosen from the detected CPU in one table
// (kernels/tuning.hpp), not fixed in the kernels. {0, 0}: kernels with no
// such setting.
struct StreamParams {
  int rows_ahead = 0;     // K/V rows prefetched ahead (in fp32 rows' bytes); 0 = none
  int keys_per_pass = 0;  // P·V: keys per pass over O
  bool across_pages = false;  // the pipelines list a paged cache's next pages for the prefetches (rows_ahead.hpp)
  int bytes_ahead = 0;        // SVE: K/V bytes prefetched ahead of the row being read; 0 = none
  bool into_l2 = false;       // x86: prefetches fill L2 only (prefetcht1), not L1 (prefetcht0); pages left to the hardware (pages_ahead.hpp)
  bool l2_far = false;        // x86: one-row loops prefetch rows_ahead on into L2 only, an eighth of that into L1 (x86/prefetch_to.hpp)
  bool dense_by_hardware = false;  // x86: one-row loops prefetch only paged rows; dense K/V left to the hardware (RowsAfter)
  bool apart_rows_down = false;    // x86: fp32 rows a memory page apart read from their last line down (RowsAfter::down)
  constexpr bool operator==(const StreamParams&) const = default;
};

struct FewRowKernels {
  const char* name;     // its kernels, e.g. "qk_fp32_12x2_direct + pv_fp32_14x2_direct_rows"
  StreamParams stream;  // the setting its loops were built for
  QkDirectFn qk;
  // P·V by row count (above).
  int pv_rows_max;
  PvDirectRowsFn pv_rows;
  PvDirectFn pv_init, pv_acc;  // all mr rows; null iff pv_rows_max == mr
  // fp16/bf16 sets: Q's rows widened (required); fp32 sets: null.
  WidenRowsFn widen_rows;
  // Optional, per code format (indexed by KvFormat; [plain] stays empty),
  // both or neither: qk and pv_rows over 1-byte K/V codes (unscaled),
  // widened as each vector is loaded. The pipelines multiply S's column j
  // by key j's K scale after qk, and P's column j by its V scale before
  // P·V. None: such rows are dequantized into a stage first (kv_runs.hpp)
  // and read by qk and pv_rows / pv_init / pv_acc.
  struct Codes {
    QkDirectFn qk = nullptr;
    PvDirectRowsFn pv_rows = nullptr;
  };
  std::array<Codes, kKvFormats> codes{};
  // CPU features these kernels need beyond their set's (e.g. int8 codes on
  // VNNI): a set lists such an entry before the one that serves without.
  std::uint32_t requires_cpu = kFeatureNone;
  // Calls of up to this many rows may span page pieces (RowsAfter::
  // in_place): qk, pv_rows and the codes' pair read their keys past the
  // first piece from `next`'s runs. The pipelines then hand a paged cache
  // over in calls of many pieces, not a call per piece (the list cut at the
  // call's last key where the stream setting does not prefetch across
  // pages). 0: none.
  int span_rows = 0;
  // One row's pv_rows (and the codes' pv_rows) reads a call of this many
  // keys or more as two streams, its halves side by side: the planner then
  // gives one-row blocks P·V calls twice as long (plan.cpp). 0: never.
  int pv_two_stream_keys = 0;
};

// Whether every code format's pair is whole or absent, [plain]'s absent.
constexpr bool code_pairs_whole(const FewRowKernels& f) {
  bool whole = !f.codes[0].qk && !f.codes[0].pv_rows;
  for (const FewRowKernels::Codes& c : f.codes) whole = whole && (c.qk == nullptr) == (c.pv_rows == nullptr);
  return whole;
}

// Whether f is a complete few-row interface for a set of dtype t, mr rows
// per strip, k_pack and packed element size as given: every kernel there,
// the P·V kernels covering 1..mr rows, widen_rows exactly for 16-bit inputs,
// each code format's pair whole or absent.
constexpr bool few_rows_complete(const FewRowKernels& f, DType t, int mr, int k_pack, std::size_t packed_elem) {
  const bool strips = f.pv_init && f.pv_acc ? f.pv_rows_max < mr : !f.pv_init && !f.pv_acc && f.pv_rows_max == mr;
  return f.name && f.qk && f.pv_rows && f.pv_rows_max >= 1 && f.pv_rows_max <= mr && strips &&
         (t == DType::f32) == (f.widen_rows == nullptr) && code_pairs_whole(f) &&
         k_pack == 1 && packed_elem == sizeof(float);
}

struct KernelSet {
  const char* name;           // e.g. "generic", "avx512", "sve512": what ATTNRT_ISA selects
  DType dtype;                // input dtype of Q, K, V this set packs
  std::uint32_t requires_cpu; // CpuFeature bits
  int mr;                     // rows of a micro-tile (Q rows = P rows)
  int nr;                     // S columns (keys) of a qk micro-tile
  int nv;                     // O columns of a pv micro-tile
  int k_pack;                 // packed k dimension is padded to a multiple of this
  std::size_t packed_elem;    // bytes of one packed element (4 fp32, 2 bf16/fp16)

  // ---- packing (zero-fill all padding) -------------------------------------
  // Q rows [rows x d] (row stride ld) -> ceil(rows/mr) A panels of [dp][mr].
  void (*pack_q)(const void* src, std::int64_t ld, int rows, int d, void* dst);
  // K rows [keys x d] -> ceil(keys/nr) B panels of [dp][nr].
  void (*pack_k)(const void* src, std::int64_t ld, int keys, int d, void* dst);
  // V rows [keys x dv] -> ceil(dv/nv) B panels of [kp][nv], kp = keys padded to k_pack.
  void (*pack_v)(const void* src, std::int64_t ld, int keys, int dv, void* dst);

  // ---- micro-kernels on whole tiles ----------------------------------------
  // S[mr x nr] = alpha * A·B over dp (padded D); S row stride lds.
  void (*qk)(int dp, const void* a, const void* b, float alpha, float* s, std::int64_t lds);
  // O[mr x nv] = A·B (init) or O += A·B (acc) over kp packed keys.
  void (*pv_init)(int kp, const void* a, const void* b, float* o, std::int64_t ldo);
  void (*pv_acc)(int kp, const void* a, const void* b, float* o, std::int64_t ldo);

  // ---- softmax pieces on an mr-row strip ----------------------------------
  // Both take the rows the caller needs, 1 <= rows <= mr: a strip of a few
  // real rows whose P·V is FewRowKernels::pv_rows (above), which reads no
  // other row of P, asks for those rows only (decode: 1 of 14); every other caller
  // asks for all mr. A set may compute rows past `rows` too (cheaper than
  // skipping them in a transposing kernel); what it writes there, in mx,
  // sum or P's rows, is then the caller's to ignore.
  // mx[r] = max(mx[r], S[r][0..cols)) for r < rows.
  void (*row_max)(const float* s, std::int64_t lds, int rows, int cols, float* mx);
  // P[r][c] = exp2(S[r][c] - m[r]) for c < cols, 0 for cols <= c < kp (kp =
  // cols padded to k_pack), r < rows; sum[r] += row sums; P is written as
  // one A panel [kp][mr] in the compute type (of pv_path(precision), below). m[r] is
  // finite (the pipeline substitutes 0 for rows whose max is -inf).
  // exp2(-inf) is exactly 0; NaN stays NaN. Results below 2^-126 (fp32
  // subnormals) may be flushed to 0: such a weight is below 2^-126 of the
  // row's largest and changes no fp32 sum.
  void (*exp2_rows)(const float* s, std::int64_t lds, int rows, int cols, const float* m,
                    float* sum, void* p_panel, Exp2Precision precision);
  // O[r][c] *= alpha[r] for r < mr, c < cols.
  void (*rescale)(float* o, std::int64_t ldo, int cols, const float* alpha);
  // out[r][c] = O[r][c] * inv_sum[r] for r < rows, c < cols, converted to
  // out_type (the dtype of the user's O) with row stride ld_out. Returns
  // whether any O[r][c] * inv_sum[r] was NaN or inf (in fp32, before the
  // conversion): the caller then looks for the rows (exact_rows.hpp).
  bool (*normalize)(const float* o, std::int64_t ldo, int rows, int cols, const float* inv_sum,
                    void* out, std::int64_t ld_out, DType out_type);

  // ---- optional: a cheaper P·V path for Exp2Precision::fast ---------------
  // Null pv_acc_fast means "same as pack_v / pv_init / pv_acc" (every set that
  // leaves these fields out). A set fills all four to let the fast precision
  // also cheapen P·V, e.g. SVE fp16 accumulating in fp16 (`_noepi`). On that
  // path P (written by exp2_rows given the fast precision) and the V panels
  // have elements of elem_fast bytes (<= packed_elem, so the P buffer and
  // v_panels_bytes cover them), in the same [kp][mr] and [kp][nv] layouts.
  // Pipelines must take pack_v, pv_init, pv_acc and the V panel element size
  // from pv_path(ks, precision) below, never from the fields above directly.
  void (*pack_v_fast)(const void* src, std::int64_t ld, int keys, int dv, void* dst) = nullptr;
  void (*pv_init_fast)(int kp, const void* a, const void* b, float* o, std::int64_t ldo) = nullptr;
  void (*pv_acc_fast)(int kp, const void* a, const void* b, float* o, std::int64_t ldo) = nullptr;
  std::size_t elem_fast = 0;  // <= packed_elem: workspaces are sized with packed_elem

  // ---- optional: a cheaper Q·Kᵀ path for Exp2Precision::fast --------------
  // Null qk_fast means "same as pack_q / pack_k / qk". A set fills all four
  // to let the fast precision cheapen Q·Kᵀ too, e.g. SVE fp16 summing in
  // fp16 (qk_fp16_12x2_fast). On that path the Q and K panels have elements
  // of qk_elem_fast bytes (<= packed_elem, so a_panels_bytes and
  // k_panels_bytes cover them) in layouts only qk_fast reads; S is fp32 as
  // ever. Pipelines must take pack_q, pack_k, qk and the Q/K panel element
  // size from qk_path(ks, precision) below, never from the fields directly.
  void (*pack_q_fast)(const void* src, std::int64_t ld, int rows, int d, void* dst) = nullptr;
  void (*pack_k_fast)(const void* src, std::int64_t ld, int keys, int d, void* dst) = nullptr;
  void (*qk_fast)(int dp, const void* a, const void* b, float alpha, float* s, std::int64_t lds) = nullptr;
  std::size_t qk_elem_fast = 0;

  // ---- optional: a mode the kernels need on their thread -------------------
  // Null = none. Whoever runs this set's kernels on a thread enters the mode
  // first and leaves it after, restoring exactly what was there (FpModeScope),
  // so the thread's own state is unchanged once the work returns. E.g. the
  // SVE fp16 sets set FZ16 (FPCR bit 19); amx_bf16 loads its tile
  // configuration, too costly to load per kernel call, and releases it.
  std::uint64_t (*fp_mode_enter)() = nullptr;
  void (*fp_mode_leave)(std::uint64_t saved) = nullptr;

  // ---- optional: the few-row (direct) path ----------------------------------
  // Its kernels, all of them or none (FewRowKernels below): empty = the
  // pipelines pack. Several entries are the same kernels built for other
  // stream settings (StreamParams); the plan takes the one the detected CPU's
  // row of kernels/tuning.hpp names (Blocking::few_rows), else the first.
  std::span<const FewRowKernels* const> few_rows{};
  // A set without the path may name instead the set whose few-row path
  // serves its few-row blocks: one of the same input dtype that needs no
  // CPU feature this one lacks. Such a block then runs on that set
  // throughout (the direct P·V reads P as that set's exp2_rows writes it),
  // e.g. avx512_bf16 (P in bf16 pairs) hands decode to avx512, which reads
  // the bf16 rows in place. Null: none (the pipelines pack).
  const KernelSet* (*few_rows_from)() = nullptr;
  // Blocks of more rows than this (a GQA group's rows stacked as one) stay
  // on this set, packed, where its tiles beat that set's reads in place
  // (amx_bf16). 0: the planner hands it every block it would read in place.
  int few_rows_from_max_rows = 0;

  // ---- optional: A panel blocking (see the top of this file) --------------
  int a_block = 0;  // k-columns per A panel block; 0 = k_pack

  // ---- optional: a set that is not the best on every CPU that runs it -----
  // Sets of a dtype are listed best first (registry.cpp), and the runtime
  // takes the first this CPU runs. A set whose arithmetic may be slower here
  // than the next set's measures the two once: outpaced() returns why the
  // next set is faster on this CPU (for ATTNRT_VERBOSE), or null when it is
  // not. Null pointer = never outpaced. ATTNRT_ISA naming the set skips it.
  const char* (*outpaced)() = nullptr;

  // ---- optional: a short strip's tiles --------------------------------------
  // For a strip of 1 <= rows < mr real rows (a row block's last): qk and
  // pv_init / pv_acc (accumulate) on rows [0, rows) only, the same
  // arithmetic as the full tiles' rows; no other row of A is read or of S
  // and O written. Null = the full tiles serve (computing mr rows).
  void (*qk_rows)(int rows, int dp, const void* a, const void* b, float alpha, float* s,
                  std::int64_t lds) = nullptr;
  void (*pv_rows)(int rows, int kp, const void* a, const void* b, float* o, std::int64_t ldo,
                  bool accumulate) = nullptr;
};

// Whether the set has the few-row (direct) path.
inline bool has_direct_kv(const KernelSet& ks) { return !ks.few_rows.empty(); }

// Whether every few-row entry of the set is complete for it (each set with
// the path static_asserts this; test_kernel_paths checks every registered set).
constexpr bool few_rows_complete(const KernelSet& ks) {
  for (const FewRowKernels* f : ks.few_rows)
    if (!f || !few_rows_complete(*f, ks.dtype, ks.mr, ks.k_pack, ks.packed_elem)) return false;
  return true;
}
// How a set asserts it at compile time. Sanitized builds leave it to the
// test: GCC's UBSan (no null-pointer-check deletion) does not fold a
// function's address compared with null in a constant expression.
#ifdef ATTNRT_SANITIZED
#define ATTNRT_ASSERT_FEW_ROWS_COMPLETE(...) static_assert(true)
#else
#define ATTNRT_ASSERT_FEW_ROWS_COMPLETE(...) static_assert(__VA_ARGS__)
#endif

// The P·V path a pipeline uses for precision `prec`: its V packer, kernels and
// the byte size of one element of P and of the V panels (for offsets).
struct PvPath {
  void (*pack_v)(const void* src, std::int64_t ld, int keys, int dv, void* dst);
  void (*pv_init)(int kp, const void* a, const void* b, float* o, std::int64_t ldo);
  void (*pv_acc)(int kp, const void* a, const void* b, float* o, std::int64_t ldo);
  std::size_t elem;
};
inline PvPath pv_path(const KernelSet& ks, Exp2Precision prec) {
  if (prec == Exp2Precision::fast && ks.pv_acc_fast)
    return {ks.pack_v_fast, ks.pv_init_fast, ks.pv_acc_fast, ks.elem_fast};
  return {ks.pack_v, ks.pv_init, ks.pv_acc, ks.packed_elem};
}

// The Q·Kᵀ path a pipeline uses for precision `prec`: its packers, kernel
// and the byte size of one element of the Q and K panels (for offsets).
struct QkPath {
  void (*pack_q)(const void* src, std::int64_t ld, int rows, int d, void* dst);
  void (*pack_k)(const void* src, std::int64_t ld, int keys, int d, void* dst);
  void (*qk)(int dp, const void* a, const void* b, float alpha, float* s, std::int64_t lds);
  std::size_t elem;
};
inline QkPath qk_path(const KernelSet& ks, Exp2Precision prec) {
  if (prec == Exp2Precision::fast && ks.qk_fast)
    return {ks.pack_q_fast, ks.pack_k_fast, ks.qk_fast, ks.qk_elem_fast};
  return {ks.pack_q, ks.pack_k, ks.qk, ks.packed_elem};
}

// Holds a set's floating-point mode for a scope on the current thread.
class FpModeScope {
 public:
  explicit FpModeScope(const KernelSet& ks)
      : leave_(ks.fp_mode_enter ? ks.fp_mode_leave : nullptr),
        saved_(ks.fp_mode_enter ? ks.fp_mode_enter() : 0) {}
  ~FpModeScope() {
    if (leave_) leave_(saved_);
  }
  FpModeScope(const FpModeScope&) = delete;
  FpModeScope& operator=(const FpModeScope&) = delete;

 private:
  void (*leave_)(std::uint64_t);
  std::uint64_t saved_;
};

// An ISA folder's sets for fp32, fp16 and bf16 inputs, in DType order (null
// where it has none). Folders export them as data (constinit), not as a
// function: the registry lists every set on every CPU, and code compiled
// with a folder's flags may use its instructions anywhere (SIGILL where the
// CPU lacks them, before any set is chosen).
using SetsByDtype = std::array<const KernelSet*, 3>;
inline const KernelSet* set_for(const SetsByDtype& sets, DType t) { return sets[static_cast<int>(t)]; }

// Padded sizes shared by packers, pipelines and workspace planning.
template <std::integral T>
constexpr T round_up(T x, std::type_identity_t<T> m) { return (x + m - 1) / m * m; }
inline std::size_t a_panels_bytes(const KernelSet& ks, int rows, int k) {
  return static_cast<std::size_t>(round_up(rows, ks.mr)) * round_up(k, ks.k_pack) * ks.packed_elem;
}
// k-columns per block of an A panel, and the index (in elements) of row r,
// column c of one A panel of k columns (k a multiple of k_pack) with mr rows
// in blocks of blk columns (kernels with both as constants call the first).
inline int a_block_of(const KernelSet& ks) { return ks.a_block > 0 ? ks.a_block : ks.k_pack; }
constexpr std::size_t a_panel_index(int mr, int blk, int r, int c, int k) {
  const int b0 = c / blk * blk;
  const int w = k - b0 < blk ? k - b0 : blk;
  return static_cast<std::size_t>(b0) * mr + static_cast<std::size_t>(r) * w + (c - b0);
}
inline std::size_t a_panel_index(const KernelSet& ks, int r, int c, int k) {
  return a_panel_index(ks.mr, a_block_of(ks), r, c, k);
}
inline std::size_t k_panels_bytes(const KernelSet& ks, int keys, int d) {
  return static_cast<std::size_t>(round_up(keys, ks.nr)) * round_up(d, ks.k_pack) * ks.packed_elem;
}
inline std::size_t v_panels_bytes(const KernelSet& ks, int keys, int dv) {
  return static_cast<std::size_t>(round_up(dv, ks.nv)) * round_up(keys, ks.k_pack) * ks.packed_elem;
}

}  // namespace attnrt::kernels
