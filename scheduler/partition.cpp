#include "scheduler/partition.hpp"

#include <algorithm>
#include <cmath>

#include "scheduler/cost.hpp"

namespace attnrt::scheduler {
namespace {

// How far a cut may move from its exact place, as a share of the mean work
// per part, to land on a better boundary. A domain boundary that moves by x
// changes the mean of its domain's parts by x / (parts of the domain), so
// Planner::settle_domain scales its tolerance by the smaller domain's parts.
// Together they keep the balance within a few percent.
constexpr double kLineSnap = 0.0075;  // to a line start: no split-KV
// A boundary between two parts of one worker moves further: it changes the
// worker's share only when another worker takes one of the parts.
constexpr double kInnerSnap = 0.25;
constexpr double kDomainSnap = 0.01;  // to a (batch, KV head) group start: no KV head read by two domains

// The sequence's layout and its cost, everything in closed form.
class Geometry {
 public:
  Geometry(const ProblemShape& s, const PartitionOptions& o)
      : s_(s),
        q_(std::max(1, o.rows_per_line)),
        group_(s.heads / s.kv_heads),
        upg_(o.stack_group ? 1 : group_),
        heads_per_unit_(o.stack_group ? group_ : 1),
        units_per_batch_(s.kv_heads * upg_) {}

  std::int64_t batches() const { return s_.batch; }
  std::int64_t units() const { return s_.batch * units_per_batch_; }
  std::int64_t units_per_batch() const { return units_per_batch_; }
  std::int64_t units_per_group() const { return upg_; }
  // Lines of a unit of batch b: all batches alike but in a varlen call.
  std::int64_t lines(std::int64_t b) const { return (s_.rows_of(b) + q_ - 1) / q_; }
  std::int64_t keys(std::int64_t b) const { return s_.keys_of(b); }
  std::int64_t line_rows(std::int64_t b, std::int64_t l) const {
    return std::min(s_.rows_of(b), (l + 1) * q_) - l * q_;
  }
  double heads_per_unit() const { return static_cast<double>(heads_per_unit_); }

  double unit_cost(std::int64_t b) const { return lines_cost(b, lines(b)); }
  // Work of lines [0, l) of a unit of batch b.
  double lines_cost(std::int64_t b, std::int64_t l) const {
    return heads_per_unit() * visible_entries(s_, b, 0, std::min(s_.rows_of(b), l * q_), 0, keys(b));
  }
  // Work of keys [0, k) of line l of a unit of batch b.
  double key_cost(std::int64_t b, std::int64_t l, std::int64_t k) const {
    return heads_per_unit() * visible_entries(s_, b, l * q_, l * q_ + line_rows(b, l), 0, k);
  }

 private:
  const ProblemShape& s_;
  std::int64_t q_, group_, upg_, heads_per_unit_, units_per_batch_;
};

// Where a target amount of work falls, with what is needed to move it.
struct Located {
  Cut cut;                        // the first point with at least the target before it
  std::int64_t batch;             // of cut.unit (batch count at the end)
  double batch_start;             // work before that batch
  double line_start, line_end;    // work before and after cut's line, when cut.key > 0
};

// Finds points for increasing targets, walking the batches once.
class Walker {
 public:
  explicit Walker(const Geometry& g) : g_(g) { enter(0, 0); }

  Located locate(double target) {
    const std::int64_t B = g_.batches();
    while (b_ < B && start_ + batch_cost_ < target) enter(b_ + 1, start_ + batch_cost_);
    if (b_ == B) return {{g_.units(), 0, 0, start_}, b_, start_, 0, 0};
    const std::int64_t ub = g_.units_per_batch(), u0 = b_ * ub;
    const double rest = target - start_;
    if (rest <= 0 || unit_cost_ <= 0) return boundary(u0, 0, start_);
    const std::int64_t j = std::min<std::int64_t>(ub, static_cast<std::int64_t>(rest / unit_cost_));
    const double unit_start = start_ + static_cast<double>(j) * unit_cost_;
    const double in_unit = target - unit_start;
    if (j == ub || in_unit <= 0) return boundary(u0 + j, 0, unit_start);
    if (in_unit >= unit_cost_) return boundary(u0 + j + 1, 0, unit_start + unit_cost_);

    // The first line end at or past the target.
    std::int64_t lo = 1, hi = g_.lines(b_);
    while (lo < hi) {
      const std::int64_t mid = lo + (hi - lo) / 2;
      if (g_.lines_cost(b_, mid) >= in_unit) hi = mid;
      else lo = mid + 1;
    }
    const double before_line = g_.lines_cost(b_, lo - 1);
    const double line_end = g_.lines_cost(b_, lo);
    if (line_end == in_unit) return boundary(u0 + j, lo, unit_start + line_end);

    // Inside line lo - 1: the key whose prefix comes nearest the target.
    const std::int64_t l = lo - 1, n = g_.keys(b_);
    const double in_line = in_unit - before_line;
    std::int64_t klo = 1, khi = n;
    while (klo < khi) {
      const std::int64_t mid = klo + (khi - klo) / 2;
      if (g_.key_cost(b_, l, mid) >= in_line) khi = mid;
      else klo = mid + 1;
    }
    std::int64_t k = klo;
    if (k >= n) return boundary(u0 + j, lo, unit_start + line_end);
    if (k > 1 && in_line - g_.key_cost(b_, l, k - 1) < g_.key_cost(b_, l, k) - in_line) --k;
    return {{u0 + j, l, k, unit_start + before_line + g_.key_cost(b_, l, k)}, b_, start_,
            unit_start + before_line, unit_start + line_end};
  }

