"""estimate.py --model: whole forward passes of the target shapes on A64FX,
ESTIMATED (nothing here is measured on hardware).

Time = the sum, over the phases a pipeline runs, of max(compute, memory) of
each phase. Compute is every loop and call the pipelines make (the loops'
llvm-mca cycles, each call's prologue and epilogue measured as a whole-call
region, plus assumed constants for the glue), with the strategy and blocks
plan.cpp picks (mirrored below). Memory is the bytes a phase reads from
HBM over the bandwidth it can have. Phases never overlap each other (the
packing of a K/V block does not hide behind the GEMMs), a phase's compute
and memory overlap fully: conservative across phases, optimistic inside.
48 cores: the work cut as scheduler/partition.cpp cuts it (mirrored), the
slowest worker's time, and no less than all HBM bytes over HBM bandwidth.

Two readings: A takes llvm-mca as it is (gathers 4 cycles per 16 lanes,
epilogues overlapped with the next call: steady state over 1000 calls);
B charges 8 cycles per 16-lane gather (K rows 512 B apart do not pair
within a 128-byte block) and epilogues not overlapped (one call alone).
"""
import bisect
import datetime
import math
import subprocess
from collections import defaultdict

GHZ = 2.0
VL = 16  # fp32 lanes
# Published STREAM-like figures for A64FX (GB/s): one core 40-47, one CMG
# 210-230, 4 CMGs 830-920. The low ends are used.
BW_CORE, BW_CMG, BW_HBM = 40e9, 210e9, 830e9
CMGS, CORES = 4, 12  # tests/data/a64fx.xml
L2_BYTES = 8 << 20  # per CMG
# Assumed, not measured: an indirect kernel call (pointer load, argument
# set-up, branch, return); a scalar libm exp2f, which fold_max calls per row
# and block.
GLUE = 10
EXP2F = 20

# name: batch, heads, M, N, D (= Dv), causal  (docs, /work/shared/checks/x86-targets.sh)
SHAPES = {
    "S1": (1, 16, 512, 512, 128, False),
    "S2": (1, 8, 2048, 2048, 128, False),
    "S3": (1, 4, 4096, 4096, 64, False),
    "S4": (1, 2, 12, 32768, 256, False),
    "S5": (4, 32, 1, 4096, 128, False),
    "S6": (1, 8, 2048, 2048, 128, True),
}

FP32_ARGS = "k, static_cast<const float*>(a), static_cast<const float*>(b)"
FP16_ARGS = "k, static_cast<const float16_t*>(a), static_cast<const float16_t*>(b)"
EXP2_ARGS = "(c, ld, k, m, sum, const_cast<void*>(b))"

