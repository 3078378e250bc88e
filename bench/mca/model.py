"""estimate.py --model: whole forward passes of the target shapes on A64FX,
ESTIMATED (nothing here is measured on hardware).

Time = the sum, over the phases a pipeline runs, of max(compute, memory) of
each phase. Compute is every loop and call the pipelines make (the loops'
llvm-mca cycles, each call's prologue and epilogue measured as a whole-call
region, plus assumed constants for the glue), with the strategy, blocks and
K/V path plan.cpp and strip.cpp pick (mirrored below). Memory is the bytes
a phase reads from HBM over the bandwidth it can have.

Which phases overlap memory:
- Packed K/V (many rows per block, and fp16 fast on whole strips):
  packing reads K and V
  from HBM; that phase is max(pack loops, bytes / bandwidth). The GEMMs
  after it read the panels from L1/L2 and never overlap the next block's
  stream (nothing prefetches a block ahead of its packing).
- Direct K/V (few rows: strip.cpp direct_kv): K rows are read in place by
  the Q·Kᵀ tiles' own LD1RQW loads and V rows by the P·V tiles' loads, so
  the stream runs among the FMAs: the Q·Kᵀ phase of a chunk is max(its
  compute, its K bytes / bandwidth); the P·V phase is max(its compute, its
  V bytes / bandwidth), with two_pass's exp2 inside it (the ring
  interleaves exp2 and P·V calls; online runs exp2 before P·V, outside
  it). K and V of a chunk are consecutive rows, a sequential stream the
  A64FX hardware prefetchers follow (not verified on hardware). This full
  overlap is the optimistic end, as an upper bound needs: with no overlap
  at all the phase would take compute + bytes / bandwidth (printed as a
  sensitivity line for S4 and S5, not an upper bound).
- Row max, fold_max and rescale read only S and O (L1/L2): compute only.
48 cores: the work cut as scheduler/partition.cpp cuts it (mirrored), the
slowest worker's time, and no less than all HBM bytes over HBM bandwidth.
K/V shared per CMG (runtime/src/kv_share.hpp): where a domain's parts split
a head, each packed block (head, first key, key count) is packed once in
the domain and read by every worker that needs it. The domain's workers
run its parts in order, so those workers walk the head's blocks together;
whoever comes first packs, and the role rotates (a packer falls behind the
others by its packing, so the next block is packed by another). Each
worker is charged its blocks' packing divided by the workers that read
them, and the block's bytes are read from HBM once. Assumed, not
verified: that the workers stay spread by about a block's packing, so
nobody waits long for a packer (in lockstep every reader would wait out
the whole packing, which `share=False` bounds from below: today's cost).

Two readings: A takes llvm-mca as it is (gathers 4 cycles per 16 lanes,
epilogues overlapped with the next call: steady state over 1000 calls);
B charges 8 cycles per 16-lane gather (K rows 512 B apart do not pair
within a 128-byte block) and epilogues not overlapped (one call alone).
The direct path has no gathers: there only the epilogues differ.

Upper bound: what is left out (L2 misses of S, panels and V rows, the
fixed cost of pack_q_quads and widen_rows calls, Q packing, normalize,
masks, split-KV merges, thread start) only adds time; the bandwidths are
the low ends of published STREAM figures, the one assumption that could
err the other way when a phase is memory-bound.
"""
import bisect
import copy
import datetime
import math
import os
import re
import subprocess
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

