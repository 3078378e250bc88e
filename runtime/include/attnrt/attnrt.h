/* attnrt: multi-core CPU attention, C ABI.
 *
 *   O = softmax(Q·Kᵀ·scale (+ softcap) + bias + mask) · V
 *
 * for a batch of heads. Tensors are strided views; nothing is copied unless a
 * kernel packs a panel. All calls are thread-safe. */
#ifndef ATTNRT_H
#define ATTNRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define ATTNRT_API __declspec(dllexport)
#else
#define ATTNRT_API __attribute__((visibility("default")))
#endif

typedef enum attnrt_status {
  ATTNRT_OK = 0,
  ATTNRT_INVALID_ARGUMENT = 1, /* a tensor or parameter broke a rule */
  ATTNRT_UNSUPPORTED = 2,      /* valid, but no kernel/ISA here can run it */
  ATTNRT_CONFIG_ERROR = 3,     /* a bad ATTNRT_* variable or config value */
  ATTNRT_INTERNAL_ERROR = 4    /* out of memory or a bug: please report */
} attnrt_status;

/* ATTNRT_I8 and the fp8 formats are for k and v only (a quantized KV cache,
 * with params.k_scale / v_scale); q, o are fp32, fp16 or bf16. */
typedef enum attnrt_dtype {
  ATTNRT_F32 = 0,
  ATTNRT_F16 = 1,
  ATTNRT_BF16 = 2,
  ATTNRT_I8 = 3,       /* int8 code c: value c * scale */
  ATTNRT_F8_E4M3 = 4,  /* fp8 OCP E4M3 (bias 7, no inf, S.1111.111 = NaN), times scale */
  ATTNRT_F8_E5M2 = 5   /* fp8 OCP E5M2 (bias 15, IEEE inf/NaN), times scale */
} attnrt_dtype;

/* A 4-D view [batch, heads, seq, head_dim] with element strides for the first
 * three dimensions; head_dim is contiguous. BHSD and BSHD layouts and views
 * into a larger KV cache are just different strides. A stride of 0 is allowed
 * on inputs (broadcast); on outputs only over a dimension of size 1. */
typedef struct attnrt_tensor {
  void* data;
  attnrt_dtype dtype;
  int64_t shape[4];  /* batch, heads, seq, head_dim */
  int64_t stride[3]; /* elements between consecutive batch, head, seq */
} attnrt_tensor;

typedef enum attnrt_causal_align {
  ATTNRT_ALIGN_BOTTOM_RIGHT = 0, /* query i of M sees keys j <= i + (N_b - M) */
  ATTNRT_ALIGN_TOP_LEFT = 1      /* query i sees keys j <= i */
} attnrt_causal_align;

typedef enum attnrt_precision {
  ATTNRT_EXP2_ACCURATE = 0, /* within a few ulp of exp2f */
  ATTNRT_EXP2_FAST = 1      /* about 1e-3 relative error, cheaper */
} attnrt_precision;

typedef enum attnrt_strategy {
  ATTNRT_STRATEGY_AUTO = 0,
  ATTNRT_STRATEGY_ONLINE = 1,
  ATTNRT_STRATEGY_TWO_PASS = 2,
  ATTNRT_STRATEGY_THREE_PASS = 3
} attnrt_strategy;

