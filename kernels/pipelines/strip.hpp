// What every pipeline does around its loop order, written once: the row
// block (packed Q, fp32 accumulators, running max and sum per row), the keys
// a strip of mr rows can see, Q·Kᵀ tiles with their finishing, the max and
// rescale bookkeeping, writing P, P·V over V panels, and the normalize + LSE
// epilogue. A pipeline is then only the order in which it calls these.
//
// K and V reach Q·Kᵀ and P·V through a KvSource: packed panels, or in the
// direct mode (Blocking::direct_kv) the user's rows, read in place by the
// set's few-row kernels (FewRowKernels, which widen fp16/bf16 ones as they
// load them); a row block in direct mode packs neither Q nor K nor V
// (fp16/bf16 Q rows are widened once, FewRowKernels::widen_rows), and the
// pipelines' loop orders do not change. Which path a row block takes, and
// with which kernels, is decided once in begin_row_block and recorded in
// RowBlock; the strips read the record.
//
// Key coordinates: S columns, K panels and V panels are all relative to a
// `key0` (the first key of a packed block or chunk); offsets handed between
// them are multiples of key_step(ks), so a qk tile never straddles two K
// panels and a P or V slice never splits a k_pack pair.
//
// Paged K/V (HeadProblem::pages) changes none of this: packers and direct
// kernels are called once per run of keys inside one page (kv_runs.hpp),
// at the panel or S column of the run's first key.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/pipelines/kv_share.hpp"
#include "kernels/pipelines/pipeline.hpp"
#include "kernels/pipelines/workspace_layout.hpp"

