// Splitting one call's work over the workers: a pure function of the shape,
// the plan's line size and the placement (machine and allowed cores). It
// depends on nothing that varies between runs, so a call's arithmetic is the
// same whichever thread runs what and however many callers are active.
//
// All work is laid out as one sequence: units (a query head, or a whole
// (batch, KV head) group when stacked) in (batch, KV head, query head) order;
// within a unit, lines of `rows_per_line` query rows; within a line, keys.
// In a varlen call a batch is a sequence with its own rows and keys, so
// units differ in lines and cost; the cut by work is the same.
// The sequence is cut into equal amounts of work by the cost model
// (cost.hpp). First it is cut into one range per domain, in proportion to
// the domain's workers, on a (batch, KV head) group boundary where that
// costs little balance, so a KV head's readers share one domain's L2; then
// each domain's range is cut into one part per worker. With fewer groups than
// domains a group's rows are split across domains; where a part boundary
// falls inside a line (decode, skinny and small shapes), the keys of that line
// are split: each side is a split-KV piece whose partial O and LSE are merged
// later, in key order. A split costs its line's partial rows (written, read,
// merged: a few percent of a prefill call on AMX tiles), so a boundary moves
// to a line start where that costs little balance: within 0.75% of a part's
// work, or within a quarter of it between two parts of one worker.
//
// Each worker's share may be cut into a few parts (parts_per_worker) that any
// worker of its domain may run: a worker slowed by other load then leaves
// parts to the others, and since the parts do not depend on who runs them,
// neither do the results.
//
// No allocation: the caller provides state_bytes(workers, parts_per_worker)
// bytes of storage.
#pragma once

#include <cstddef>
#include <cstdint>

#include "scheduler/function_ref.hpp"
#include "scheduler/placement.hpp"
#include "scheduler/work.hpp"

namespace attnrt::scheduler {

struct PartitionOptions {
  int rows_per_line = 64;     // query rows of a line: the plan's row block
  int key_quantum = 1;        // split keys on multiples of this where it costs little balance
  bool stack_group = false;   // a unit is a whole (batch, KV head) group (grouped decode)
  bool split_keys = true;     // false: parts end on line boundaries only (no split-KV pieces)
  double min_part_cost = 64;  // use fewer workers rather than give one less work than this
  int parts_per_worker = 2;   // parts each worker's share is cut into, when there is enough work
                              // and its domain has another worker to take one
};

// A point of the work sequence: the start of line `line` of unit `unit`
// (key == 0) or a split of that line before key `key`.
struct Cut {
  std::int64_t unit, line, key;
  double before;  // work before this point
};

class Partition {
 public:
  static std::size_t state_bytes(int workers, int parts_per_worker);

  Partition(const ProblemShape& shape, const PartitionOptions& options, const Placement& placement,
            void* state);

  // The parts: parts_per_worker() consecutive ones per worker, for workers
  // [0, parts() / parts_per_worker()). Part p belongs to the domain of
  // worker p / parts_per_worker().
  int parts() const { return parts_; }
  int parts_per_worker() const { return per_worker_; }
  int workers() const { return workers_; }
  double total_cost() const { return cuts_[parts_].before; }
  double cost(int part) const { return part < parts_ ? cuts_[part + 1].before - cuts_[part].before : 0; }
  // The most work on one worker (its parts together) over the mean over all
  // workers (1 is perfect).
  double balance() const;
  const Cut& cut(int i) const { return cuts_[i]; }

  // Whether two of parts [first, end) hold rows of one (batch, KV head)
  // group that read the same keys: other query heads of the group, or
  // other lines of the head (a domain's parts run in order, so its workers
  // are on neighbouring parts at once). A line split by keys alone (one
  // line per head: S4, decode) does not count: its pieces read other keys.
  bool splits_group(int first, int end) const;

  // The items of a part, in sequence order.
  void for_each_item(int part, FunctionRef<void(const WorkItem&)> f) const;

  // Split-KV pieces. Part p owns at most two: slot 2p (its first line, when
  // it starts inside one) and 2p + 1 (its last line, when it ends inside
  // one). A split line has an id; for_each_piece lists its pieces' slots in
  // key order, which is the order they must be merged in.
  int slots() const { return 2 * parts_; }
  int rows_per_piece() const { return piece_rows_; }  // rows x heads of a piece, at most
  void for_each_split_line(FunctionRef<void(int line, int pieces)> f) const;
  void for_each_piece(int line, FunctionRef<void(int slot, int key_begin, int key_end)> f) const;

 private:
  void item_of_unit(std::int64_t unit, std::int64_t row_begin, std::int64_t row_end, std::int64_t key_begin,
                    std::int64_t key_end, int piece, int line, FunctionRef<void(const WorkItem&)> f) const;
  bool same_line(const Cut& a, const Cut& b) const { return a.unit == b.unit && a.line == b.line; }
  std::int64_t keys_of_unit(std::int64_t unit) const;
  std::int64_t rows_of_unit(std::int64_t unit) const;

  ProblemShape shape_;
  int rows_per_line_;
  std::int64_t group_;           // query heads per KV head
  std::int64_t units_per_group_; // 1 when stacked, else group_
  int workers_, per_worker_, parts_, piece_rows_;
  Cut* cuts_;       // [parts_ + 1]
  int* first_cut_;  // per cut inside a line: the first cut of that line (its line id)
  int* pieces_;     // per line id: how many pieces
};

}  // namespace attnrt::scheduler