# The kernel sets the A64FX runtime picks from (kernels/sve/sets.hpp): fp32
# inputs take sve512 fp32 (8x3) or sve512_12x2, whichever pads the call less
# (runtime/src/plan.cpp, padded_work), fp16 inputs sve512 fp16 (12x2); with
# fast exp2 the fp16 set runs Q·Kᵀ and P·V in fp16 (qk_fast, pv_*_fast).
# Each loop: C++ call, elements (or columns) one iteration covers. A set with
# qk_flush flushes its Q·Kᵀ sums every `flush` k steps: qk_flush is the call
# whose whole region prices one flush (its one store block, with the call's
# prologue: an upper bound), charged per flush beyond the one qk's whole
# call region holds.
SETS = {
    "fp32 accurate": dict(
        tiles="8x3", esz=4, mr=8, nr=48, nv=48, pe=4, peak=64, pack_k_w=48, pack_v_w=48,
        qk=f"gemm_fp32_8x3_body<Store::scaled, false>({FP32_ARGS}, 0.5f, c, ld)",
        pv=f"gemm_fp32_8x3_body<Store::accumulate, false>({FP32_ARGS}, 1.0f, c, ld)",
        exp2="exp2_rows_impl<8, ColType::f32, true>" + EXP2_ARGS,
        row_max="row_max<8>(c, ld, 1, k, sum)", rescale="rescale<8>(c, ld, k, m)",
        pack_k="pack_b_keys<float, 3>(a, ld, k, 256, c)",
        pack_v="pack_b_values<float, float, 3>(a, ld, k, 256, c)"),
    "fp32 accurate 12x2": dict(
        tiles="12x2", esz=4, mr=12, nr=32, nv=32, pe=4, peak=64, pack_k_w=32, pack_v_w=32,
        qk=f"gemm_12x2_body<float, Store::scaled, false, 2>({FP32_ARGS}, 0.5f, c, ld)",
        pv=f"gemm_12x2_body<float, Store::accumulate, false, 2>({FP32_ARGS}, 1.0f, c, ld)",
        exp2="exp2_rows_impl<12, ColType::f32, true>" + EXP2_ARGS,
        row_max="row_max<12>(c, ld, 1, k, sum)", rescale="rescale<12>(c, ld, k, m)",
        pack_k="pack_b_keys<float, 2>(a, ld, k, 256, c)",
        pack_v="pack_b_values<float, float, 2>(a, ld, k, 256, c)"),
    "fp16 fast": dict(
        tiles="12x2", esz=2, mr=12, nr=64, nv=64, pe=4, peak=128, pack_k_w=64, pack_v_w=64,
        pack_k_iter=2 * VL, flush=64,
        qk=f"qk_fp16_12x2_tile<false>({FP16_ARGS}, 0.5f, c, ld)",
        qk_flush=f"gemm_12x2_body<float16_t, Store::scaled, false, 2, 0, Widen::pairs>({FP16_ARGS}, 0.5f, c, ld)",
        pv=f"gemm_12x2_body<float16_t, Store::accumulate, false, 2>({FP16_ARGS}, 1.0f, c, ld)",
        exp2="exp2_rows_impl<12, ColType::f16, false>" + EXP2_ARGS,
        row_max="row_max<12>(c, ld, 1, k, sum)", rescale="rescale<12>(c, ld, k, m)",
        pack_k="pack_b_key_pairs<2>(a, ld, k, 256, c)",
        pack_v="pack_b_values<Fp16, Fp16, 4>(a, ld, k, 256, c)"),
}
# Each dtype row of the table: the sets a call may take.
DTYPES = {"fp32 accurate": ("fp32 accurate", "fp32 accurate 12x2"), "fp16 fast": ("fp16 fast",)}
GATHER = ("ld1w", "ld1h", "ld1sh", "ld1b")


def is_gather(line):
    f = line.split(None, 1)
    return len(f) == 2 and f[0] in GATHER and ", z" in f[1].split("[", 1)[-1]


# ---------------------------------------------------------------- measuring

def measure_set(measure, name, ks):
    """Cycles of the set's loops (per iteration) and calls (fixed cost per
    call beyond its loop iterations), for readings A and B."""
    it = {}
    for loop in ("qk", "pv", "exp2", "row_max", "rescale", "pack_k", "pack_v"):
        it[loop], lines = measure(f"{name}_{loop}".replace(" ", "_"), ks[loop])
        if loop == "pack_k":
            gathers = sum(1 for l in lines if is_gather(l))
    a, b = dict(it), dict(it)
    b["pack_k"] = it["pack_k"] + 4 * gathers  # 8 cycles per 16-lane gather, not 4
    if "qk_flush" in ks:  # one flush: the store block of a whole call, less its loop copies
        tag = f"{name}_qk_flush".replace(" ", "_")
        a["qk_flush"] = measure(tag, ks["qk_flush"], whole=True)[0] - 2 * it["qk"]
        b["qk_flush"] = measure(tag, ks["qk_flush"], whole=True, iterations=1)[0] - 2 * it["qk"]
    # Fixed cost of a call: the whole call region less the loop copies it
    # holds (GEMMs: the loop body and the peeled last k step; exp2 and
    # row_max: one iteration). A: steady state, B: one call alone.
    copies = {"qk": 2, "pv": 2, "exp2": 1, "row_max": 1}
    for loop, n in copies.items():
        tag = f"{name}_{loop}".replace(" ", "_")
        a[loop + "_call"] = measure(tag, ks[loop], whole=True)[0] - n * it[loop]
        b[loop + "_call"] = measure(tag, ks[loop], whole=True, iterations=1)[0] - n * it[loop]
    return {"A": a, "B": b}