/* Call attnrt_params_init() first: it sets every field to its default. */
typedef struct attnrt_params {
  float scale;                 /* 0 = 1/sqrt(head_dim); must be finite */
  int causal;                  /* 0 or 1 */
  attnrt_causal_align align;   /* alignment of causal mask and window */
  int64_t window_left;         /* keys before the diagonal a query sees; -1 unbounded */
  int64_t window_right;        /* keys after the diagonal; -1 unbounded (causal caps it at 0) */
  const int64_t* kv_lens;      /* [batch] keys used per batch, each in [0, N]; NULL = N */
  const attnrt_tensor* bias;   /* NULL or fp32 [1|B, 1|Hq, M, N] added to the scores; -inf masks */
  float softcap;               /* 0 = off; else s = softcap * tanh(s / softcap) before bias */
  attnrt_precision precision;  /* exp2 precision */
  attnrt_strategy strategy;    /* AUTO lets the plan table choose */
  const attnrt_tensor* lse;    /* NULL or fp32 [B, Hq, M, 1]: natural-log sum of exp, -inf for empty rows */
  const float* alibi_slopes;   /* NULL or fp32 [Hq]: adds slope * (key position - query position) to each score */
  const float* sinks;          /* NULL or fp32 [Hq]: a logit per head in each row's softmax denominator, no value */
  /* Variable-length packed batch (FlashAttention's varlen): q, o, lse have
   * batch 1 and seq = total query rows, k and v batch 1 and seq = total keys;
   * sequence b is query rows [cu_seqlens_q[b], cu_seqlens_q[b+1]) against keys
   * [cu_seqlens_k[b], cu_seqlens_k[b+1]), masked as a batch item of that size. */
  const int32_t* cu_seqlens_q; /* NULL (dense) or [num_seqs + 1]: 0, non-decreasing, ending at q.seq */
  const int32_t* cu_seqlens_k; /* [num_seqs + 1] with cu_seqlens_q: 0, non-decreasing, ending at k.seq */
  int64_t num_seqs;            /* sequences of a varlen call (>= 1); 0 otherwise */
  /* Paged KV cache (vLLM's): k and v are page pools [num_pages, Hkv,
   * page_size, D] (any strides, so [pages, page_size, Hkv, D] works too;
   * page_size 1 to 256); key j of sequence b is row j % page_size of page
   * block_table[b * block_table_stride + j / page_size], and params.kv_lens
   * (required) gives each sequence's key count. Q and O stay [B, Hq, M, D]
   * (or varlen with cu_seqlens_q alone); M > 1 is chunked prefill. */
  const int32_t* block_table;  /* NULL (dense K/V) or [B, block_table_stride] page indices, each in [0, num_pages) */
  int64_t block_table_stride;  /* slots per sequence in block_table (>= 1 when paged); 0 otherwise */
  /* Quantized KV cache: with k (v) of dtype ATTNRT_I8, ATTNRT_F8_E4M3 or
   * ATTNRT_F8_E5M2, key j's K (V) row is its codes times one fp32 scale,
   * read from k_scale (v_scale): a view shaped like k (v) with head_dim 1
   * ([B, Hkv, N, 1] dense, [1, Hkv, total_k, 1] varlen, [pages, Hkv,
   * page_size, 1] paged, the same strides convention), where a dimension
   * of size 1 is broadcast: [1, Hkv, 1, 1] is a scale per KV head,
   * [1, 1, 1, 1] one for the whole tensor. Codes times scales are computed
   * in fp32 and used at q's dtype's precision or better. NULL otherwise. */
  const attnrt_tensor* k_scale;
  const attnrt_tensor* v_scale;
} attnrt_params;

ATTNRT_API void attnrt_params_init(attnrt_params* params);

typedef enum attnrt_executor {
  ATTNRT_EXECUTOR_DEFAULT = 0, /* ATTNRT_EXECUTOR or the build's default */
  ATTNRT_EXECUTOR_OPENMP = 1,
  ATTNRT_EXECUTOR_TBB = 2
} attnrt_executor;

/* Runtime configuration. attnrt_config_init() fills it from the environment
 * (ATTNRT_* variables), so a zeroed field means "as the environment says". */
typedef struct attnrt_config {
  int num_threads;          /* 0 = all allowed cores */
  attnrt_executor executor;
  const char* isa;          /* NULL = best the CPU runs; else e.g. "generic", "avx512" */
  attnrt_strategy strategy; /* default strategy for calls that say AUTO */
  const char* domains;      /* NULL = all; e.g. "0-3" or "1,3" */
  const char* bind;         /* NULL = default; "core", "domain" or "none" */
  const char* topology;     /* NULL = this machine; hwloc XML path or synthetic string */
  int verbose;              /* 1 = a report when made, one line per call, on stderr */
  const char* uarch;        /* NULL = this CPU's tuning row; else a row by name, e.g. "zen4"
                               (prefetch distances and levels: speed only, never results) */
} attnrt_config;

/* Fills config from the environment. Returns ATTNRT_CONFIG_ERROR (message via
 * attnrt_last_error) when a variable has a bad value, whichever fields the
 * caller means to set after: a malformed setting is reported, not ignored. */
ATTNRT_API attnrt_status attnrt_config_init(attnrt_config* config);

typedef struct attnrt_runtime attnrt_runtime;