namespace attnrt::kernels {

struct KeyRange {
  std::int64_t lo, hi;
  bool empty() const { return lo >= hi; }
  KeyRange clip(std::int64_t a, std::int64_t b) const { return {std::max(lo, a), std::min(hi, b)}; }
};

// Keys some row of packed rows [r0, r1) sees, within the tile's key range.
KeyRange visible_keys(const HeadProblem& p, const Tile& t, int r0, int r1);

// Where the key blocks (or chunks) of `size` keys that cover `keys` start.
// Blocks sit on a grid fixed by the tile, never at the first key a row block
// happens to see: a row's sums then run in the same order however the rows
// are split among workers, so results do not depend on the thread count.
inline std::int64_t first_block(const Tile& t, KeyRange keys, int size) {
  return t.key_begin + (keys.lo - t.key_begin) / size * size;
}

struct Strip;
struct Cols;

// One row block's state, carved once per work item and reused by each of
// its row blocks.
struct RowBlock {
  std::byte* q_panels;  // A panels of the block's Q
  std::byte* q_gather;  // mb x d of the input dtype: Q rows with no single stride
  float* o;             // mb x ldo fp32 accumulators
  float* m;             // running max per row (log2 units)
  float* l;             // running sum per row
  bool* started;        // per strip: its accumulator holds a P·V result
  float* tmp;           // 4 x mr: inverse sums, -, rescale factors, new max
  float* m_safe;        // per row: the finite max exp2 subtracts (fold_max)
  double* o_bank;       // mb x ldo: o's sums banked in double (bank_sums)
  double* l_bank;       // per row: l banked
  float* m_bank;        // per row: the max both are relative to (-inf: empty)
  Strip* strips;        // per strip: the strips of a group in step (group_scores)
  Cols* cols;           //   and their S columns
  std::byte* kv_stage;  // a paged quantum that straddles a page, or a dequantized chunk (kv_runs.hpp)
  std::int64_t ldo;     // dv rounded up to nv
  PvPath pv;            // the P·V path of the problem's precision (direct: accurate)
  QkPath qk;            // and its Q·Kᵀ path
  Exp2Precision exp2;   // what exp2_rows writes P for: the problem's precision,
                        // or accurate where pv is not that precision's path
  int nb;
  int dv;
  int r0, r1;           // packed rows of the block in use
  // The block's path, decided once (begin_row_block): packed, or direct
  // with the few-row kernels `few` (Q, K and V read in place; the block's Q
  // rows start at q_rows with row stride ldq_rows: the user's, or gathered
  // into q_gather), int8/fp8 K/V read as codes where `codes` (few->codes
  // of the format), else dequantized into a stage. Packed: whether a short
  // strip (a block's last) may run the set's own short tiles (short_tiles:
  // KernelSet::qk_rows / pv_rows, on the accurate paths they go with).
  const FewRowKernels* few;
  bool direct() const { return few != nullptr; }
  bool codes;
  bool short_tiles;
  const float* q_rows;
  std::int64_t ldq_rows;
};

void carve_row_block(Carver& c, const KernelSet& ks, int d, int dv, const Blocking& b,
                     RowBlock* rb);
// Its banks (below), carved last: they are touched once every many keys,
// and the buffers a pipeline reads every block keep their places.
void carve_banks(Carver& c, const KernelSet& ks, const Blocking& b, RowBlock* rb);

// The few-row kernels a pipeline that supports them reads K and V rows
// directly with for `p` in a row block of `rows` rows under blocking b, or
// null (it packs): b asks for it, the set has the kernels (those b names,
// else its first entry), and either P takes the accurate (fp32) P·V path
// anyway or the block is few-row (rows <= pv_rows_max: decode, a small GQA
// group). A fast P·V path (SVE fp16's noepi) then gives way to the direct
// one: it would pack K and V and compute mr padded rows for one, twice the
// memory traffic of a bandwidth-bound block; on whole strips it stays
// (estimated faster there: bench/mca/model.py).
const FewRowKernels* direct_kernels(const KernelSet& ks, const HeadProblem& p, const Blocking& b, int rows);
inline bool direct_kv(const KernelSet& ks, const HeadProblem& p, const Blocking& b, int rows) {
  return direct_kernels(ks, p, b, rows) != nullptr;
}

// Starts row block [r0, r1) (at most mb rows) in direct mode with the
// few-row kernels `few` (direct_kernels()), or packed (null): packs its Q
// (direct: finds its rows), empties its accumulators and statistics, and
// records the block's path (RowBlock). A direct block takes the accurate
// P·V and Q·Kᵀ paths (rb->pv, rb->qk: fp32 P, which the direct P·V reads)
// at any precision, and where the problem's fast P·V path differs, the
// accurate exp2 too (rb->exp2: exp2_rows writes P for that path).
void begin_row_block(const KernelSet& ks, const HeadProblem& p, const FewRowKernels* few, int r0, int r1,
                     RowBlock* rb);

// The fp32 accumulators take each key's P·V term against the row's sum so
// far, so over a row of many keys they drift, up to n x 2^-24 relative
// where every term rounds the same way (keys of equal weight: 5e-4 at 2^18
// keys read in place). So the sums are banked in double and started again
// from 0 as a row's keys pass multiples of a key count (key indices of the
// head: where a row block or a strip starts never moves them). The direct
// P·V is cut and banked past each multiple of kDirectBankKeys (strips_pv);
// the packed pipelines, which drift less (2^18 such keys stayed within
// fp32's test bound unbanked), at the first block start past a multiple
// of kBankKeys (blocks sit on the tile's grid).
inline constexpr std::int64_t kBankKeys = 8192, kDirectBankKeys = 1024;
// Whether keys [a, b) pass a multiple of `every` (b itself counts, a not).
inline bool bank_due(std::int64_t a, std::int64_t b, std::int64_t every) {
  return a >= 0 && b / every > a / every;
}
// Adds a strip's l, and its o once its P·V has begun, into the bank
// (scaled to the row's max now) and sets them to 0; bank_sums: every
// strip of the block.
void bank_strip(const RowBlock& rb, const Strip& s);
void bank_sums(const KernelSet& ks, const RowBlock& rb);

// Normalizes the block's accumulators into the user's O and writes LSE
// (natural log), with the head's sink in the denominator where the tile
// starts at key 0. Rows that saw no key get O = 0 and LSE = -inf (or the
// sink).
void end_row_block(const KernelSet& ks, const HeadProblem& p, const Tile& t, RowBlock* rb);

// One mr-row strip of the block in use.
struct Strip {
  int r0, rows;          // packed rows [r0, r0 + rows), rows <= mr
  const std::byte* q;    // its Q panel (not direct)
  const float* q_rows;   // direct: its first Q row; row stride RowBlock::ldq_rows
  float* o;              // mr x ldo accumulator
  float* m;              // mr running max
  float* l;              // mr running sum
  bool* started;
  KeyRange keys;         // keys some of its rows sees, within the tile
};

inline int strip_count(const KernelSet& ks, const RowBlock& rb) {
  return (rb.r1 - rb.r0 + ks.mr - 1) / ks.mr;
}
Strip strip_of(const KernelSet& ks, const HeadProblem& p, const Tile& t, const RowBlock& rb,
               int st);

// Where the K and V of keys from key0 come from: packed panels (key c at
// panel column c; V panels hold v_keys packed keys each), or in direct mode
// the problem's rows in place, of its dtype (dense or paged: kv_runs.hpp).
struct KvSource {
  std::int64_t key0;
  const std::byte* k_panels;  // packed
  const std::byte* v_panels;
  int v_keys;
  const HeadProblem* rows = nullptr;  // direct (null otherwise)
  std::byte* stage = nullptr;         // direct: RowBlock::kv_stage (paged or quantized K/V)
  KvShare* share = nullptr;           // packed: where shared panels came from, and
  KvLease k_lease{}, v_lease{};       //   the leases unstage_kv gives back
  bool direct() const { return rows != nullptr; }
};

inline KvSource packed_kv(std::int64_t key0, const std::byte* k_panels, const std::byte* v_panels,
                          int v_keys) {
  return {key0, k_panels, v_panels, v_keys};
}

// The K/V source of keys [key0, key0 + keys) for the row block: its rows in
// place in direct mode, else K and V packed: by another core into `share`
// (when given and it has them), or into the given panels (which hold `keys`
// keys). unstage_kv ends its use.
KvSource stage_kv(const KernelSet& ks, const HeadProblem& p, const RowBlock& rb,
                  std::int64_t key0, int keys, std::byte* k_panels, std::byte* v_panels,
                  KvShare* share);
void unstage_kv(const KvSource& kv);

// Packed panels of `side` for keys [key0, key0 + keys) (pack_k_rows,
// pack_v_rows): from `share` where another core packed them, packed into it
// for the others, or packed into `own`. share->release(*lease) once read.
const std::byte* pack_side(const KernelSet& ks, const HeadProblem& p, KvShare* share, KvSide side,
                           std::int64_t key0, int keys, std::byte* own, std::byte* stage, KvLease* lease);

// S columns [c0, c1) of a strip hold finished scores (log2 units, -inf
// where masked) for keys key0 + c0 .. key0 + c1.
struct Cols {
  int c0, c1;
  int count() const { return c1 - c0; }
};

// The S columns (relative to key0) that hold keys: from the key step (nr
// tile and k_pack group) holding the first key to the last key; empty for
// no keys.
inline Cols cols_of(const KernelSet& ks, KeyRange keys, std::int64_t key0) {
  if (keys.empty()) return {0, 0};
  const int step = key_step(ks);
  return {static_cast<int>(keys.lo - key0) / step * step, static_cast<int>(keys.hi - key0)};
}

// Q·Kᵀ for the strip's keys `keys` (inside the keys kv holds) into S
// (column c = key kv.key0 + c): from the nr tile holding keys.lo to keys.hi
// (packed: whole nr tiles), then softcap, bias and masks on the tiles that
// need them. Rows past s.rows hold finite values (0 in direct mode).
Cols strip_scores(const KernelSet& ks, const HeadProblem& p, const Tile& t, const Strip& s,
                  const RowBlock& rb, const KvSource& kv, KeyRange keys, float* sc,
                  std::int64_t lds);

// Keys per direct P·V call (V rows read in place) of a strip alone
// (strip_pv's loop over FewRowKernels::pv_init / pv_acc): each call loads and stores its
// O accumulators once per column slice, so more keys per call cost fewer
// of those (A64FX S4, B1 H2 M12 N32768 D256 fp32, estimated by
// bench/mca/model.py: 83.3 -> 86.8% of the peak from 16 to 32 keys; x86
// attnrt-ab unchanged). When the strips of a group take turns
// (strips_pv), kDirectPvTurnKeys keys per turn, whose V rows stay in L1
// from the first strip to the last. A call's P starts at a block of the A
// panel (p_offset), so every set with the direct path has an a_block that
// divides both (test_kernel_sets).
inline constexpr int kDirectPvKeys = 32;
inline constexpr int kDirectPvTurnKeys = 16;

// Whether the strip's P·V is the few-row kernel of its row count (direct
// mode, FewRowKernels::pv_rows), which reads the strip's real rows of P only.
inline bool few_rows_pv(const RowBlock& rb, int strip_rows) {
  return rb.direct() && strip_rows <= rb.few->pv_rows_max;
}
inline bool few_rows_pv(const RowBlock& rb, const Strip& s) { return few_rows_pv(rb, s.rows); }

// Whether a short strip (a row block's last) runs its packed Q·Kᵀ and P·V
// on its real rows only (KernelSet::qk_rows, pv_rows: RowBlock::short_tiles).
inline bool short_strip_tiles(const KernelSet& ks, const RowBlock& rb, const Strip& s) {
  return rb.short_tiles && s.rows < ks.mr;
}

// Rows of the strip its softmax computes (row_max, exp2_rows, fold_max):
// only the real ones where nothing reads the others (decode: 1 of mr; a
// short strip on its own tiles), else all mr, which the P·V tiles read.
inline int softmax_rows(const KernelSet& ks, const RowBlock& rb, const Strip& s) {
  return few_rows_pv(rb, s) || short_strip_tiles(ks, rb, s) ? s.rows : ks.mr;
}

// Row max bookkeeping. fold_max() folds a new max m_new (>= the running
// one, mr rows) into the strip's statistics, rescaling the running sum and,
// where the max moved, the started accumulator; it returns the finite max
// exp2 must subtract (0 for rows still at -inf): safe_max(), valid until
// the strip's next call. update_max() does the same for the new scores
// S[0..mr)[0..cols) at sc.
const float* fold_max(const KernelSet& ks, const Strip& s, const RowBlock& rb,
                      const float* m_new);
const float* update_max(const KernelSet& ks, const Strip& s, const RowBlock& rb, const float* sc,
                        std::int64_t lds, int cols);
inline const float* safe_max(const RowBlock& rb, const Strip& s) { return rb.m_safe + (s.r0 - rb.r0); }

// The finishing half of strip_scores (softcap, bias, masks), for S the
// caller computed: block_scores below.
Cols finish_strip_scores(const KernelSet& ks, const HeadProblem& p, const Tile& t, const Strip& s,
                         std::int64_t key0, KeyRange keys, float* sc, std::int64_t lds);

// Strips in step. In direct mode all strips of a row block move together,
// so that each K and V row is read from memory once for all of them and
// their work overlaps the reads (strip by strip, the first strip would wait
// on memory and the others on nothing); packed, one strip at a time.
// Strip i's S tile (mr rows of stride lds) in a buffer holding several.
inline float* strip_s(const KernelSet& ks, float* s, std::int64_t lds, int i) {
  return s + static_cast<std::int64_t>(i) * ks.mr * lds;
}

inline int strips_in_step(const KernelSet& ks, const RowBlock& rb) {
  return rb.direct() ? strip_count(ks, rb) : 1;
}

// Finished scores (as strip_scores) of strips [st0, st0 + n) for their keys
// within [k0, k1) of kv: strip i's S at sc + i * mr * lds; rb.strips[i] and
// rb.cols[i] say which strip and S columns (empty when it sees none of these
// keys). Direct: one FewRowKernels::qk call for all their rows. Returns whether some
// strip has keys.
bool group_scores(const KernelSet& ks, const HeadProblem& p, const Tile& t, const RowBlock& rb,
                  const KvSource& kv, std::int64_t k0, std::int64_t k1, int st0, int n, float* sc,
                  std::int64_t lds);

// P·V of the group's n strips (rb.strips, with S columns c[i] and the P panel
// of columns c[i] at p_panels + i * p_stride), a few keys at a time across
// the strips when n > 1.
void strips_pv(const KernelSet& ks, const RowBlock& rb, const Cols* c, int n,
               const std::byte* p_panels, std::size_t p_stride, const KvSource& kv);

// P panel (columns [0, cols) of S at sc, padded to k_pack) for the strip:
// exp2(S - m_safe) with row sums added to s.l, at rb.exp2.
void write_p(const KernelSet& ks, const Strip& s, const RowBlock& rb,
             const float* sc, std::int64_t lds, int cols, const float* m_safe, std::byte* p_panel);

// The strip's O (+)= P·V for kp packed keys: P panel at p_panel, V of the
// keys from column v_key of kv.
void strip_pv(const KernelSet& ks, const Strip& s, const RowBlock& rb, int kp,
              const std::byte* p_panel, const KvSource& kv, int v_key);

// The P·V and Q·Kᵀ paths a problem takes: the fast ones only for fast precision.
inline PvPath pv_path_of(const KernelSet& ks, const HeadProblem& p) { return pv_path(ks, p.precision); }
inline QkPath qk_path_of(const KernelSet& ks, const HeadProblem& p) { return qk_path(ks, p.precision); }

// Bytes of one mr-row Q panel, and of one nr-key K panel, of d columns on
// the block's Q·Kᵀ path.
inline std::size_t q_panel_bytes(const KernelSet& ks, const RowBlock& rb, int d) {
  return static_cast<std::size_t>(ks.mr) * round_up(d, ks.k_pack) * rb.qk.elem;
}
inline std::size_t k_panel_bytes(const KernelSet& ks, const RowBlock& rb, int d) {
  return static_cast<std::size_t>(ks.nr) * round_up(d, ks.k_pack) * rb.qk.elem;
}

// Byte offset of key column c inside a P panel or a V panel of the block's
// P·V path.
inline std::size_t p_offset(const KernelSet& ks, const RowBlock& rb, int c) {
  return static_cast<std::size_t>(c) * ks.mr * rb.pv.elem;
}
inline std::size_t v_offset(const KernelSet& ks, const RowBlock& rb, int c) {
  return static_cast<std::size_t>(c) * ks.nv * rb.pv.elem;
}

// Packs K (resp. V) rows [key0, key0 + keys) into K (V) panels; paged
// rows run by run, with `stage` (RowBlock::kv_stage) for a panel's quantum
// that straddles two pages.
void pack_k_rows(const KernelSet& ks, const HeadProblem& p, std::int64_t key0, int keys,
                 std::byte* k_panels, std::byte* stage);
void pack_v_rows(const KernelSet& ks, const HeadProblem& p, std::int64_t key0, int keys,
                 std::byte* v_panels, std::byte* stage);

}  // namespace attnrt::kernels