# ---------------------------------------------------------------- the plan

def padded_work(ks, shape):
    """plan.cpp's padded_work (mirrored): rows to mr, keys to nr, Dv to nv."""
    _, _, M, N, D, _ = shape
    return round_up(M, ks["mr"]) * (round_up(N, ks["nr"]) * D + N * round_up(D, ks["nv"]))


def pick(dname, shape):
    """The set Runtime::choose takes: the first that pads least."""
    names = DTYPES[dname]
    best = min(names, key=lambda n: (padded_work(SETS[n], shape), names.index(n)))
    return best, SETS[best]


def round_up(x, m):
    return (x + m - 1) // m * m


def plan(ks, shape, workers):
    """plan.cpp's choose_plan for the sve512 sets (mirrored, not called): no
    built-in rule names them, so two_pass for M <= 16 and N >= 1024, else
    online, with default_blocking's sizes; no tuning file, no direct K/V
    (the SVE sets have no direct kernels)."""
    B, H, M, N, D, _ = shape
    step = ks["nr"]  # key_step: lcm(nr, k_pack = 1, a_block = 1)
    two = M <= 16 and N >= 1024
    per_row = D * ks["pe"] + round_up(D, ks["nv"]) * 4
    cap = max((1 << 20) // per_row, ks["mr"])
    floor_rows = min(cap, 128)
    while workers > 1 and cap > floor_rows and B * H * -(-M // cap) < 4 * workers:
        cap = max(cap // 2, floor_rows)
    blocks = -(-M // cap)
    mb = round_up(-(-M // blocks), ks["mr"])
    if two:
        nb = round_up(128, step)
        per_key = (D + round_up(D, ks["nv"])) * ks["pe"] + 4 * ks["mr"]
        fit = ((512 << 10) - 4 * ks["mr"] * 16) // per_key
        chunk = max(fit // step * step, nb)
    else:
        nb = (256 << 10) // (2 * D * ks["pe"]) // step * step
        nb = min(max(nb, step), 512 // step * step)
        chunk = nb
    return dict(strategy="two_pass" if two else "online", mb=mb, nb=nb, chunk=chunk)


# ------------------------------------------------------- one item on a core

class Phases:
    """Cycles per phase of one worker, and the bytes its packing reads."""

    def __init__(self):
        self.cyc = defaultdict(float)
        self.kv_bytes = 0.0  # K and V read by packing
        self.qo_bytes = 0.0  # Q read and O written


def vis_hi(i, n, causal):
    """One past the last key row i sees (causal: top-left aligned, M = N)."""
    return min(n, i + 1) if causal else n


def strip_block(ks, c, plan_, cols, started, d, ph):
    """Q·Kᵀ, softmax and P·V of one mr-row strip over `cols` keys of a block
    (d = Dv); every strip runs all mr rows (the SVE sets have no short-strip
    kernels: decode computes 12 rows for 1)."""
    tiles = -(-cols // ks["nr"])
    ph.cyc["Q·Kᵀ"] += tiles * d * c["qk"]
    ph.cyc["Q·Kᵀ call"] += tiles * (c["qk_call"] + GLUE)
    if "flush" in ks:  # the whole call region holds one store block: the last flush
        ph.cyc["Q·Kᵀ call"] += tiles * (-(-d // ks["flush"]) - 1) * c["qk_flush"]
    mr, ldo = ks["mr"], round_up(d, ks["nv"])
    ph.cyc["softmax"] += mr * (cols // (2 * VL) * c["row_max"] + c["row_max_call"]) + GLUE
    ph.cyc["softmax"] += mr * EXP2F + (mr * (ldo // VL) * c["rescale"] + GLUE if started else 0)
    slots = [plan_["nb"]] * (cols // plan_["nb"]) + ([cols % plan_["nb"]] if cols % plan_["nb"] else [])
    if plan_["strategy"] == "online":
        slots = [cols]
    for kp in slots:  # two_pass: exp2 and P·V per ring slot of nb keys
        ph.cyc["exp2"] += -(-kp // VL) * c["exp2"] + c["exp2_call"] + GLUE
        ph.cyc["P·V"] += (ldo // ks["nv"]) * kp * c["pv"]
        ph.cyc["P·V call"] += (ldo // ks["nv"]) * (c["pv_call"] + GLUE)


def pack_block(ks, c, keys, d, dv, ph):
    """K transposed into [d][nr] panels (gathers), V copied into [keys][nv]."""
    per_iter = ks.get("pack_k_iter", VL)  # keys one packing iteration stores
    ph.cyc["pack K"] += -(-keys // ks["pack_k_w"]) * (ks["pack_k_w"] // per_iter) * d * c["pack_k"] + GLUE
    ph.cyc["pack V"] += keys * -(-dv // ks["pack_v_w"]) * c["pack_v"] + GLUE
    ph.kv_bytes += keys * (d + dv) * ks["esz"]


def item(ks, c, plan_, shape, r0, r1, kb, ke, ph):
    """Rows [r0, r1) of one head against keys [kb, ke), as online.cpp and
    two_pass.cpp walk them: row blocks of mb rows, K/V packed per block of
    nb keys (online) or per chunk (two_pass), mr-row strips."""
    _, _, _, n, d, causal = shape
    block = plan_["chunk"]  # online: chunk == nb
    for rb0 in range(r0, r1, plan_["mb"]):
        rb1 = min(r1, rb0 + plan_["mb"])
        hi = min(ke, vis_hi(rb1 - 1, n, causal))
        if hi <= kb:
            continue
        ph.qo_bytes += (rb1 - rb0) * 2 * d * ks["esz"]
        started = {}
        for k0 in range(kb, hi, block):
            kbl = min(block, hi - k0)
            pack_block(ks, c, kbl, d, d, ph)
            for s0 in range(rb0, rb1, ks["mr"]):
                s_hi = min(ke, vis_hi(min(rb1, s0 + ks["mr"]) - 1, n, causal), k0 + kbl)
                if s_hi <= k0:
                    continue
                cols = s_hi - k0  # c0 = 0: blocks start on a key step
                strip_block(ks, c, plan_, cols, started.get(s0, False), d, ph)
                started[s0] = True


# ---------------------------------------------------------- the partition

class Geometry:
    """scheduler/partition.cpp's work sequence for ungrouped heads: units
    (batch x head), lines of q rows, keys; work = visible (row, key) entries."""

    def __init__(self, shape, q):
        B, H, M, N, _, causal = shape
        self.units, self.q, self.m, self.n, self.causal = B * H, q, M, N, causal
        self.lines = -(-M // q)
        self.line_end = []  # work before the end of each line of a unit
        acc = 0.0
        for l in range(self.lines):
            acc += self.entries(l * q, min(M, (l + 1) * q), self.n)
            self.line_end.append(acc)
        self.unit_cost = acc

    def entries(self, i0, i1, k):
        """Entries of rows [i0, i1) among keys [0, k)."""
        if not self.causal:
            return (i1 - i0) * k
        lo = min(max(i0, 0), i1)
        full = max(0, min(i1, k) - lo)  # rows i < k see i + 1 keys
        a = lo + 1
        return full * (a + a + full - 1) / 2 + (i1 - lo - full) * k

    def key_cost(self, l, k):
        return self.entries(l * self.q, min(self.m, (l + 1) * self.q), k)

    def line_start(self, u, l):
        return u * self.unit_cost + (self.line_end[l - 1] if l else 0.0)

    def locate(self, target):
        """(unit, line, key, before, line_start, line_end) of the first
        point with at least `target` work before it."""
        u = min(self.units, int(target // self.unit_cost))
        if u == self.units:
            return (u, 0, 0, u * self.unit_cost, 0, 0)
        rest = target - u * self.unit_cost
        l = bisect.bisect_left(self.line_end, rest)
        l = min(l, self.lines - 1)
        start, end = self.line_start(u, l), self.line_start(u, l) + self.key_cost(l, self.n)
        if target <= start:
            return (u, l, 0, start, start, start)
        if target >= end:
            return self.boundary(u, l + 1)
        lo, hi = 1, self.n  # the key whose prefix comes nearest the target
        while lo < hi:
            mid = (lo + hi) // 2
            if start + self.key_cost(l, mid) >= target:
                hi = mid
            else:
                lo = mid + 1
        k = lo
        if k > 1 and target - start - self.key_cost(l, k - 1) < start + self.key_cost(l, k) - target:
            k -= 1
        return (u, l, k, start + self.key_cost(l, k), start, end)

    def boundary(self, u, l):
        if l == self.lines:
            u, l = u + 1, 0
        b = self.line_start(u, l) if u < self.units else self.units * self.unit_cost
        return (u, l, 0, b, b, b)


def settle(g, x, target, mean, quantum):
    """A part boundary (Planner::settle): a line start when within 0.75% of
    the mean part, else a key split rounded to the key step when close."""
    u, l, k, before, start, end = x
    tol = 0.0075 * mean
    if k == 0:
        return x[:4]
    if target - start <= tol:
        return (u, l, 0, start)
    if end - target <= tol:
        return g.boundary(u, l + 1)[:4]
    per_key = min(g.m, (l + 1) * g.q) - l * g.q
    if quantum > 1 and per_key * quantum <= 2 * tol:
        k = (k + quantum // 2) // quantum * quantum
        if k >= g.n:
            return g.boundary(u, l + 1)[:4]
        before = start + g.key_cost(l, k)
    if k == 0 or before <= start:
        return (u, l, 0, start)
    if before >= end:
        return g.boundary(u, l + 1)[:4]
    return (u, l, k, before)


def partition(shape, q, quantum, workers):
    """Parts per worker: lists of items (unit, r0, r1, k0, k1), cut as
    Partition does for `workers` workers, CORES per domain, 2 parts per
    worker where there is enough work."""
    g = Geometry(shape, q)
    total = g.units * g.unit_cost
    want = math.floor(total / 64)  # min_part_cost
    per_worker = int(min(max(math.floor(want / workers), 1), 2 if workers > 1 else 1))
    used = workers if per_worker > 1 else int(min(max(want, 1), workers))
    parts = used * per_worker
    mean = total / parts
    cuts = [None] * (parts + 1)
    cuts[0], cuts[parts] = (0, 0, 0, 0.0), (g.units, 0, 0, total)
    per_domain = CORES * per_worker
    firsts = list(range(0, parts, per_domain))
    for i, first in enumerate(firsts[1:], 1):  # domain boundaries, on a unit start if close
        target = total * first / parts
        x = g.locate(target)
        tol = 0.01 * mean * min(per_domain, parts - first)
        u = x[0]
        at_lo, at_hi = u * g.unit_cost, (u + 1) * g.unit_cost
        if x[1] == 0 and x[2] == 0:
            cuts[first] = x[:4]
        elif target - at_lo <= tol and target - at_lo <= at_hi - target:
            cuts[first] = (u, 0, 0, at_lo)
        elif at_hi - target <= tol:
            cuts[first] = (u + 1, 0, 0, at_hi)
        else:
            cuts[first] = settle(g, x, target, mean, quantum)
    for first in firsts:
        end = min(parts, first + per_domain)
        lo, hi = cuts[first], cuts[end]
        for i in range(first + 1, end):
            target = lo[3] + (hi[3] - lo[3]) * (i - first) / (end - first)
            c = settle(g, g.locate(target), target, mean, quantum)
            cuts[i] = max(cuts[i - 1][:3], min(c[:3], hi[:3])) + (c[3],)
    return [[items(g, cuts[p], cuts[p + 1]) for p in range(w * per_worker, (w + 1) * per_worker)]
            for w in range(used)], per_worker


def items(g, a, e):
    """The items between two cuts (Partition::for_each_item)."""
    out, q = [], g.q
    u, l = a[0], a[1]
    if a[:3] >= e[:3]:
        return out
    if a[2] > 0:
        same = (a[0], a[1]) == (e[0], e[1])
        out.append((u, l * q, min(g.m, (l + 1) * q), a[2], e[2] if same else g.n))
        if same:
            return out
        l += 1
        if l == g.lines:
            u, l = u + 1, 0
    while (u, l) < (e[0], e[1]):
        end = g.m if u < e[0] else e[1] * q
        out.append((u, l * q, end, 0, g.n))
        if u < e[0]:
            u, l = u + 1, 0
        else:
            l = e[1]
    if e[2] > 0:
        out.append((e[0], e[1] * q, min(g.m, (e[1] + 1) * q), 0, e[2]))
    return out


# ---------------------------------------------------------------- the run

def run(ks, c, shape, workers):
    """Estimated seconds of one call, its bound, and the time split."""
    B, H, M, N, D, causal = shape
    p = plan(ks, shape, workers)
    per_worker_parts, _ = partition(shape, p["mb"], ks["nr"], workers)
    bw = min(BW_CORE, BW_CMG / CORES) if workers > 1 else BW_CORE
    kv_head = N * 2 * D * ks["esz"]
    times, hbm_total, split = [], 0.0, defaultdict(float)
    for d0 in range(0, len(per_worker_parts), CORES):  # one domain at a time
        dom = per_worker_parts[d0:d0 + CORES]
        keys = defaultdict(list)
        for parts in dom:
            for part in parts:
                for (u, r0, r1, k0, k1) in part:
                    keys[u].append((k0, k1))
        # A head's K/V is read from HBM once per domain when its concurrent
        # heads' K/V fit half the CMG's L2 (the rest: packed panels, S, P,
        # other data); else every row block reads it again.
        reuse = kv_head * min(len(keys), len(dom)) <= L2_BYTES // 2
        distinct = sum(union(r) for r in keys.values()) * 2 * D * ks["esz"]
        worker_ph = []
        for parts in dom:
            ph = Phases()
            for part in parts:
                for (u, r0, r1, k0, k1) in part:
                    item(ks, c, p, shape, r0, r1, k0, k1, ph)
            worker_ph.append(ph)
        read = sum(ph.kv_bytes for ph in worker_ph)
        frac = distinct / read if reuse and read else 1.0
        qo = sum(ph.qo_bytes for ph in worker_ph)
        hbm = read * frac + qo
        hbm_total += hbm
        for ph in worker_ph:
            t, parts_t = worker_time(ph, frac, bw)
            times.append((t, parts_t))
        times.append((hbm / BW_CMG, {"CMG bandwidth": hbm / BW_CMG}))
    times.append((hbm_total / BW_HBM, {"HBM bandwidth": hbm_total / BW_HBM}))
    p["balance"] = balance(per_worker_parts, shape, p["mb"], workers)
    t, split = max(times, key=lambda x: x[0])
    mem = sum(v for k, v in split.items() if k.startswith(("mem", "HBM", "CMG")))
    bound = "memory" if mem > t / 2 else "compute"
    return t, bound, split, p, hbm_total


def balance(per_worker_parts, shape, q, workers):
    """Most entries on one worker over the mean over all workers (as
    Partition::balance)."""
    g = Geometry(shape, q)
    work = [sum(g.entries(r0, r1, k1) - g.entries(r0, r1, k0)
                for part in parts for (_, r0, r1, k0, k1) in part) for parts in per_worker_parts]
    return max(work) / (g.units * g.unit_cost / workers)


def union(ranges):
    total, end = 0, -1
    for a, b in sorted(ranges):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def worker_time(ph, frac, bw):
    """Seconds of one worker: its phases summed, the packing phase at
    max(compute, its HBM bytes over the core's bandwidth), Q and O as
    memory only."""
    sec = {k: v / (GHZ * 1e9) for k, v in ph.cyc.items()}
    pack = sec.get("pack K", 0) + sec.get("pack V", 0)
    mem = ph.kv_bytes * frac / bw
    out = {k: v for k, v in sec.items() if not k.startswith("pack")}
    if mem > pack:
        out["mem: K/V read"] = mem
    else:
        out["pack K"], out["pack V"] = sec.get("pack K", 0), sec.get("pack V", 0)
    out["mem: Q, O"] = ph.qo_bytes / bw
    return sum(out.values()), out


def flops(shape):
    B, H, M, N, D, causal = shape
    g = Geometry(shape, M)
    return 4.0 * D * B * H * g.unit_cost


def commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def report(measure):
    """The table of estimated whole calls."""
    cyc = {name: measure_set(measure, name, ks) for name, ks in SETS.items()}
    print(f"# --model: ESTIMATED A64FX forward passes (llvm-mca -mcpu=a64fx, {GHZ} GHz), "
          f"{datetime.date.today()}, commit {commit()}; nothing measured.")
    print("# A: llvm-mca as is; B: gathers 8 cycles per 16 lanes, epilogues not overlapped.")
    print("# Includes: every loop and call of the plan's pipeline, call epilogues, K gather/V copy")
    print(f"# per block, fold_max exp2f ({EXP2F} c/row, assumed), call glue ({GLUE} c, assumed),")
    print(f"# HBM reads per phase (core {BW_CORE/1e9:.0f}, CMG {BW_CMG/1e9:.0f}, HBM {BW_HBM/1e9:.0f} GB/s), "
          "max(compute, memory) per phase, phases summed.")
    print("# Leaves out: cache misses of packed panels (L2 assumed to keep up), Q packing, normalize,")
    print("# masks, split-KV merges, scheduling, OS, turbo/clock changes.")
    print("| shape | dtype | cores | plan | GFLOP/s A | % peak A | GFLOP/s B | % peak B | bound | time (A) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    results = {}
    for sname, shape in SHAPES.items():
        for dname in DTYPES:
            set_name, ks = pick(dname, shape)
            for workers in (1, CMGS * CORES):
                row = {}
                for reading in ("A", "B"):
                    t, bound, split, p, hbm = run(ks, cyc[set_name][reading], shape, workers)
                    gf = flops(shape) / t / 1e9
                    peak = ks["peak"] * GHZ * workers  # FLOP/cycle of one core x GHz
                    row[reading] = (gf, 100 * gf / peak, bound, split, t, hbm)
                results[(sname, dname, workers)] = row
                gfa, pa, bound, split, t, hbm = row["A"]
                gfb, pb = row["B"][:2]
                plan_txt = f"{ks['tiles']} {p['strategy']} mb {p['mb']} nb {p['nb']}" + (
                    f" chunk {p['chunk']}" if p["strategy"] == "two_pass" else "") + (
                    f", balance {p['balance']:.2f}" if workers > 1 else "")
                extra = f", K/V {hbm / t / 1e9:.0f} GB/s" if sname == "S5" else ""
                print(f"| {sname} | {dname} | {workers} | {plan_txt} | {gfa:.0f} | {pa:.1f} | {gfb:.0f} | "
                      f"{pb:.1f} | {bound}{extra} | {top(split, t)} |")
    gaps(results)


def top(split, t):
    items_ = sorted(split.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {100 * v / t:.0f}%" for k, v in items_ if v / t >= 0.03)


def gaps(r):
    """The issue's targets against the estimates (reading A, the upper one)."""
    def pct(s, d, w, reading="A"):
        return r[(s, d, w)][reading][1]
    print("\n# Targets (issue 19) against these estimates (A / B):")
    for s, d, tgt in (("S2", "fp32 accurate", 80), ("S4", "fp32 accurate", 70), ("S2", "fp16 fast", 72)):
        print(f"#   {s} {d}, 1 core: target >= {tgt}% of peak, estimated {pct(s, d, 1):.1f}% / "
              f"{pct(s, d, 1, 'B'):.1f}%")
    for d in DTYPES:
        one, many = (r[("S2", d, w)]["A"][0] for w in (1, 48))
        print(f"#   S2 {d}, 48 cores: target >= 85% of 48x one core, estimated {100 * many / (48 * one):.1f}%")
    gf, _, _, _, t, hbm = r[("S5", "fp16 fast", 48)]["A"]
    print(f"#   S5 fp16 fast, 48 cores: target >= 80% of HBM bandwidth, estimated "
          f"{hbm / t / 1e9:.0f} GB/s = {100 * hbm / t / BW_HBM:.0f}% of {BW_HBM / 1e9:.0f} GB/s")