ATTNRT_API attnrt_status attnrt_runtime_create(const attnrt_config* config, attnrt_runtime** out);
ATTNRT_API void attnrt_runtime_destroy(attnrt_runtime* runtime);

/* Computes O for every (batch, query head). K and V heads may be fewer than
 * Q heads (grouped-query attention): query head h reads KV head
 * h / (Hq / Hkv). */
ATTNRT_API attnrt_status attnrt_runtime_forward(attnrt_runtime* runtime, const attnrt_tensor* q,
                                                const attnrt_tensor* k, const attnrt_tensor* v,
                                                const attnrt_tensor* o, const attnrt_params* params);

/* Same, on the process-wide default runtime (created on first use from the
 * environment). params may be NULL for all defaults. */
ATTNRT_API attnrt_status attnrt_attention_forward(const attnrt_tensor* q, const attnrt_tensor* k,
                                                  const attnrt_tensor* v, const attnrt_tensor* o,
                                                  const attnrt_params* params);

/* Stores a step's new K (or V) rows into a cache, as a server appends each
 * token it computes: src [B, Hkv, M, D] (fp32, fp16 or bf16; token t = b * M
 * + m) goes to slot slots[t] of cache [num_pages, Hkv, page_size, D] (a page
 * pool as params.block_table reads it, or a dense cache [B, Hkv, N, D]):
 * row slots[t] % page_size of page slots[t] / page_size. A negative slot
 * skips its token (padding); a slot named twice keeps the later token. A
 * float cache takes the rows rounded to its dtype and scale NULL. A
 * quantized cache (ATTNRT_I8, ATTNRT_F8_*) takes scale, fp32 shaped like the
 * cache with head_dim 1, as params.k_scale: per token ([num_pages, Hkv,
 * page_size, 1]) it is written, each row's largest magnitude mapped to the
 * format's largest value (127, 448, 57344); per KV head or for the tensor
 * ([1, Hkv or 1, 1, 1]) it is read. Codes are the nearest (ties to even),
 * saturated; src must then be finite. Runs on the calling thread, in the
 * default floating-point environment whatever the thread's; nothing is
 * written unless every argument is valid. */
ATTNRT_API attnrt_status attnrt_cache_write(const attnrt_tensor* src, const attnrt_tensor* cache,
                                            const attnrt_tensor* scale, const int64_t* slots);

/* attnrt_cache_write on the runtime's workers: the same bytes, a write of
 * many tokens split by page among them (a prefill's keys on a many-core
 * machine). Safe beside forward calls on the same runtime from other
 * threads. */
ATTNRT_API attnrt_status attnrt_runtime_cache_write(attnrt_runtime* runtime, const attnrt_tensor* src,
                                                    const attnrt_tensor* cache, const attnrt_tensor* scale,
                                                    const int64_t* slots);

/* Message of the last call on this thread: "" if it succeeded, else the
 * argument and the rule it broke, e.g. "k.heads (6) must divide q.heads (16)". */
ATTNRT_API const char* attnrt_last_error(void);

/* Name of the kernel set the runtime chose for fp32 inputs ("generic",
 * "avx512", ...); the same as attnrt_runtime_kernel_set(runtime, ATTNRT_F32).
 * "" if runtime is NULL. */
ATTNRT_API const char* attnrt_runtime_isa(const attnrt_runtime* runtime);
/* Name of the tuning row the runtime's kernels take their prefetch settings
 * from ("zen4", "sapphire_rapids", ...; "other" for a CPU the table does not
 * name): config.uarch, else this CPU's. "" if runtime is NULL. */
ATTNRT_API const char* attnrt_runtime_uarch(const attnrt_runtime* runtime);
/* Name of the kernel set the runtime runs for inputs of `dtype` (the sets of
 * fp16 and bf16 may differ from fp32's, e.g. where only some have a native
 * dot product). "" if runtime is NULL or dtype is not one q may have (F32,
 * F16, BF16). The
 * string lives as long as the process. */
ATTNRT_API const char* attnrt_runtime_kernel_set(const attnrt_runtime* runtime, attnrt_dtype dtype);
ATTNRT_API int attnrt_runtime_num_threads(const attnrt_runtime* runtime);

ATTNRT_API const char* attnrt_version(void);

#ifdef __cplusplus
}
#endif
#endif /* ATTNRT_H */