GHZ = 2.0
VL = 16  # fp32 lanes
# Published STREAM-like figures for A64FX (GB/s): one core 40-47, one CMG
# 210-230, 4 CMGs 830-920. The low ends are used.
BW_CORE, BW_CMG, BW_HBM = 40e9, 210e9, 830e9
CMGS, CORES = 4, 12  # tests/data/a64fx.xml
L2_BYTES = 8 << 20  # per CMG
# default_blocking's stage_bytes: half a core's share of its CMG's L2
# (Placement::l2_share_bytes, 8 MiB / 12 on a64fx.xml), clamped to
# [128 KiB, 2 MiB]: two_pass's chunks, packed and direct.
STAGE = min(max(L2_BYTES // CORES // 2, 128 << 10), 2 << 20)
# Assumed, not measured: an indirect kernel call (pointer load, argument
# set-up, branch, return); a scalar libm exp2f, which fold_max calls per row
# and block; std::fill of S rows past a strip's real ones (direct_scores),
# at one 64-byte store per cycle, A64FX's L1 store width (a floor).
GLUE = 10
EXP2F = 20
FILL = 16  # floats per cycle
# The direct K/V path's constants: plan.cpp kDirectMaxRows, strip.hpp
# kDirectPvKeys (a strip alone) and kDirectPvTurnKeys (strips taking
# turns), pv_direct.hpp kPvDirectRowsMax, qk_direct.hpp kQkDirectKeys and
# its 12-row tiles (quad_tile_vectors() x 4 rows at 512 bits).
DIRECT_MAX_ROWS, PV_KEYS, PV_TURN_KEYS, PV_ROWS_MAX, QK_KEYS, QK_TILE_ROWS = 16, 32, 16, 4, 8, 12

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
# The direct kernels (kernels/sve/qk_direct.hpp, pv_direct.hpp), as
# qk_direct, pv_direct_init/acc and pv_direct_rows run them; {h}: a tile's
# real rows, literal so that the stores of absent rows drop out of its
# region; {T}: the input dtype of K/V rows.
DIRECT_QK = "qk_quad_tile<{g}>({h}, k, static_cast<const float*>(a), static_cast<const float*>(b), ld, 8, 0.5f, c, ld)"
DIRECT_PACK_Q = "pack_q_quads<{g}>(static_cast<const float*>(a), ld, {h}, k, c)"
DIRECT_WIDEN = "widen_rows<Fp16>(a, ld, 8, k, c)"
DIRECT_PV_ROWS = ("pv_rows_4x4<{r}>(k, static_cast<const float*>(a), {mr}, static_cast<const {T}*>(b), ld, 0, 64, "
                  "c, ld, true, RowsAfter{{}}, kStreamSveA64fx.bytes_ahead)")
PV_8X3_ROWS = ("gemm_fp32_8x3_rows<Store::accumulate, false, RowLoad>(k, static_cast<const float*>(a), "
               "static_cast<const {T}*>(b), ld, svptrue_b32(), svptrue_b32(), svptrue_b32(), 1.0f, c, ld)")
PV_12X2_ROWS = ("gemm_12x2_rows<float, Store::accumulate, false, RowLoad>(k, static_cast<const float*>(a), "
                "static_cast<const {T}*>(b), ld, svptrue_b32(), svptrue_b32(), 1.0f, c, ld)")

# The kernel sets the A64FX runtime picks from (kernels/sve/sets.hpp): fp32
# inputs take sve512 fp32 (8x3) or sve512_12x2, whichever pads the call less
# (runtime/src/plan.cpp, padded_work), fp16 inputs sve512 fp16 (12x2); with
# fast exp2 the fp16 set runs Q·Kᵀ and P·V in fp16 (qk_fast, pv_*_fast).
# Each loop: C++ call, elements (or columns) one iteration covers. A set with
# qk_flush flushes its Q·Kᵀ sums every `flush` k steps: qk_flush is the call
# whose whole region prices one flush (its one store block, with the call's
# prologue: an upper bound), charged per flush beyond the one qk's whole
# call region holds. Direct path: K/V rows of dtype `kv`, P·V in passes of
# pv_slice columns (pv_passes per slice: the fp16 sets' nv of 4 vectors is
# two 12x2 passes), exp2_direct the exp2 it runs (fp32 P: the accurate P·V
# path). fast_pv: a fast P·V path (pv_acc_fast), which the direct path
# takes only for few-row blocks (strip.cpp direct_kv), there with fp32 P.
SETS = {
    "fp32 accurate": dict(
        tiles="8x3", esz=4, mr=8, nr=48, nv=48, pe=4, peak=64, pack_k_w=48, pack_v_w=48,
        qk=f"gemm_fp32_8x3_body<Store::scaled, false>({FP32_ARGS}, 0.5f, c, ld)",
        pv=f"gemm_fp32_8x3_body<Store::accumulate, false>({FP32_ARGS}, 1.0f, c, ld)",
        exp2="exp2_rows_impl<8, ColType::f32, true>" + EXP2_ARGS,
        row_max="row_max<8>(c, ld, 1, k, sum)", rescale="rescale<8>(c, ld, k, m)",
        pack_k="pack_b_keys<float, 3>(a, ld, k, 256, c)",
        pack_v="pack_b_values<float, float, 3>(a, ld, k, 256, c)",
        kv="float", pv_direct=PV_8X3_ROWS, pv_slice=3 * VL, pv_passes=1),
    "fp32 accurate 12x2": dict(
        tiles="12x2", esz=4, mr=12, nr=32, nv=32, pe=4, peak=64, pack_k_w=32, pack_v_w=32,
        qk=f"gemm_12x2_body<float, Store::scaled, false, 2>({FP32_ARGS}, 0.5f, c, ld)",
        pv=f"gemm_12x2_body<float, Store::accumulate, false, 2>({FP32_ARGS}, 1.0f, c, ld)",
        exp2="exp2_rows_impl<12, ColType::f32, true>" + EXP2_ARGS,
        row_max="row_max<12>(c, ld, 1, k, sum)", rescale="rescale<12>(c, ld, k, m)",
        pack_k="pack_b_keys<float, 2>(a, ld, k, 256, c)",
        pack_v="pack_b_values<float, float, 2>(a, ld, k, 256, c)",
        kv="float", pv_direct=PV_12X2_ROWS, pv_slice=2 * VL, pv_passes=1),
    "fp16 fast": dict(
        tiles="12x2", esz=2, mr=12, nr=64, nv=64, pe=4, peak=128, pack_k_w=64, pack_v_w=64,
        pack_k_iter=2 * VL, flush=64,
        qk=f"qk_fp16_12x2_tile<false>({FP16_ARGS}, 0.5f, c, ld)",
        qk_flush=f"gemm_12x2_body<float16_t, Store::scaled, false, 2, 0, Widen::pairs>({FP16_ARGS}, 0.5f, c, ld)",
        pv=f"gemm_12x2_body<float16_t, Store::accumulate, false, 2>({FP16_ARGS}, 1.0f, c, ld)",
        exp2="exp2_rows_impl<12, ColType::f16, false>" + EXP2_ARGS,
        row_max="row_max<12>(c, ld, 1, k, sum)", rescale="rescale<12>(c, ld, k, m)",
        pack_k="pack_b_key_pairs<2>(a, ld, k, 256, c)",
        pack_v="pack_b_values<Fp16, Fp16, 4>(a, ld, k, 256, c)",
        kv="Fp16", pv_direct=PV_12X2_ROWS, pv_slice=4 * VL, pv_passes=2, fast_pv=True,
        exp2_direct="exp2_rows_impl<12, ColType::f32, true>" + EXP2_ARGS),
}
# For the before/after steps only (report's `steps`): fp16 fast as it was
# before qk_fp16_12x2_fast, Q·Kᵀ in fp32 on K widened while packed (two
# 12x2 passes per 64-key panel).
SETS["fp16 fast, fp32 Q·Kᵀ"] = dict(
    SETS["fp16 fast"], pack_k_iter=VL, qk_passes=2, flush=None, qk_flush=None,
    qk=f"gemm_12x2_body<float, Store::scaled, false, 4>({FP32_ARGS}, 0.5f, c, ld)",
    pack_k="pack_b_keys<Fp16, 4>(a, ld, k, 256, c)")
# Each dtype row of the table: the sets a call may take.
DTYPES = {"fp32 accurate": ("fp32 accurate", "fp32 accurate 12x2"), "fp16 fast": ("fp16 fast",)}
GATHER = ("ld1w", "ld1h", "ld1sh", "ld1b")
FMA = re.compile(r"^\s*(fmla|fmad|fmls|fmsb|fnmla|fnmad)\s")


def is_gather(line):
    f = line.split(None, 1)
    return len(f) == 2 and f[0] in GATHER and ", z" in f[1].split("[", 1)[-1]


def fast(dname):
    return dname.endswith("fast")


# ---------------------------------------------------------------- measuring

def tag_of(name):
    """A file name for a set's regions."""
    return re.sub(r"[^A-Za-z0-9]+", "_", name)


def measure_set(measure, name, ks):
    """Cycles of the set's loops (per iteration) and calls (fixed cost per
    call beyond its loop iterations), for readings A and B; its direct
    kernels are measured when first asked for (Direct)."""
    loops = ["qk", "pv", "exp2", "row_max", "rescale", "pack_k", "pack_v"]
    ks = dict(ks, exp2_direct=ks.get("exp2_direct", ks["exp2"]))
    loops.append("exp2_direct")
    # Fixed cost of a call: the whole call region less the loop copies it
    # holds (GEMMs: the loop body and the peeled last k step; exp2 and
    # row_max: one iteration). A: steady state, B: one call alone. A flush:
    # the store block of a whole call, less its loop copies.
    copies = {"qk": 2, "pv": 2, "exp2": 1, "row_max": 1, "exp2_direct": 1}
    wholes = {loop + "_call": (loop, n) for loop, n in copies.items()}
    if ks.get("qk_flush"):
        wholes["qk_flush"] = ("qk_flush", 2)
    requests = [(f"{tag_of(name)}_{loop}", ks[loop], False, 1000) for loop in loops]
    for loop, _ in wholes.values():
        requests += [(f"{tag_of(name)}_{loop}", ks[loop], True, i) for i in (1000, 1)]
    got = iter(measure_all(measure, requests))
    it, lines = {}, {}
    for loop in loops:
        it[loop], lines[loop] = next(got)
    gathers = sum(1 for l in lines["pack_k"] if is_gather(l))
    a, b = dict(it), dict(it)
    b["pack_k"] = it["pack_k"] + 4 * gathers  # 8 cycles per 16-lane gather, not 4
    for key, (loop, n) in wholes.items():
        body = it["qk" if loop == "qk_flush" else loop]
        a[key], b[key] = (next(got)[0] - n * body for _ in range(2))
    for r, c in (("A", a), ("B", b)):
        c["glue"], c["exp2f"], c["direct"] = GLUE, EXP2F, Direct(measure, name, ks, r)
    return {"A": a, "B": b}


def measure_all(measure, requests):
    """measure(name, call, whole, iterations) of each request, a compile
    and an llvm-mca run each, as many at once as there are cores."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(lambda r: measure(*r), requests))


def fmas(lines):
    return sum(1 for l in lines if FMA.match(l))


class Direct:
    """Cycles of a set's direct kernels in one reading, measured when first
    asked for: loop cycles per iteration, and a call's fixed cost = its
    whole-call region (A: steady state over 1000 calls; B: one call) less
    the loop copies it holds (counted by their FMAs: the loop body, a peeled
    last step, a tail step d's multiples of 4 never run)."""

    def __init__(self, measure, name, ks, reading):
        self.measure, self.ks, self.iters = measure, ks, 1000 if reading == "A" else 1
        self.tag = tag_of(name)
        self.memo, self.free_calls = {}, False

    def _loop_fixed(self, key, call):
        if key not in self.memo:
            (loop, lines), (whole, wlines) = measure_all(self.measure, [
                (f"{self.tag}_{key}", call, False, 1000), (f"{self.tag}_{key}", call, True, self.iters)])
            copies = max(1, round(fmas(wlines) / fmas(lines))) if fmas(lines) else 1
            self.memo[key] = (loop, max(whole - copies * loop, 0.0))
        loop, fixed = self.memo[key]
        return loop, 0.0 if self.free_calls else fixed

    def _loop(self, key, call):
        if key not in self.memo:
            self.memo[key] = self.measure(f"{self.tag}_{key}", call)[0]
        return self.memo[key]

    def qk(self, rows, keys, d):
        """qk_direct over rows x keys: (loop cycles, fixed cycles, widening)
        of its row tiles of up to 12 rows, 8 keys a tile, Q packed as quads
        once per row tile (its loop only), fp16/bf16 K rows widened per tile
        (widen_rows' loop only)."""
        loop_c = fixed_c = widen_c = 0.0
        tiles = -(-keys // QK_KEYS)
        for r0 in range(0, rows, QK_TILE_ROWS):
            h = min(QK_TILE_ROWS, rows - r0)
            g = -(-h // 4)
            loop, fixed = self._loop_fixed(f"qk{g}x{h}", DIRECT_QK.format(g=g, h=h))
            per_step = 8 if g == 1 else 4  # one row vector: two quads a step
            steps = -(-d // per_step)
            pack = self._loop(f"packq{g}x{h}", DIRECT_PACK_Q.format(g=g, h=h))
            loop_c += tiles * steps * loop
            fixed_c += tiles * fixed + -(-d // 4) * pack
            if self.ks["kv"] != "float":
                widen = self._loop("widen", DIRECT_WIDEN)  # 2 vectors a step
                widen_c += keys * -(-d // (2 * VL)) * widen
        return loop_c, fixed_c, widen_c

    def pv(self, kp, dv):
        """One pv_direct_init/acc call over kp keys and all dv columns:
        (loop cycles, fixed cycles) of its 12x2 or 8x3 passes."""
        ks = self.ks
        loop, fixed = self._loop_fixed("pv", ks["pv_direct"].format(T=ks["kv"]))
        passes = -(-dv // ks["pv_slice"]) * ks["pv_passes"]
        return passes * kp * loop, passes * fixed

    def pv_rows(self, rows, kp, dv):
        """One pv_direct_rows call: `rows` real rows, kp keys, dv columns in
        chunks of 4 vectors, O in registers across the keys."""
        r = min(rows, PV_ROWS_MAX)
        loop, fixed = self._loop_fixed(f"pvrows{r}", DIRECT_PV_ROWS.format(r=r, mr=self.ks["mr"], T=self.ks["kv"]))
        chunks = -(-dv // (4 * VL))
        return chunks * kp * loop, chunks * fixed


# ---------------------------------------------------------------- the plan

def padded_work(ks, shape):
    """plan.cpp's padded_work (mirrored): rows to mr, keys to nr, Dv to nv."""
    _, _, M, N, D, _ = shape
    return round_up(M, ks["mr"]) * (round_up(N, ks["nr"]) * D + N * round_up(D, ks["nv"]))


def pick(dname, shape, names=None):
    """The set Runtime::choose takes: the first that pads least."""
    names = names or DTYPES[dname]
    best = min(names, key=lambda n: (padded_work(SETS[n], shape), names.index(n)))
    return best, SETS[best]


def round_up(x, m):
    return (x + m - 1) // m * m


def plan(ks, shape, workers, dname, allow_direct=True, nb_rule=None):
    """plan.cpp's choose_plan for the sve512 sets (mirrored, not called):
    two_pass for M <= 16 and N >= 1024, else online, with default_blocking's
    sizes but for kBuiltin's sve512 rule (online at D = 128: nb 512); no
    tuning file.

    The K/V path, per row block (every row block of a call takes the same):
    plan.cpp sets Blocking::direct_kv = direct_possible (has_direct_kv: every
    SVE set; strategy not three_pass) && direct_by_default (rows per block
    M <= kDirectMaxRows = 16; the target shapes have no GQA groups); then
    strip.cpp's direct_kv(ks, p, b, rows), which online and two_pass ask
    per row block, adds `pv_path_of(ks, p).pv_acc == ks.pv_acc || rows <=
    pv_rows_max`: fp16 inputs with fast exp2 run
    pv_fp16_12x2_noepi on fp16 P, which no direct kernel reads, so row
    blocks of whole strips pack K and V although the plan says direct,
    while few-row blocks (decode) take the direct path with the accurate
    P·V path (fp32 P, accurate exp2). A row block here is the whole M
    (the partition's lines are mb >= M rows for M <= 16).
    allow_direct=False: as if the sets had no direct path (before it);
    what-if "force": the direct path for the fast precision on whole
    strips too.
    nb_rule: an online rule's nb; None: kBuiltin's (512 at D = 128, else the
    default); 0: the default (what-if)."""
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
    plan_direct = M <= DIRECT_MAX_ROWS  # direct_possible && direct_by_default
    fast_pv = fast(dname) and ks.get("fast_pv")
    direct = bool(allow_direct) and plan_direct and (
        not fast_pv or allow_direct == "force" or M <= PV_ROWS_MAX)
    if two:
        nb = round_up(128, step)
        per_key = (D + round_up(D, ks["nv"])) * ks["pe"] + 4 * ks["mr"]
        fit = (STAGE - 4 * ks["mr"] * 16) // per_key
        chunk = max(fit // step * step, nb)
        if direct:  # two_pass.cpp direct_chunk_keys: the stage holds only S rows
            chunk = max(STAGE // (4 * mb) // step * step, nb)
    else:
        nb = (256 << 10) // (2 * D * ks["pe"]) // step * step
        nb = min(max(nb, step), 512 // step * step)
        if nb_rule is None:
            nb_rule = 512 if D == 128 else 0  # kBuiltin's sve512 rules
        nb = round_up(nb_rule, step) if nb_rule else nb
        chunk = nb
    return dict(strategy="two_pass" if two else "online", mb=mb, nb=nb, chunk=chunk, direct=direct)


# ------------------------------------------------------- one item on a core

class Phases:
    """Cycles per phase of one worker, the bytes its packing reads, and its
    direct phases: (cycles per label, bytes streamed, memory label)."""

    def __init__(self):
        self.cyc = defaultdict(float)
        self.kv_bytes = 0.0  # K and V read from memory, packed or in place
        self.pack_bytes = 0.0  # of which by packing
        self.qo_bytes = 0.0  # Q read and O written
        self.direct = []
        self.packed = []  # per packed block: (head, first key, keys), cycles by label, bytes


def vis_hi(i, n, causal):
    """One past the last key row i sees (causal: top-left aligned, M = N)."""
    return min(n, i + 1) if causal else n


def strip_block(ks, c, plan_, cols, started, d, ph):
    """Q·Kᵀ, softmax and P·V of one mr-row strip over `cols` keys of a packed
    block (d = Dv); every strip runs all mr rows (the SVE sets have no
    short-strip kernels)."""
    tiles = -(-cols // ks["nr"])
    passes = ks.get("qk_passes", 1)
    ph.cyc["Q·Kᵀ"] += tiles * passes * d * c["qk"]
    ph.cyc["Q·Kᵀ call"] += tiles * (passes * c["qk_call"] + c["glue"])
    if ks.get("flush"):  # the whole call region holds one store block: the last flush
        ph.cyc["Q·Kᵀ call"] += tiles * (-(-d // ks["flush"]) - 1) * c["qk_flush"]
    mr, ldo = ks["mr"], round_up(d, ks["nv"])
    ph.cyc["softmax"] += mr * (cols // (2 * VL) * c["row_max"] + c["row_max_call"]) + c["glue"]
    ph.cyc["softmax"] += mr * c["exp2f"] + (mr * (ldo // VL) * c["rescale"] + c["glue"] if started else 0)
    slots = [plan_["nb"]] * (cols // plan_["nb"]) + ([cols % plan_["nb"]] if cols % plan_["nb"] else [])
    if plan_["strategy"] == "online":
        slots = [cols]
    for kp in slots:  # two_pass: exp2 and P·V per ring slot of nb keys
        ph.cyc["exp2"] += -(-kp // VL) * c["exp2"] + c["exp2_call"] + c["glue"]
        ph.cyc["P·V"] += (ldo // ks["nv"]) * kp * c["pv"]
        ph.cyc["P·V call"] += (ldo // ks["nv"]) * (c["pv_call"] + c["glue"])


def pack_block(ks, c, block, keys, d, dv, ph):
    """K transposed into [d][nr] panels (gathers), V copied into [keys][nv]:
    recorded per block, charged by settle_packing."""
    per_iter = ks.get("pack_k_iter", VL)  # keys one packing iteration stores
    cyc = {"pack K": -(-keys // ks["pack_k_w"]) * (ks["pack_k_w"] // per_iter) * d * c["pack_k"] + c["glue"],
           "pack V": keys * -(-dv // ks["pack_v_w"]) * c["pack_v"] + c["glue"]}
    ph.packed.append((block, cyc, keys * (d + dv) * ks["esz"]))


def settle_packing(worker_ph, share):
    """Charges each worker of a domain its packed blocks: whole, or with
    `share` divided among the workers that read the same block."""
    readers = defaultdict(set)
    for w, ph in enumerate(worker_ph):
        for block, _, _ in ph.packed:
            readers[block].add(w)
    for ph in worker_ph:
        for block, cyc, nbytes in ph.packed:
            n = len(readers[block]) if share else 1
            for k, v in cyc.items():
                ph.cyc[k] += v / n
            ph.kv_bytes += nbytes / n
            ph.pack_bytes += nbytes / n


def shares_kv(ks, p, d, dom):
    """CallKvShare's rule: several workers, two lines of one head in two of
    the domain's parts (Partition::splits_group; the target shapes have no
    GQA), and four blocks' panels (two of K, two of V) in the shared half
    of the CMG's L2."""
    lines = defaultdict(set)  # head -> (part, first row) of its items
    for i, part in enumerate(part for parts in dom for part in parts):
        for (u, r0, *_) in part:
            lines[u].add((i, r0))
    split = any(len({i for i, _ in v}) > 1 and len({r for _, r in v}) > 1 for v in lines.values())
    panels = max(round_up(p["chunk"], ks["nr"]) * d, round_up(d, ks["nv"]) * p["chunk"]) * ks["pe"]
    return len(dom) > 1 and split and 4 * panels <= L2_BYTES // 2


def direct_block(ks, c, plan_, shape, rb0, rb1, k0, kbl, ke, started, ph):
    """One chunk (two_pass) or block (online) of a row block in direct mode,
    as strip.cpp runs it: all strips in step (strips_in_step), one
    qk_direct call for the rows of all of them (group_scores; one strip:
    strip_scores), K rows read in place; per strip row max and fold_max on
    its softmax rows (the real ones where few_rows_pv: rows <=
    pv_rows_max = 4; else mr); exp2_rows on all mr rows (it ignores
    `rows`); P·V by pv_direct_rows on a few-row strip's real rows, else
    pv_direct_init/acc on all mr, PV_KEYS keys per call (one strip:
    strip_pv's loop) or PV_TURN_KEYS (several: strips_pv's turns), V rows
    read in place once for all strips (they stay in L1 between the strips'
    turns)."""
    _, _, _, n, d, causal = shape
    mr, dc, esz, pvk = ks["mr"], c["direct"], ks["esz"], plan_.get("pv_keys", PV_KEYS)
    strips = []
    for s0 in range(rb0, rb1, mr):
        rows = min(mr, rb1 - s0)
        hi = min(ke, vis_hi(s0 + rows - 1, n, causal), k0 + kbl)
        strips.append((s0, rows, max(0, hi - k0)))
    cols_all = max(s[2] for s in strips)
    if cols_all <= 0:
        return
    rows_all = rb1 - rb0
    loop, fixed, widen = dc.qk(rows_all, cols_all, d)
    pad = (round_up(rows_all, mr) - rows_all) * cols_all / FILL  # direct_scores' zeroed rows
    ph.direct.append(({"Q·Kᵀ": loop + widen, "Q·Kᵀ call": fixed + c["glue"], "softmax": pad},
                      cols_all * d * esz, "mem: K read (direct)"))
    ph.kv_bytes += cols_all * 2 * d * esz
    ldo = round_up(d, ks["nv"])
    two = plan_["strategy"] == "two_pass"
    p2 = defaultdict(float)  # exp2 and P·V of the chunk: two_pass's ring
    for (s0, rows, cols) in strips:
        if cols <= 0:
            continue
        few = rows <= PV_ROWS_MAX  # few_rows_pv
        srows = rows if few else mr  # softmax_rows
        ph.cyc["softmax"] += srows * (cols // (2 * VL) * c["row_max"] + c["row_max_call"] + c["exp2f"]) + c["glue"]
        if started.get(s0):
            ph.cyc["softmax"] += mr * (ldo // VL) * c["rescale"] + c["glue"]
        started[s0] = True
        slots = [plan_["nb"]] * (cols // plan_["nb"]) + ([cols % plan_["nb"]] if cols % plan_["nb"] else [])
        if not two:
            slots = [cols]
        exp2 = p2 if two else ph.cyc
        for kp in slots:
            exp2["exp2"] += -(-kp // VL) * c["exp2_direct"] + c["exp2_direct_call"] + c["glue"]
            # one strip: a call per slot (few rows) or per PV_KEYS keys;
            # several strips take turns per PV_TURN_KEYS keys
            step = pvk if len(strips) == 1 else PV_TURN_KEYS
            calls = [kp] if few and len(strips) == 1 else \
                [step] * (kp // step) + ([kp % step] if kp % step else [])
            for k in calls:
                lp, fx = dc.pv_rows(rows, k, d) if few else dc.pv(k, d)
                p2["P·V"] += lp
                p2["P·V call"] += fx + c["glue"]
    ph.direct.append((dict(p2), cols_all * d * esz, "mem: V read (direct)"))


def item(ks, c, plan_, shape, u, r0, r1, kb, ke, ph):
    """Rows [r0, r1) of one head against keys [kb, ke), as online.cpp and
    two_pass.cpp walk them: row blocks of mb rows, K/V packed per block of
    nb keys (online) or per chunk (two_pass), mr-row strips; or in direct
    mode (plan's `direct`) K/V read in place per chunk or block."""
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
            if plan_["direct"]:
                direct_block(ks, c, plan_, shape, rb0, rb1, k0, kbl, ke, started, ph)
                continue
            pack_block(ks, c, (u, k0, kbl), kbl, d, d, ph)
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

# Options of a run (report's what-ifs and steps; the table uses the defaults):
#   direct:  True as the runtime decides, False as if no set had the direct
#            path, "force" what-if for fast precision on whole strips (plan());
#   overlap: a direct phase at max(compute, stream) (True), or their sum;
#   mem:     the memory terms at all; calls: per-call fixed costs and glue;
#   pv_keys: keys per direct P·V call of a strip alone (strip.hpp kDirectPvKeys);
#   nb:      an online plan rule's key block (None: kBuiltin's, 0: default_blocking's).
#   share:   K/V blocks packed once per CMG where the runtime shares them.
DEFAULT = dict(direct=True, overlap=True, mem=True, calls=True, pv_keys=PV_KEYS, nb=None, share=True)


def run(ks, c, shape, workers, dname, opt=None):
    """Estimated seconds of one call, its bound, the time split, the plan
    and the HBM bytes."""
    opt = dict(DEFAULT, **(opt or {}))
    B, H, M, N, D, causal = shape
    p = plan(ks, shape, workers, dname, opt["direct"], opt["nb"])
    p["pv_keys"] = opt["pv_keys"]
    if not opt["calls"]:
        direct = copy.copy(c["direct"])  # the same measurements, fixed costs 0
        direct.free_calls = True
        c = {k: 0.0 if k.endswith("_call") or k in ("qk_flush", "glue", "exp2f") else v for k, v in c.items()}
        c["direct"] = direct
    per_worker_parts, _ = partition(shape, p["mb"], ks["nr"], workers)
    inf = float("inf")
    bw = (min(BW_CORE, BW_CMG / CORES) if workers > 1 else BW_CORE) if opt["mem"] else inf
    bw_cmg, bw_hbm = (BW_CMG, BW_HBM) if opt["mem"] else (inf, inf)
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
                    item(ks, c, p, shape, u, r0, r1, k0, k1, ph)
            worker_ph.append(ph)
        settle_packing(worker_ph, opt["share"] and shares_kv(ks, p, D, dom))
        read = sum(ph.kv_bytes for ph in worker_ph)
        frac = distinct / read if reuse and read else 1.0
        qo = sum(ph.qo_bytes for ph in worker_ph)
        hbm = read * frac + qo
        hbm_total += hbm
        for ph in worker_ph:
            times.append(worker_time(ph, frac, bw, opt["overlap"]))
        times.append((hbm / bw_cmg, {"CMG bandwidth": hbm / bw_cmg}))
    times.append((hbm_total / bw_hbm, {"HBM bandwidth": hbm_total / bw_hbm}))
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


def worker_time(ph, frac, bw, overlap=True):
    """Seconds of one worker: its phases summed; the packing phase at
    max(compute, its HBM bytes over the core's bandwidth); each direct
    phase at max(compute, the K or V rows it streams over that bandwidth)
    (overlap=False: their sum); Q and O as memory only."""
    hz = GHZ * 1e9
    sec = {k: v / hz for k, v in ph.cyc.items()}
    pack = sec.get("pack K", 0) + sec.get("pack V", 0)
    mem = ph.pack_bytes * frac / bw
    out = defaultdict(float, {k: v for k, v in sec.items() if not k.startswith("pack")})
    if mem > pack:
        out["mem: K/V read"] += mem
    elif pack:
        out["pack K"], out["pack V"] = sec.get("pack K", 0), sec.get("pack V", 0)
    for parts, nbytes, label in ph.direct:
        comp, m = sum(parts.values()) / hz, nbytes * frac / bw
        if overlap and m > comp:
            out[label] += m
            continue
        for k, v in parts.items():
            out[k] += v / hz
        if not overlap:
            out[label] += m
    out["mem: Q, O"] = ph.qo_bytes / bw
    return sum(out.values()), dict(out)


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


def memo(measure):
    """measure, each region compiled and run through llvm-mca once."""
    seen = {}

    def m(name, call, whole=False, iterations=1000):
        key = (call, whole, iterations)
        if key not in seen:
            seen[key] = measure(name, call, whole=whole, iterations=iterations)
        return seen[key]
    return m


class Costs:
    """The sets' measured cycles, each set measured when first used."""

    def __init__(self, measure):
        self.measure, self.sets = memo(measure), {}

    def __call__(self, name, reading):
        if name not in self.sets:
            self.sets[name] = measure_set(self.measure, name, SETS[name])
        return self.sets[name][reading]


def estimate(costs, sname, dname, workers, opt=None, names=None):
    """{reading: (GFLOP/s, % of peak, bound, split, seconds, HBM bytes)},
    the plan, the set's tiles."""
    shape = SHAPES[sname]
    set_name, ks = pick(dname, shape, names)
    row = {}
    for reading in ("A", "B"):
        t, bound, split, p, hbm = run(ks, costs(set_name, reading), shape, workers, dname, opt)
        gf = flops(shape) / t / 1e9
        peak = ks["peak"] * GHZ * workers  # FLOP/cycle of one core x GHz
        row[reading] = (gf, 100 * gf / peak, bound, split, t, hbm)
    return row, p, ks


def report(measure):
    """The table of estimated whole calls, the targets, what bounds them,
    what-ifs and the before/after steps."""
    costs = Costs(measure)
    print(f"# --model: ESTIMATED A64FX forward passes (llvm-mca -mcpu=a64fx, {GHZ} GHz), "
          f"{datetime.date.today()}, commit {commit()}; nothing measured.")
    print("# A: llvm-mca as is; B: gathers 8 cycles per 16 lanes, epilogues not overlapped.")
    print("# Includes: every loop and call of the plan's pipeline on the K/V path strip.cpp takes")
    print("# (packed: K gather/V copy per block; direct: K/V rows in place), call epilogues,")
    print(f"# fold_max exp2f ({EXP2F} c/row, assumed), call glue ({GLUE} c, assumed), HBM reads per phase")
    print(f"# (core {BW_CORE/1e9:.0f}, CMG {BW_CMG/1e9:.0f}, HBM {BW_HBM/1e9:.0f} GB/s): packing max(pack, bytes);"
          " direct max(Q·Kᵀ, K) and max(exp2+P·V, V); phases summed.")
    print("# Leaves out: cache misses of S, panels, V rows (L2 assumed to keep up), Q packing, normalize,")
    print("# masks, split-KV merges, scheduling, OS, turbo/clock changes, and the direct kernels' prefetches")
    print("# of the next rows issued between tiles (Q·Kᵀ) and column passes (whole-strip P·V).")
    print("| shape | dtype | cores | plan | GFLOP/s A | % peak A | GFLOP/s B | % peak B | bound | time (A) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    results = {}
    for sname, shape in SHAPES.items():
        for dname in DTYPES:
            for workers in (1, CMGS * CORES):
                row, p, ks = estimate(costs, sname, dname, workers)
                results[(sname, dname, workers)] = row
                gfa, pa, bound, split, t, hbm = row["A"]
                gfb, pb = row["B"][:2]
                print(f"| {sname} | {dname} | {workers} | {plan_text(ks, p, workers)} | {gfa:.0f} | {pa:.1f} | "
                      f"{gfb:.0f} | {pb:.1f} | {bound}{hbm_text(sname, row)} | {top(split, t)} |")
    gaps(results)
    what_if(costs, results)
    steps(costs)
    kv_share_steps(costs, results)
    return results


def model_lines(results):
    """One record line per table row: shape, dtype, cores, % of peak A and B."""
    return [f"{s} {d.replace(' ', '_')} {w} {row['A'][1]:.1f} {row['B'][1]:.1f}"
            for (s, d, w), row in results.items()]


def check_model(results, path):
    """Failures (a line each): a row whose estimate fell more than 0.1 point
    below its record in path, or has none, and a target of issue 19 missed."""
    rec = {}
    for line in open(path):
        f = line.split()
        if f and not f[0].startswith("#"):
            rec[tuple(f[:3])] = (float(f[3]), float(f[4]))
    bad = []
    for line in model_lines(results):
        f = line.split()
        key, now = tuple(f[:3]), (float(f[3]), float(f[4]))
        if key not in rec:
            bad.append(f"{' '.join(key)}: no record")
        elif any(n < r - 0.1 for n, r in zip(now, rec[key])):
            bad.append(f"{' '.join(key)}: {now[0]:.1f} / {now[1]:.1f}% below record {rec[key][0]:.1f} / {rec[key][1]:.1f}%")
    for s, d, tgt in TARGETS_1:
        pct = results[(s, d, 1)]["A"][1]
        if pct < tgt:
            bad.append(f"{s} {d} 1 core: {pct:.1f}% misses the target {tgt}%")
    return bad


def plan_text(ks, p, workers):
    return (f"{ks['tiles']} {p['strategy']} mb {p['mb']} nb {p['nb']}"
            + (f" chunk {p['chunk']}" if p["strategy"] == "two_pass" else "")
            + (" direct" if p["direct"] else " packed")
            + (f", balance {p['balance']:.2f}" if workers > 1 else ""))


def hbm_text(sname, row):
    gf, _, _, _, t, hbm = row["A"]
    return f", K/V {hbm / t / 1e9:.0f} GB/s" if sname == "S5" else ""


def top(split, t):
    items_ = sorted(split.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {100 * v / t:.0f}%" for k, v in items_ if v / t >= 0.03)


def hbm_pct(row, reading="A"):
    _, _, _, _, t, hbm = row[reading]
    return 100 * hbm / t / BW_HBM


TARGETS_1 = (("S2", "fp32 accurate", 80), ("S4", "fp32 accurate", 70), ("S2", "fp16 fast", 72))


def gaps(r):
    """The issue's targets against the estimates (reading A, the upper one)."""
    def pct(s, d, w, reading="A"):
        return r[(s, d, w)][reading][1]
    print("\n# Targets (issue 19) against these estimates (A / B):")
    for s, d, tgt in TARGETS_1:
        print(f"#   {s} {d}, 1 core: target >= {tgt}% of peak, estimated {pct(s, d, 1):.1f}% / "
              f"{pct(s, d, 1, 'B'):.1f}%")
    for d in DTYPES:
        one, many = (r[("S2", d, w)]["A"][0] for w in (1, 48))
        print(f"#   S2 {d}, 48 cores: target >= 85% of 48x one core, estimated {100 * many / (48 * one):.1f}%")
    for d in DTYPES:
        row = r[("S5", d, 48)]
        _, _, _, _, t, hbm = row["A"]
        print(f"#   S5 {d}, 48 cores: target >= 80% of HBM bandwidth{'' if fast(d) else ' (fp16 only)'}, "
              f"estimated {hbm / t / 1e9:.0f} GB/s = {hbm_pct(row):.0f}% / {hbm_pct(row, 'B'):.0f}% "
              f"of {BW_HBM / 1e9:.0f} GB/s")


def what_if(costs, r):
    """Sensitivities and what-ifs, each ESTIMATED with the same model; none
    of them is what the runtime does now unless said."""
    print("\n# Sensitivity: the direct K/V stream NOT overlapped with the compute of its phase")
    print("# (compute + bytes / bandwidth: the pessimistic end, not an upper bound), A / B:")
    for s, d, w in (("S4", "fp32 accurate", 1), ("S4", "fp32 accurate", 48), ("S5", "fp32 accurate", 48)):
        row = estimate(costs, s, d, w, dict(overlap=False))[0]
        extra = f", {hbm_pct(row):.0f}% / {hbm_pct(row, 'B'):.0f}% of HBM" if s == "S5" else ""
        print(f"#   {s} {d}, {w} core(s): {row['A'][1]:.1f}% / {row['B'][1]:.1f}% of peak{extra} "
              f"(overlapped: {r[(s, d, w)]['A'][1]:.1f}% / {r[(s, d, w)]['B'][1]:.1f}%)")
    print("\n# What-ifs (not what the runtime does; estimated), A / B:")
    for s, w in (("S4", 1), ("S4", 48)):
        row = estimate(costs, s, "fp16 fast", w, dict(direct="force"))[0]
        now = r[(s, "fp16 fast", w)]
        print(f"#   {s} fp16 fast, {w} core(s), direct K/V with the accurate P·V path (fp32 P, accurate exp2),"
              f" forced onto whole strips (12 rows): {row['A'][1]:.1f}% / {row['B'][1]:.1f}% of the fp16 peak"
              f" (now, packed: {now['A'][1]:.1f}% / {now['B'][1]:.1f}%)")
    for s, d in (("S2", "fp32 accurate"), ("S2", "fp16 fast")):
        row = estimate(costs, s, d, 1, dict(nb=0))[0]
        now = r[(s, d, 1)]
        print(f"#   {s} {d}, 1 core, online with the default nb 256 (no sve512 rule at D = 128):"
              f" {row['A'][1]:.1f}% / {row['B'][1]:.1f}% (now nb 512: {now['A'][1]:.1f}% / {now['B'][1]:.1f}%)")
    for keys in (16, 64):
        row = estimate(costs, "S4", "fp32 accurate", 1, dict(pv_keys=keys))[0]
        print(f"#   S4 fp32 accurate, 1 core, {keys} keys per direct P·V call of a strip alone"
              f" (kDirectPvKeys, now {PV_KEYS}):"
              f" {row['A'][1]:.1f}% / {row['B'][1]:.1f}% (now {r[('S4', 'fp32 accurate', 1)]['A'][1]:.1f}% / "
              f"{r[('S4', 'fp32 accurate', 1)]['B'][1]:.1f}%)")


STEP_ROWS = (("S2", "fp32 accurate", 1), ("S4", "fp32 accurate", 1), ("S2", "fp16 fast", 1),
             ("S4", "fp16 fast", 1), ("S5", "fp32 accurate", 48), ("S5", "fp16 fast", 48))


def kv_share_steps(costs, r):
    """Issue 19 part 3 before/after: 48 cores with each row block packing its
    own K/V blocks, then with the blocks packed once per CMG (now), and S2
    against 48x one core; % of peak, A / B, estimated."""
    print("\n# K/V shared per CMG, 48 cores (estimated, A / B, % of peak; eff: % of 48x one core, A):")
    print("| shape | dtype | packed per row block | packed once per CMG (now) | eff before | eff now |")
    print("| --- | --- | --- | --- | --- | --- |")
    for s in ("S1", "S2", "S3", "S6"):
        for d in DTYPES:
            before = estimate(costs, s, d, 48, dict(share=False))[0]
            now, one = r[(s, d, 48)], r[(s, d, 1)]
            eff = lambda row: 100 * row["A"][0] / (48 * one["A"][0])  # noqa: E731
            print(f"| {s} | {d} | {before['A'][1]:.1f} / {before['B'][1]:.1f} | {now['A'][1]:.1f} / "
                  f"{now['B'][1]:.1f} | {eff(before):.1f} | {eff(now):.1f} |")


def steps(costs):
    """Before/after: each change of issue 19 added in turn, then what each of
    the model's honesty terms costs (the estimate without it), all with this
    model and its kernels' current llvm-mca cycles; S5: % of HBM."""
    fp32_8x3, fp16_fp32qk = ("fp32 accurate",), ("fp16 fast, fp32 Q·Kᵀ",)
    stages = (
        ("8x3 fp32 only, fp32 Q·Kᵀ on fp16, K/V packed", dict(direct=False, nb=0), fp32_8x3, fp16_fp32qk),
        ("+ tile sibling (fp32 takes 12x2 where it pads less)", dict(direct=False, nb=0), None, fp16_fp32qk),
        ("+ fp16 Q·Kᵀ for fast (qk_fp16_12x2_fast)", dict(direct=False, nb=0), None, None),
        ("+ direct K/V", dict(nb=0), None, None),
        ("+ online nb 512 at D = 128 (sve512 plan rule; now)", {}, None, None),
        ("now, without per-call fixed costs and glue", dict(calls=False), None, None),
        ("now, without the memory terms", dict(mem=False), None, None),
        ("now, direct stream not overlapped (not a bound)", dict(overlap=False), None, None),
    )
    print("\n# Before/after (estimated, A / B; S5: % of 830 GB/s HBM, else % of peak):")
    print("| step | " + " | ".join(f"{s} {d} {w}c" for s, d, w in STEP_ROWS) + " |")
    print("| --- |" + " --- |" * len(STEP_ROWS))
    for label, opt, n32, n16 in stages:
        cells = []
        for s, d, w in STEP_ROWS:
            names = n32 if d == "fp32 accurate" else n16
            row = estimate(costs, s, d, w, opt, names)[0]
            star = "" if opt.get("mem", True) else "*"
            cells.append(f"{hbm_pct(row):.0f}{star} / {hbm_pct(row, 'B'):.0f}{star}" if s == "S5"
                         else f"{row['A'][1]:.1f} / {row['B'][1]:.1f}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("# *: no bandwidth bound; the K/V GB/s the compute alone would sustain, in % of 830 GB/s.")