 private:
  void enter(std::int64_t b, double start) {
    b_ = b;
    start_ = start;
    unit_cost_ = b < g_.batches() ? g_.unit_cost(b) : 0;
    batch_cost_ = unit_cost_ * static_cast<double>(g_.units_per_batch());
  }
  // The start of line l of unit u (the next unit's start after its last line).
  Located boundary(std::int64_t u, std::int64_t l, double before) const {
    if (l > 0 && l == g_.lines(b_)) ++u, l = 0;
    return {{u, l, 0, before}, b_, start_, before, before};
  }

  const Geometry& g_;
  std::int64_t b_ = 0;
  double start_ = 0, unit_cost_ = 0, batch_cost_ = 0;
};

bool before(const Cut& a, const Cut& b) {
  if (a.unit != b.unit) return a.unit < b.unit;
  if (a.line != b.line) return a.line < b.line;
  return a.key < b.key;
}

class Planner {
 public:
  Planner(const Geometry& g, const PartitionOptions& o, double mean) : g_(g), o_(o), mean_(mean) {}

  // A part boundary: on a line start if that is close, else a key split,
  // rounded to the key quantum if that is close.
  // inner: a boundary between two parts of one worker.
  Cut settle(const Located& x, double target, bool inner = false) const {
    const double tol = (inner ? kInnerSnap : kLineSnap) * mean_;
    if (x.cut.key == 0) return x.cut;
    if (!o_.split_keys) return target - x.line_start <= x.line_end - target ? line_start(x) : next_line(x);
    if (target - x.line_start <= tol) return line_start(x);
    if (x.line_end - target <= tol) return next_line(x);
    Cut c = x.cut;
    const double per_key = g_.heads_per_unit() * static_cast<double>(g_.line_rows(x.batch, c.line));
    const std::int64_t q = o_.key_quantum;
    if (q > 1 && per_key * static_cast<double>(q) <= 2 * tol) {
      c.key = (c.key + q / 2) / q * q;
      const std::int64_t n = g_.keys(x.batch);
      if (c.key >= n) return next_line(x);
      c.before = x.line_start + g_.key_cost(x.batch, c.line, c.key);
    }
    // A split where one side sees no key is no split.
    if (c.key == 0 || c.before <= x.line_start) return line_start(x);
    if (c.before >= x.line_end) return next_line(x);
    return c;
  }

  // A domain boundary: on a (batch, KV head) group start if that is close
  // enough for both domains it separates, else as any part boundary.
  Cut settle_domain(const Located& x, double target, int parts_left, int parts_right) const {
    const Cut& c = x.cut;
    const std::int64_t ub = g_.units_per_batch(), upg = g_.units_per_group();
    if (c.unit < g_.units() && !(c.line == 0 && c.key == 0 && c.unit % upg == 0)) {
      const double tol = kDomainSnap * mean_ * std::min(parts_left, parts_right);
      const std::int64_t u0 = x.batch * ub;
      const std::int64_t lo = u0 + (c.unit - u0) / upg * upg, hi = lo + upg;
      const double unit_cost = g_.unit_cost(x.batch);
      const double at_lo = x.batch_start + static_cast<double>(lo - u0) * unit_cost;
      const double at_hi = x.batch_start + static_cast<double>(hi - u0) * unit_cost;
      const bool lo_ok = target - at_lo <= tol, hi_ok = at_hi - target <= tol;
      if (lo_ok && (!hi_ok || target - at_lo <= at_hi - target)) return {lo, 0, 0, at_lo};
      if (hi_ok) return {hi, 0, 0, at_hi};
    }
    return settle(x, target);
  }

 private:
  Cut line_start(const Located& x) const { return {x.cut.unit, x.cut.line, 0, x.line_start}; }
  Cut next_line(const Located& x) const {
    if (x.cut.line + 1 == g_.lines(x.batch)) return {x.cut.unit + 1, 0, 0, x.line_end};
    return {x.cut.unit, x.cut.line + 1, 0, x.line_end};
  }

