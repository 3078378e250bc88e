// attnrt._attnrt: the nanobind layer. Arrays arrive through DLPack or the
// buffer protocol and become attnrt_tensor views (no copy); attnrt/__init__.py
// allocates outputs and holds the friendly signature.
#include <attnrt/attnrt.hpp>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <Python.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nb = nanobind;

namespace {

using Array = nb::ndarray<nb::ro, nb::device::cpu>;
using OutArray = nb::ndarray<nb::device::cpu>;
using Floats = nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using Int32s = nb::ndarray<const std::int32_t, nb::c_contig, nb::device::cpu>;
using Int64s = nb::ndarray<const std::int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

[[noreturn]] void raise(PyObject* type, const std::string& message) {
  PyErr_SetString(type, message.c_str());
  throw nb::python_error();
}

// attnrt's status -> the Python exception a caller expects, message kept.
[[noreturn]] void raise_status(attnrt_status status) {
  const std::string message = attnrt_last_error();
  switch (status) {
    case ATTNRT_INVALID_ARGUMENT:
    case ATTNRT_CONFIG_ERROR: raise(PyExc_ValueError, message);
    case ATTNRT_UNSUPPORTED: raise(PyExc_NotImplementedError, message);
    default: raise(PyExc_RuntimeError, message);
  }
}

// DLPack's codes of the OCP fp8 formats attnrt reads (torch.float8_e4m3fn,
// torch.float8_e5m2), numbered here so any nanobind >= 2.2 builds this.
constexpr uint8_t kFloat8E4M3FN = 10, kFloat8E5M2 = 12;

std::string dtype_name(nb::dlpack::dtype t) {
  if (t.code == uint8_t(nb::dlpack::dtype_code::Bool)) return "bool";
  const char* kind = t.code == uint8_t(nb::dlpack::dtype_code::Float)     ? "float"
                     : t.code == uint8_t(nb::dlpack::dtype_code::Bfloat)  ? "bfloat"
                     : t.code == uint8_t(nb::dlpack::dtype_code::Int)     ? "int"
                     : t.code == uint8_t(nb::dlpack::dtype_code::UInt)    ? "uint"
                     : t.code == uint8_t(nb::dlpack::dtype_code::Complex) ? "complex"
                                                                          : nullptr;
  if (t.code == kFloat8E4M3FN && t.bits == 8) return "float8_e4m3fn";
  if (t.code == kFloat8E5M2 && t.bits == 8) return "float8_e5m2";
  return (kind ? kind : "other") + std::to_string(t.bits);
}

// The one place array element types map to attnrt's. bf16_as_u16: numpy's
// ml_dtypes.bfloat16 arrives viewed as uint16, since neither numpy's DLPack
// nor its buffer format knows bfloat16. int8 maps to ATTNRT_I8 for every
// array (attnrt says that only k and v may be quantized). kv: k or v, whose
// uint8 codes are u8_as (kv_format: fp8, as numpy's ml_dtypes fp8 arrive).
attnrt_dtype to_dtype(nb::dlpack::dtype t, bool bf16_as_u16, const char* name, bool kv = false,
                      std::optional<attnrt_dtype> u8_as = std::nullopt) {
  if (t == nb::dtype<float>()) return ATTNRT_F32;
  if (t.lanes == 1 && t.bits == 16) {
    if (t.code == uint8_t(nb::dlpack::dtype_code::Float)) return ATTNRT_F16;
    if (t.code == uint8_t(nb::dlpack::dtype_code::Bfloat)) return ATTNRT_BF16;
    if (bf16_as_u16 && t.code == uint8_t(nb::dlpack::dtype_code::UInt)) return ATTNRT_BF16;
  }
  if (t.lanes == 1 && t.bits == 8) {
    if (t.code == uint8_t(nb::dlpack::dtype_code::Int)) return ATTNRT_I8;
    if (t.code == kFloat8E4M3FN) return ATTNRT_F8_E4M3;
    if (t.code == kFloat8E5M2) return ATTNRT_F8_E5M2;
    if (u8_as && t.code == uint8_t(nb::dlpack::dtype_code::UInt)) return *u8_as;
  }
  std::string rule = "float32, float16 or bfloat16";
  if (kv)  // the quantized KV cache's too
    rule += ", or int8, float8_e4m3fn or float8_e5m2 codes (uint8 codes need kv_format="
            "'fp8_e4m3' or 'fp8_e5m2')";
  raise(PyExc_ValueError, std::string(name) + ".dtype (" + dtype_name(t) + ") must be " + rule);
}

// kv_format: what uint8 k and v hold ("" for nothing; only fp8 needs it).
std::optional<attnrt_dtype> to_kv_format(const std::string& name) {
  if (name.empty()) return std::nullopt;
  if (name == "fp8_e4m3") return ATTNRT_F8_E4M3;
  if (name == "fp8_e5m2") return ATTNRT_F8_E5M2;
  raise(PyExc_ValueError, "kv_format ('" + name + "') must be 'fp8_e4m3', 'fp8_e5m2' or None");
}

// k or v, quantized or not; kv_format must agree with what it holds.
attnrt_dtype to_kv_dtype(nb::dlpack::dtype dt, bool bf16_as_u16, const std::string& kv_format,
                         const char* name) {
  const std::optional<attnrt_dtype> u8_as = to_kv_format(kv_format);
  const attnrt_dtype t = to_dtype(dt, bf16_as_u16, name, true, u8_as);
  if (u8_as && t != *u8_as)
    raise(PyExc_ValueError, "kv_format ('" + kv_format + "') names the fp8 codes of uint8 k and v, but " +
                                name + ".dtype is " + dtype_name(dt));
  return t;
}

// A 4-D array in `bshd` or BHSD order, or 3-D without the batch, as attnrt's
// [batch, heads, seq, dim] view; only the last dimension must be contiguous.
// `last` names the last dimension in messages (head_dim, or bias's keys).
template <class A>
attnrt_tensor to_tensor(const A& a, bool bshd, attnrt_dtype dtype, const char* name,
                        const char* last = "head_dim") {
  const size_t nd = a.ndim();
  if (nd != 3 && nd != 4)
    raise(PyExc_ValueError, std::string(name) + " must be a 3-D or 4-D array, got " +
                                std::to_string(nd) + "-D");
  std::int64_t shape[4], stride[4];
  const size_t off = 4 - nd;
  for (size_t i = 0; i < nd; ++i) {
    shape[off + i] = static_cast<std::int64_t>(a.shape(i));
    stride[off + i] = static_cast<std::int64_t>(a.stride(i));
  }
  if (nd == 3) {  // batch 1; any non-zero stride serves (outputs reject 0)
    shape[0] = 1;
    stride[0] = std::max<std::int64_t>(1, shape[1] * (stride[1] < 0 ? -stride[1] : stride[1]));
  }
  // An empty array's strides mean nothing (DLPack may give 0s); attnrt refuses it, naming the dimension.
  const bool empty = shape[0] == 0 || shape[1] == 0 || shape[2] == 0 || shape[3] == 0;
  if (empty) stride[3] = 1;
  if (stride[3] != 1 && shape[3] > 1)
    raise(PyExc_ValueError, std::string(name) + "'s last dimension (" + last + ") must be contiguous, "
                                "got element stride " + std::to_string(stride[3]));
  if (bshd) {
    std::swap(shape[1], shape[2]);
    std::swap(stride[1], stride[2]);
  }
  return {const_cast<void*>(a.data()), dtype, {shape[0], shape[1], shape[2], shape[3]},
          {stride[0], stride[1], stride[2]}};
}

// "2-D, shape (2, 1)": what an index array was, for messages.
template <class A>
std::string shape_text(const A& a) {
  std::string s = std::to_string(a.ndim()) + "-D, shape (";
  for (size_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + ")";
}

template <class A>
void check_len(const A& a, size_t want, const char* name, const char* rule) {
  if (a.ndim() != 1 || a.shape(0) != want)
    raise(PyExc_ValueError, std::string(name) + " must be 1-D with " + std::to_string(want) +
                                " entries (" + rule + "), got " + shape_text(a));
}

attnrt_strategy to_strategy(const std::string& name) {
  if (name == "auto") return ATTNRT_STRATEGY_AUTO;
  if (name == "online") return ATTNRT_STRATEGY_ONLINE;
  if (name == "two_pass") return ATTNRT_STRATEGY_TWO_PASS;
  if (name == "three_pass") return ATTNRT_STRATEGY_THREE_PASS;
  raise(PyExc_ValueError,
        "strategy (" + name + ") must be 'auto', 'online', 'two_pass' or 'three_pass'");
}

attnrt_precision to_precision(const std::string& name) {
  if (name == "accurate") return ATTNRT_EXP2_ACCURATE;
  if (name == "fast") return ATTNRT_EXP2_FAST;
  raise(PyExc_ValueError, "precision (" + name + ") must be 'accurate' or 'fast'");
}

class PyRuntime {
 public:
  PyRuntime(int threads, const std::string& executor, const std::string& isa,
            const std::string& domains, const std::string& bind, const std::string& topology,
            const std::string& strategy, bool verbose, const std::string& uarch) {
    attnrt_config c;
    if (const attnrt_status s = attnrt_config_init(&c); s != ATTNRT_OK) raise_status(s);
    if (threads < 0)
      raise(PyExc_ValueError, "threads (" + std::to_string(threads) + ") must be >= 0");
    if (threads) c.num_threads = threads;
    if (executor == "openmp") c.executor = ATTNRT_EXECUTOR_OPENMP;
    else if (executor == "tbb") c.executor = ATTNRT_EXECUTOR_TBB;
    else if (!executor.empty())
      raise(PyExc_ValueError, "executor (" + executor + ") must be 'openmp' or 'tbb'");
    if (!isa.empty()) c.isa = isa.c_str();
    if (!domains.empty()) c.domains = domains.c_str();
    if (!bind.empty()) c.bind = bind.c_str();
    if (!topology.empty()) c.topology = topology.c_str();
    if (strategy != "auto") c.strategy = to_strategy(strategy);
    if (verbose) c.verbose = 1;
    if (!uarch.empty()) c.uarch = uarch.c_str();
    attnrt_status s;
    {
      nb::gil_scoped_release release;  // creating a pool may take a while
      s = attnrt_runtime_create(&c, &rt_);
    }
    if (s != ATTNRT_OK) raise_status(s);
  }
  ~PyRuntime() { attnrt_runtime_destroy(rt_); }
  PyRuntime(const PyRuntime&) = delete;
  PyRuntime& operator=(const PyRuntime&) = delete;

  attnrt_runtime* get() const { return rt_; }

 private:
  attnrt_runtime* rt_ = nullptr;
};

struct Call {
  attnrt_tensor q, k, v, o, bias, lse, k_scale, v_scale;
  attnrt_params p;
};

// Everything attnrt.attention passes, positional for speed (see __init__.py).
void forward(const Array& q, const Array& k, const Array& v, const OutArray& o,
             const PyRuntime* runtime, bool bshd, bool bf16_as_u16, float scale, bool causal,
             bool top_left, std::int64_t window_left, std::int64_t window_right, float softcap,
             const std::string& precision, const std::string& strategy,
             std::optional<OutArray> lse, std::optional<Array> bias,
             std::optional<Int64s> kv_lens, std::optional<Floats> alibi_slopes,
             std::optional<Floats> sinks, std::optional<Int32s> cu_seqlens_q,
             std::optional<Int32s> cu_seqlens_k, std::optional<Int32s> block_table,
             std::optional<Array> k_scale, std::optional<Array> v_scale,
             const std::string& kv_format) {
  Call c;
  c.q = to_tensor(q, bshd, to_dtype(q.dtype(), bf16_as_u16, "q"), "q");
  c.k = to_tensor(k, bshd, to_kv_dtype(k.dtype(), bf16_as_u16, kv_format, "k"), "k");
  c.v = to_tensor(v, bshd, to_kv_dtype(v.dtype(), bf16_as_u16, kv_format, "v"), "v");
  c.o = to_tensor(o, bshd, to_dtype(o.dtype(), bf16_as_u16, "out"), "out");
  attnrt_params_init(&c.p);
  c.p.scale = scale;
  c.p.causal = causal ? 1 : 0;
  c.p.align = top_left ? ATTNRT_ALIGN_TOP_LEFT : ATTNRT_ALIGN_BOTTOM_RIGHT;
  c.p.window_left = window_left;
  c.p.window_right = window_right;
  c.p.softcap = softcap;
  c.p.precision = to_precision(precision);
  c.p.strategy = to_strategy(strategy);
  const std::int64_t batch = c.q.shape[0], heads = c.q.shape[1];
  if (lse) {  // [B, H, M] (or [H, M]) fp32, viewed as attnrt's [B, H, M, 1]
    if (lse->dtype() != nb::dtype<float>())
      raise(PyExc_ValueError, "lse.dtype (" + dtype_name(lse->dtype()) + ") must be float32");
    const size_t nd = lse->ndim();
    if (nd != 2 && nd != 3)
      raise(PyExc_ValueError, "lse must be a 2-D or 3-D array, got " + std::to_string(nd) + "-D");
    std::int64_t sh[3] = {1, 1, 1}, st[3] = {1, 1, 1};
    for (size_t i = 0; i < nd; ++i) {
      sh[3 - nd + i] = static_cast<std::int64_t>(lse->shape(i));
      st[3 - nd + i] = static_cast<std::int64_t>(lse->stride(i));
    }
    if (nd == 2) st[0] = std::max<std::int64_t>(1, sh[1] * st[1]);
    c.lse = {lse->data(), ATTNRT_F32, {sh[0], sh[1], sh[2], 1}, {st[0], st[1], st[2]}};
    c.p.lse = &c.lse;
  }
  if (bias) {
    if (bias->dtype() != nb::dtype<float>())
      raise(PyExc_ValueError, "bias.dtype (" + dtype_name(bias->dtype()) + ") must be float32");
    if (bias->ndim() != 4)
      raise(PyExc_ValueError, "bias must be a 4-D array [1|B, 1|H, M, N], got " +
                                  std::to_string(bias->ndim()) + "-D");
    c.bias = to_tensor(*bias, false, ATTNRT_F32, "bias", "keys");
    c.p.bias = &c.bias;
  }
  // Quantized K/V's fp32 scales: shaped like k / v with head_dim 1, in their
  // layout; attnrt checks the shapes (size 1 broadcasts) and when they apply.
  for (auto [scale_array, view, field, name] :
       {std::tuple{&k_scale, &c.k_scale, &c.p.k_scale, "k_scale"},
        {&v_scale, &c.v_scale, &c.p.v_scale, "v_scale"}}) {
    if (!*scale_array) continue;
    const Array& a = **scale_array;
    if (a.dtype() != nb::dtype<float>())
      raise(PyExc_ValueError, std::string(name) + ".dtype (" + dtype_name(a.dtype()) +
                                  ") must be float32");
    *view = to_tensor(a, bshd, ATTNRT_F32, name);
    *field = view;
  }
  std::int64_t seqs = batch;  // what kv_lens and block_table count per
  // attnrt checks how these combine; only the lengths it cannot see are checked here.
  if (cu_seqlens_q) {
    if (cu_seqlens_q->ndim() != 1 || cu_seqlens_q->shape(0) < 2)
      raise(PyExc_ValueError, "cu_seqlens_q must be 1-D with num_seqs + 1 >= 2 entries");
    seqs = static_cast<std::int64_t>(cu_seqlens_q->shape(0)) - 1;
    c.p.cu_seqlens_q = cu_seqlens_q->data();
    c.p.num_seqs = seqs;
  }
  if (cu_seqlens_k) {
    if (cu_seqlens_q)
      check_len(*cu_seqlens_k, cu_seqlens_q->shape(0), "cu_seqlens_k", "as many as cu_seqlens_q");
    c.p.cu_seqlens_k = cu_seqlens_k->data();
  }
  if (kv_lens) {
    check_len(*kv_lens, static_cast<size_t>(seqs), "kv_lens", "one per sequence");
    c.p.kv_lens = kv_lens->data();
  }
  if (alibi_slopes) {
    check_len(*alibi_slopes, static_cast<size_t>(heads), "alibi_slopes", "one per query head");
    c.p.alibi_slopes = alibi_slopes->data();
  }
  if (sinks) {
    check_len(*sinks, static_cast<size_t>(heads), "sinks", "one per query head");
    c.p.sinks = sinks->data();
  }
  if (block_table) {
    if (block_table->ndim() != 2 || static_cast<std::int64_t>(block_table->shape(0)) != seqs)
      raise(PyExc_ValueError, "block_table must be 2-D with " + std::to_string(seqs) +
                                  " rows (one per sequence), got " + shape_text(*block_table));
    c.p.block_table = block_table->data();
    c.p.block_table_stride = static_cast<std::int64_t>(block_table->shape(1));
  }
  attnrt_status s;
  {
    nb::gil_scoped_release release;
    s = runtime ? attnrt_runtime_forward(runtime->get(), &c.q, &c.k, &c.v, &c.o, &c.p)
                : attnrt_attention_forward(&c.q, &c.k, &c.v, &c.o, &c.p);
  }
  if (s != ATTNRT_OK) raise_status(s);
}

// attnrt.cache_write: src's rows into cache slots (attnrt_cache_write).
// src_bf16 / cache_bf16: that uint16 array holds bfloat16 (numpy's).
void cache_write(const Array& src, const OutArray& cache, const Int64s& slots, std::optional<OutArray> scale,
                 bool bshd, bool src_bf16, bool cache_bf16, const std::string& kv_format, const PyRuntime* runtime) {
  const attnrt_tensor s = to_tensor(src, bshd, to_dtype(src.dtype(), src_bf16, "src"), "src");
  const attnrt_tensor c = to_tensor(cache, bshd, to_kv_dtype(cache.dtype(), cache_bf16, kv_format, "cache"), "cache");
  const std::int64_t tokens = s.shape[0] * s.shape[2];
  check_len(slots, static_cast<size_t>(tokens), "slots", "one per token of src");
  attnrt_tensor sc{};
  if (scale) {
    if (scale->dtype() != nb::dtype<float>())
      raise(PyExc_ValueError, "scale.dtype (" + dtype_name(scale->dtype()) + ") must be float32");
    sc = to_tensor(*scale, bshd, ATTNRT_F32, "scale");
  }
  attnrt_status status;
  {
    nb::gil_scoped_release release;
    status = runtime ? attnrt_runtime_cache_write(runtime->get(), &s, &c, scale ? &sc : nullptr, slots.data())
                     : attnrt_cache_write(&s, &c, scale ? &sc : nullptr, slots.data());
  }
  if (status != ATTNRT_OK) raise_status(status);
}

// The overhead baseline: the call attnrt.attention(q, k, v, out=o,
// runtime=r) makes, timed from C++; median nanoseconds of `iters` calls.
double time_forward_ns(const Array& q, const Array& k, const Array& v, const OutArray& o,
                       const PyRuntime& runtime, int iters) {
  const attnrt_tensor cq = to_tensor(q, false, to_dtype(q.dtype(), false, "q"), "q");
  const attnrt_tensor ck = to_tensor(k, false, to_dtype(k.dtype(), false, "k"), "k");
  const attnrt_tensor cv = to_tensor(v, false, to_dtype(v.dtype(), false, "v"), "v");
  const attnrt_tensor co = to_tensor(o, false, to_dtype(o.dtype(), false, "out"), "out");
  attnrt_params p;
  attnrt_params_init(&p);
  std::vector<double> ns(static_cast<size_t>(std::max(iters, 1)));
  nb::gil_scoped_release release;
  for (double& t : ns) {
    const auto t0 = std::chrono::steady_clock::now();
    const attnrt_status s = attnrt_runtime_forward(runtime.get(), &cq, &ck, &cv, &co, &p);
    const auto t1 = std::chrono::steady_clock::now();
    if (s != ATTNRT_OK) {
      nb::gil_scoped_acquire acquire;
      raise_status(s);
    }
    t = std::chrono::duration<double, std::nano>(t1 - t0).count();
  }
  std::nth_element(ns.begin(), ns.begin() + ns.size() / 2, ns.end());
  return ns[ns.size() / 2];
}

// The JAX array attnrt.attention returns for JAX inputs: `array`'s memory
// (an output __init__.py allocated with numpy, 64-byte aligned so that JAX
// keeps it instead of copying), kept alive by it. bf16: its uint16 elements
// are bfloat16, a type numpy cannot hand over through DLPack.
nb::ndarray<nb::jax> jax_view(nb::object array, bool bf16) {
  const auto a = nb::cast<OutArray>(array);
  std::vector<size_t> shape(a.ndim());
  std::vector<std::int64_t> strides(a.ndim());
  for (size_t i = 0; i < a.ndim(); ++i) {
    shape[i] = a.shape(i);
    strides[i] = a.stride(i);
  }
  nb::dlpack::dtype t = a.dtype();
  if (bf16) t = {uint8_t(nb::dlpack::dtype_code::Bfloat), 16, 1};
  return nb::ndarray<nb::jax>(a.data(), a.ndim(), shape.data(), array, strides.data(), t);
}

}  // namespace

NB_MODULE(_attnrt, m) {
  m.doc() = "attnrt's extension; use the attnrt package, not this module.";
  m.attr("__version__") = attnrt_version();

  nb::class_<PyRuntime>(m, "Runtime",
                        "A runtime: its own thread pool, kernel set and placement "
                        "(attnrt::Config). Fields left empty/0 come from ATTNRT_* variables.")
      .def(nb::init<int, const std::string&, const std::string&, const std::string&,
                    const std::string&, const std::string&, const std::string&, bool, const std::string&>(),
           nb::kw_only(), nb::arg("threads") = 0, nb::arg("executor") = "", nb::arg("isa") = "",
           nb::arg("domains") = "", nb::arg("bind") = "", nb::arg("topology") = "",
           nb::arg("strategy") = "auto", nb::arg("verbose") = false, nb::arg("uarch") = "",
           "threads: worker count (0: all allowed cores); executor: 'openmp' or 'tbb'; "
           "isa: kernel set, e.g. 'generic', 'avx2', 'avx512'; domains: NUMA domains, e.g. "
           "'0-1'; bind: 'core', 'domain' or 'none'; topology: hwloc XML path or synthetic "
           "string; strategy: 'auto', 'online', 'two_pass' or 'three_pass' for calls that "
           "say 'auto'; verbose: one line "
           "per call on stderr; uarch: the tuning row the kernels take their prefetch "
           "settings from, e.g. 'zen4' (speed only, never results).")
      .def_prop_ro("isa", [](const PyRuntime& r) { return std::string(attnrt_runtime_isa(r.get())); },
                   "The kernel set chosen for float32 inputs.")
      .def_prop_ro("uarch", [](const PyRuntime& r) { return std::string(attnrt_runtime_uarch(r.get())); },
                   "The tuning row the kernels take their prefetch settings from.")
      .def_prop_ro("threads",
                   [](const PyRuntime& r) { return attnrt_runtime_num_threads(r.get()); },
                   "Worker threads of this runtime.")
      .def(
          "kernel_set",
          [](const PyRuntime& r, const std::string& dtype) {
            attnrt_dtype t = ATTNRT_F32;
            if (dtype == "float16") t = ATTNRT_F16;
            else if (dtype == "bfloat16") t = ATTNRT_BF16;
            else if (dtype != "float32")
              raise(PyExc_ValueError,
                    "dtype (" + dtype + ") must be 'float32', 'float16' or 'bfloat16'");
            return std::string(attnrt_runtime_kernel_set(r.get(), t));
          },
          nb::arg("dtype"), "The kernel set run for inputs of dtype 'float32', 'float16' or 'bfloat16'.");

  m.def("forward", &forward, nb::arg("q"), nb::arg("k"), nb::arg("v"), nb::arg("out"),
        nb::arg("runtime").none(), nb::arg("bshd"), nb::arg("bf16_as_u16"), nb::arg("scale"),
        nb::arg("causal"), nb::arg("top_left"), nb::arg("window_left"), nb::arg("window_right"),
        nb::arg("softcap"), nb::arg("precision"), nb::arg("strategy"), nb::arg("lse").none(),
        nb::arg("bias").none(), nb::arg("kv_lens").none(), nb::arg("alibi_slopes").none(),
        nb::arg("sinks").none(), nb::arg("cu_seqlens_q").none(), nb::arg("cu_seqlens_k").none(),
        nb::arg("block_table").none(), nb::arg("k_scale").none(), nb::arg("v_scale").none(),
        nb::arg("kv_format"),
        "Low-level call behind attnrt.attention: every argument positional, outputs given.");
  m.def("cache_write", &cache_write, nb::arg("src"), nb::arg("cache"), nb::arg("slots"), nb::arg("scale").none(),
        nb::arg("bshd"), nb::arg("src_bf16"), nb::arg("cache_bf16"), nb::arg("kv_format"), nb::arg("runtime").none(),
        "Low-level call behind attnrt.cache_write: every argument positional.");
  m.def("time_forward_ns", &time_forward_ns, nb::arg("q"), nb::arg("k"), nb::arg("v"),
        nb::arg("out"), nb::arg("runtime"), nb::arg("iters"),
        "Median ns of `iters` calls of the same BHSD forward from C++ (the overhead baseline).");
  m.def("jax_view", &jax_view, nb::arg("array"), nb::arg("bf16"), nb::rv_policy::reference,
        "A JAX array over array's memory (no copy when it is 64-byte aligned and compact); "
        "bf16: read its uint16 elements as bfloat16.");
}
