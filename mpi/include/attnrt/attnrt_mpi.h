/* attnrt_mpi: attention over MPI ranks (context parallel and head parallel),
 * an optional component beside attnrt. Link attnrt::mpi; the core library
 * never links MPI.
 *
 * Every call is collective over `comm`: all ranks call it with shards of the
 * same shape and the same parameters. Arguments are checked on all ranks
 * together before any K/V moves, so a bad argument on one rank gives the
 * same error on every rank instead of a hang. That needs every rank to call
 * on the same communicator: one that passes MPI_COMM_NULL, another
 * communicator or never calls cannot be heard, and the others wait. */
#ifndef ATTNRT_MPI_H
#define ATTNRT_MPI_H

#include <attnrt/attnrt.h>
#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How the global problem is split over the P ranks of the communicator.
 * Q and K/V below are each rank's own tensors; M and N are the global
 * sequence lengths, m and n the rows and keys a rank holds. */
typedef enum attnrt_mpi_layout {
  /* Rank r holds query rows [r*m, (r+1)*m) and keys [r*n, (r+1)*n);
   * K/V blocks travel around the ring. */
  ATTNRT_MPI_CONTEXT = 0,
  /* Load balance for causal masks: the sequences are cut into 2P chunks and
   * rank r holds chunks r and 2P-1-r, one after the other (m and n even). */
  ATTNRT_MPI_CONTEXT_ZIGZAG = 1,
  /* Decode: every rank holds the same (few) query rows and keys
   * [r*n, (r+1)*n), dense or in pages; each attends to its keys, one
   * gather merges. */
  ATTNRT_MPI_KEYS = 2,
  /* Head parallel: each rank holds whole sequences of its own heads (head
   * counts may differ between ranks); no communication but the checks. */
  ATTNRT_MPI_HEADS = 3
} attnrt_mpi_layout;

/* Where the time of one call went, on this rank. */
typedef struct attnrt_mpi_stats {
  double seconds;         /* the whole call */
  double compute_seconds; /* attnrt calls, merges and packing */
  double wait_seconds;    /* blocked on K/V transfers (or the decode gather) */
  double check_seconds;   /* the collective argument check and final status */
  int steps;              /* ring steps (P for the context layouts, else 1) */
  int64_t bytes_sent;     /* K/V (or partial results) sent by this rank */
} attnrt_mpi_stats;

/* Call attnrt_mpi_params_init() first. */
typedef struct attnrt_mpi_params {
  /* The global problem's parameters: scale, causal, align, window_left,
   * window_right (of the global M x N problem), softcap, precision,
   * strategy, alibi_slopes and sinks ([Hq], the same on every rank; with
   * ATTNRT_MPI_HEADS the rank's own heads'), and lse: NULL or fp32
   * [B, Hq, m, 1] for this rank's rows. kv_lens: each sequence's keys in
   * all (at most P*n, the same on every rank; of the keys the layout gives
   * a rank, those past it do not count). ATTNRT_MPI_HEADS, where each
   * rank's call is the core's own, takes every input the core takes. The
   * other layouts take a paged cache and quantized K/V too: with
   * block_table, k and v are the rank's page pools, its table's row b
   * lists the pages of its keys of sequence b, and n = block_table_stride
   * x page size (kv_lens required, global); with k and v int8 or fp8,
   * k_scale and v_scale are shaped like k and v (or their pools), as the
   * core takes them, and every rank's K (V) has the same dtype. KEYS reads
   * them in place; the ring gathers a rank's pages (codes, scales) into
   * its first block. bias: fp32 [1|B, 1|Hq, m, N] on the ring (the rank's
   * rows against all keys), [1|B, 1|Hq, M, n] with KEYS (every row against
   * the rank's keys; not with a block_table there). Packed query rows
   * (cu_seqlens_q, num_seqs: q and o [1, Hq, total rows, D], the same on
   * every rank) take KEYS over a paged cache (continuous batching over a
   * key-sharded cache); packed keys (cu_seqlens_k) are head parallel only. */
  attnrt_params attn;
  attnrt_mpi_layout layout;
  attnrt_runtime* runtime;  /* NULL = the process-wide default runtime */
  attnrt_mpi_stats* stats;  /* NULL, or filled on return */
} attnrt_mpi_params;

ATTNRT_API void attnrt_mpi_params_init(attnrt_mpi_params* params);

/* O for this rank's query rows (every rank's O, identical, for KEYS).
 * Partial results are merged through their log-sum-exp in an order fixed by
 * the ranks, so the result does not depend on message timing. Rows that see
 * no key give zeros (and LSE -inf). */
ATTNRT_API attnrt_status attnrt_mpi_forward(MPI_Comm comm, const attnrt_tensor* q, const attnrt_tensor* k,
                                            const attnrt_tensor* v, const attnrt_tensor* o,
                                            const attnrt_mpi_params* params);

/* Message of the last attnrt_mpi_* call on this thread: its error, or "" if
 * it succeeded. */
ATTNRT_API const char* attnrt_mpi_last_error(void);

/* A runtime for this rank, placed by its rank on the node (collective over
 * comm): when neither config->domains nor ATTNRT_DOMAINS says otherwise,
 * the node's ranks split its domains (4 ranks on an A64FX: one CMG each),
 * and ranks that share a domain share its cores. config may be NULL. */
ATTNRT_API attnrt_status attnrt_mpi_runtime_create(MPI_Comm comm, const attnrt_config* config,
                                                   attnrt_runtime** out);

/* The placement rule alone: writes the domains (e.g. "2" or "0-1") of local
 * rank `local_rank` of `local_size` ranks on a node of `num_domains`
 * domains into buf, and returns how many ranks share each of those domains
 * (1 when ranks <= domains). Returns 0 on a bad argument or short buf. */
ATTNRT_API int attnrt_mpi_local_domains(int num_domains, int local_rank, int local_size, char* buf,
                                        size_t len);

#ifdef __cplusplus
}
#endif
#endif /* ATTNRT_MPI_H */