  const Geometry& g_;
  const PartitionOptions& o_;
  double mean_;
};

}  // namespace

std::size_t Partition::state_bytes(int workers, int parts_per_worker) {
  const std::size_t n = static_cast<std::size_t>(workers) * std::max(1, parts_per_worker) + 1;
  return n * sizeof(Cut) + 2 * n * sizeof(int);
}

Partition::Partition(const ProblemShape& shape, const PartitionOptions& options, const Placement& placement,
                     void* state)
    : shape_(shape),
      rows_per_line_(std::max(1, options.rows_per_line)),
      group_(shape.heads / shape.kv_heads),
      units_per_group_(options.stack_group ? 1 : group_),
      workers_(placement.workers()) {
  const std::size_t n = static_cast<std::size_t>(workers_) * std::max(1, options.parts_per_worker) + 1;
  cuts_ = static_cast<Cut*>(state);
  first_cut_ = reinterpret_cast<int*>(cuts_ + n);
  pieces_ = first_cut_ + n;
  piece_rows_ = static_cast<int>(std::min<std::int64_t>(rows_per_line_, shape.rows) *
                                 (options.stack_group ? group_ : 1));

  const Geometry g(shape_, options);
  double total = 0;
  for (std::int64_t b = 0; b < shape.batch; ++b) total += g.unit_cost(b) * static_cast<double>(g.units_per_batch());
  // Every used worker gets the same number of parts; fewer parts per worker,
  // then fewer workers, when the work is small. More than one part per
  // worker only pays where a domain has another worker to take a part: alone
  // in its domain, a worker would run them all itself, and a part boundary
  // inside a line would only cost a split-KV merge.
  const double want = std::floor(total / std::max(1.0, options.min_part_cost));
  const int domains = static_cast<int>(placement.machine().domains().size());
  int most_in_domain = 0;
  for (int d = 0; d < domains; ++d) most_in_domain = std::max(most_in_domain, placement.workers_in(d));
  const double most_per_worker = most_in_domain > 1 ? std::max(1, options.parts_per_worker) : 1;
  per_worker_ = static_cast<int>(std::clamp(std::floor(want / workers_), 1.0, most_per_worker));
  const int used = per_worker_ > 1 ? workers_ : static_cast<int>(std::clamp(want, 1.0, 1.0 * workers_));
  parts_ = used * per_worker_;
  const double mean = total / parts_;

  // Workers [0, parts_) by domain: the used domains' ranges of parts, in order.
  auto range_from = [&](int d, int* first, int* end) {  // the next used domain from d on
    for (; d < domains; ++d) {
      *first = placement.first_worker(d) * per_worker_;
      *end = std::min(parts_, *first + placement.workers_in(d) * per_worker_);
      if (*end > *first) return d;
    }
    return domains;
  };

  const Planner plan(g, options, mean);
  Walker domain_walk(g), part_walk(g);
  cuts_[0] = {0, 0, 0, 0};
  cuts_[parts_] = {g.units(), 0, 0, total};
  int first = 0, end = 0;
  for (int d = range_from(0, &first, &end); d < domains;) {
    int next_first = parts_, next_end = parts_;
    const int next = range_from(d + 1, &next_first, &next_end);
    if (next < domains) {
      const double target = total * next_first / parts_;
      Cut c = plan.settle_domain(domain_walk.locate(target), target, end - first, next_end - next_first);
      if (before(c, cuts_[first])) c = cuts_[first];
      cuts_[next_first] = c;
    }
    const Cut lo = cuts_[first], hi = cuts_[end];
    for (int i = first + 1; i < end; ++i) {
      const double target = lo.before + (hi.before - lo.before) * (i - first) / (end - first);
      Cut c = plan.settle(part_walk.locate(target), target, i % per_worker_ != 0);
      if (before(c, cuts_[i - 1])) c = cuts_[i - 1];
      if (before(hi, c)) c = hi;
      cuts_[i] = c;
    }
    d = next, first = next_first, end = next_end;
  }

  // Split lines: a line's id is the index of its first cut; it has one piece
  // more than it has distinct cuts.
  for (int i = 0; i <= parts_; ++i) first_cut_[i] = -1, pieces_[i] = 0;
  for (int i = 1; i < parts_; ++i) {
    if (cuts_[i].key == 0) continue;
    const bool continues = cuts_[i - 1].key > 0 && same_line(cuts_[i - 1], cuts_[i]);
    first_cut_[i] = continues ? first_cut_[i - 1] : i;
    if (!continues) pieces_[i] = 1;
    if (before(cuts_[i], cuts_[i + 1])) ++pieces_[first_cut_[i]];
  }
}

double Partition::balance() const {
  const double total = total_cost();
  if (total <= 0) return 1.0;
  double most = 0;
  for (int p = 0; p < parts_; p += per_worker_)
    most = std::max(most, cuts_[p + per_worker_].before - cuts_[p].before);
  return most / (total / workers_);
}

bool Partition::splits_group(int first, int end) const {
  for (int i = first + 1; i < std::min(end, parts_); ++i) {
    const Cut& c = cuts_[i];
    if (c.unit % units_per_group_ != 0 || c.line > 0) return true;
    // Only a cut inside a line names a unit that exists: trailing parts
    // with no work end where the work does, one past the last unit (whose
    // rows a varlen call's offsets do not hold).
    if (c.key > 0 && rows_of_unit(c.unit) > rows_per_line_) return true;
  }
  return false;
}

std::int64_t Partition::keys_of_unit(std::int64_t unit) const {
  return shape_.keys_of(unit / (shape_.kv_heads * units_per_group_));
}

std::int64_t Partition::rows_of_unit(std::int64_t unit) const {
  return shape_.rows_of(unit / (shape_.kv_heads * units_per_group_));
}

void Partition::item_of_unit(std::int64_t unit, std::int64_t row_begin, std::int64_t row_end,
                             std::int64_t key_begin, std::int64_t key_end, int piece, int line,
                             FunctionRef<void(const WorkItem&)> f) const {
  if (row_end <= row_begin) return;  // a varlen sequence of no query rows
  const std::int64_t per_batch = shape_.kv_heads * units_per_group_;
  const std::int64_t b = unit / per_batch, r = unit % per_batch;
  const std::int64_t kv = r / units_per_group_;
  const bool stacked = units_per_group_ == 1 && group_ > 1;
  WorkItem w;
  w.batch = static_cast<int>(b);
  w.head = static_cast<int>(kv * group_ + (stacked ? 0 : r % units_per_group_));
  w.heads = stacked ? static_cast<int>(group_) : 1;
  w.row_begin = static_cast<int>(row_begin);
  w.row_end = static_cast<int>(row_end);
  w.key_begin = static_cast<int>(key_begin);
  w.key_end = static_cast<int>(key_end);
  w.piece = piece;
  w.line = line;
  f(w);
}

void Partition::for_each_item(int part, FunctionRef<void(const WorkItem&)> f) const {
  if (part >= parts_) return;
  const Cut& a = cuts_[part];
  const Cut& e = cuts_[part + 1];
  if (!before(a, e)) return;
  const std::int64_t q = rows_per_line_;
  std::int64_t u = a.unit, l = a.line;
  if (a.key > 0) {  // starts inside a line: the rest of it, or up to e
    const bool same = same_line(a, e);
    const std::int64_t M = rows_of_unit(u);
    item_of_unit(u, l * q, std::min(M, (l + 1) * q), a.key, same ? e.key : keys_of_unit(u), 2 * part,
                 first_cut_[part], f);
    if (same) return;
    if (++l * q >= M) ++u, l = 0;
  }
  while (u < e.unit || (u == e.unit && l < e.line)) {  // whole lines, one item per unit
    const std::int64_t end = u < e.unit ? rows_of_unit(u) : e.line * q;
    item_of_unit(u, l * q, end, 0, keys_of_unit(u), -1, -1, f);
    if (u < e.unit) ++u, l = 0;
    else l = e.line;
  }
  if (e.key > 0)  // ends inside a line: its first keys
    item_of_unit(e.unit, e.line * q, std::min(rows_of_unit(e.unit), (e.line + 1) * q), 0, e.key, 2 * part + 1,
                 part + 1, f);
}

void Partition::for_each_split_line(FunctionRef<void(int line, int pieces)> f) const {
  for (int i = 1; i < parts_; ++i)
    if (first_cut_[i] == i) f(i, pieces_[i]);
}

void Partition::for_each_piece(int line, FunctionRef<void(int slot, int key_begin, int key_end)> f) const {
  const Cut& first = cuts_[line];
  f(2 * (line - 1) + 1, 0, static_cast<int>(first.key));
  const std::int64_t n = keys_of_unit(first.unit);
  for (int j = line; j < parts_ && cuts_[j].key > 0 && same_line(cuts_[j], first); ++j) {
    if (!before(cuts_[j], cuts_[j + 1])) continue;  // an empty part
    const Cut& next = cuts_[j + 1];
    const std::int64_t end = same_line(next, first) && next.key > 0 ? next.key : n;
    f(2 * j, static_cast<int>(cuts_[j].key), static_cast<int>(end));
  }
}

}  // namespace attnrt::scheduler
