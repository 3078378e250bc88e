"""Every error path raises a Python exception carrying attnrt's message:
ValueError for a bad argument, TypeError for something that is no array."""

import re

import ml_dtypes
import numpy as np
import pytest

import attnrt

rng = np.random.default_rng(5)
Q = rng.random((1, 4, 8, 32), dtype=np.float32)
K = rng.random((1, 2, 9, 32), dtype=np.float32)
F32 = np.float32
I32 = np.int32


def zeros(shape, dtype=F32):
    return np.zeros(shape, dtype)


def overlapping_out():
    base = zeros((1, 1, 8, 32))
    return np.lib.stride_tricks.as_strided(base, (1, 4, 8, 32), (0, 0, 128, 4), writeable=True)


# (call arguments, exception, attnrt's message): the messages of the C API's
# checks (runtime/src/validate.cpp) and of the binding's own.
CASES = {
    "kv heads": (dict(k=zeros((1, 3, 9, 32)), v=zeros((1, 3, 9, 32))), ValueError,
                 "k.heads (3) must divide q.heads (4)"),
    "dtype mix": (dict(k=K.astype(np.float16), v=K.astype(np.float16)), ValueError,
                  "k.dtype (fp16) must equal q.dtype (fp32)"),
    "int dtype": (dict(q=Q.astype(np.int32)), ValueError,
                  "q.dtype (int32) must be float32, float16 or bfloat16"),
    "empty": (dict(q=Q[:, :, :0]), ValueError, "q.seq (0) must be positive"),
    "negative stride": (dict(q=Q[:, :, ::-1]), ValueError, "q.stride[seq] (-32) must not be negative"),
    "2-D": (dict(q=Q[0, 0]), ValueError, "q must be a 3-D or 4-D array, got 2-D"),
    "head_dim stride": (dict(q=Q[..., ::2]), ValueError,
                        "q's last dimension (head_dim) must be contiguous, got element stride 2"),
    "head_dim": (dict(k=K[..., :16], v=K[..., :16]), ValueError,
                 "k.head_dim (16) must equal q.head_dim (32)"),
    "scale": (dict(scale=float("nan")), ValueError, "params.scale (nan) must be finite"),
    "softcap": (dict(softcap=-1.0), ValueError,
                "params.softcap (-1) must be finite and >= 0 (0 = off)"),
    "window": (dict(window=(-2, 0)), ValueError,
               "params.window_left (-2) must be >= 0, or -1 for unbounded"),
    "kv_lens value": (dict(kv_lens=[10]), ValueError, "params.kv_lens[0] (10) must be in [0, k.seq (9)]"),
    "kv_lens count": (dict(kv_lens=[1, 2]), ValueError,
                      "kv_lens must be 1-D with 1 entries (one per sequence), got 1-D, shape (2)"),
    "kv_lens float": (dict(kv_lens=[1.5]), ValueError, "kv_lens.dtype (float64) must be int64"),
    "alibi count": (dict(alibi_slopes=[1.0]), ValueError,
                    "alibi_slopes must be 1-D with 4 entries (one per query head)"),
    "sinks count": (dict(sinks=[1.0] * 3), ValueError, "sinks must be 1-D with 4 entries (one per query head)"),
    "bias dtype": (dict(bias=zeros((1, 1, 8, 9), np.float64)), ValueError, "bias.dtype (float64) must be float32"),
    "bias heads": (dict(bias=zeros((1, 3, 8, 9))), ValueError, "params.bias.heads (3) must be 1 or q.heads (4)"),
    "bias 3-D": (dict(bias=zeros((1, 8, 9))), ValueError, "bias must be a 4-D array [1|B, 1|H, M, N], got 3-D"),
    "lse dtype": (dict(lse=zeros((1, 4, 8), np.float64)), ValueError, "lse.dtype (float64) must be float32"),
    "lse seq": (dict(lse=zeros((1, 4, 7))), ValueError, "params.lse.seq (7) must equal q.seq (8)"),
    "out seq": (dict(out=zeros((1, 4, 7, 32))), ValueError, "o.seq (7) must equal q.seq (8)"),
    "out dtype": (dict(out=zeros((1, 4, 8, 32), np.float16)), ValueError, "o.dtype (fp16) must equal q.dtype (fp32)"),
    "out overlap": (dict(out=overlapping_out()), ValueError, "makes elements of the output overlap"),
    "out read-only": (dict(out=np.broadcast_to(zeros((1, 4, 8, 32)), (1, 4, 8, 32))), ValueError,
                      "out must be writable"),
    "lse read-only": (dict(lse=np.broadcast_to(zeros((1, 4, 8)), (1, 4, 8))), ValueError,
                      "lse must be writable"),
    "window int64": (dict(window=(2**70, 0)), ValueError, f"window's left ({2**70}) must fit in int64"),
    "cu_k alone": (dict(cu_seqlens_k=np.array([0, 9], I32)), ValueError,
                   "params.cu_seqlens_k needs params.cu_seqlens_q"),
    "cu_q alone": (dict(cu_seqlens_q=np.array([0, 8], I32)), ValueError,
                   "params.cu_seqlens_k must not be NULL when params.cu_seqlens_q is given"),
    "cu_k end": (dict(cu_seqlens_q=np.array([0, 8], I32), cu_seqlens_k=np.array([0, 10], I32)), ValueError,
                 "params.cu_seqlens_k[1] (10) must equal k.seq (9)"),
    "cu_k count": (dict(cu_seqlens_q=np.array([0, 8], I32), cu_seqlens_k=np.array([0, 4, 9], I32)), ValueError,
                   "cu_seqlens_k must be 1-D with 2 entries (as many as cu_seqlens_q)"),
    "paged kv_lens": (dict(block_table=zeros((1, 1), I32)), ValueError,
                      "params.kv_lens must not be NULL with params.block_table"),
    "paged rows": (dict(block_table=zeros((2, 1), I32), kv_lens=[3]), ValueError,
                   "block_table must be 2-D with 1 rows (one per sequence), got 2-D, shape (2, 1)"),
    "paged page": (dict(block_table=np.array([[5]], I32), kv_lens=[3]), ValueError,
                   "params.block_table[b=0][slot 0] (5) must be in [0, k.pages (1))"),
    "precision": (dict(precision="x"), ValueError, "precision (x) must be 'accurate' or 'fast'"),
    "strategy": (dict(strategy="x"), ValueError,
                 "strategy (x) must be 'auto', 'online', 'two_pass' or 'three_pass'"),
    "layout": (dict(layout="x"), ValueError, "layout ('x') must be 'bhsd' or 'bshd'"),
    "align": (dict(causal_align="x"), ValueError, "causal_align ('x') must be 'bottom_right' or 'top_left'"),
    "no array": (dict(q=[1.0]), TypeError, "q (list) must be an array with DLPack or the buffer protocol"),
    "uint16 as bf16": (dict(q=Q.astype(ml_dtypes.bfloat16), k=K.astype(np.uint16), v=K.astype(np.uint16)),
                       ValueError, "k.dtype (uint16) must equal q.dtype (bfloat16)"),
    # The C API reads a scale of 0 as 1/sqrt(head_dim): refused, not replaced.
    "scale 0": (dict(scale=0.0), ValueError, "scale (0.0) must not be 0 in float32"),
    "scale 0 in float32": (dict(scale=1e-46), ValueError, "scale (1e-46) must not be 0 in float32"),
    "scale str": (dict(scale="1"), TypeError, "scale ('1') must be a real number"),
    "causal int": (dict(causal=1), TypeError, "causal (1) must be a bool"),
    "softcap None": (dict(softcap=None), TypeError, "softcap (None) must be a real number"),
    "window float": (dict(window=(1.5, 0)), TypeError, "window's left (1.5) must be an int"),
    "window one": (dict(window=3), TypeError, "window (3) must be a (left, right) pair of ints or None"),
    "precision None": (dict(precision=None), TypeError, "precision (None) must be a str"),
    "lse int": (dict(lse=1), TypeError, "lse (1) must be True, False or a float32 array"),
    "runtime int": (dict(runtime=1), TypeError, "runtime (int) must be an attnrt.Runtime or None"),
    "sinks 2-D": (dict(sinks=zeros((2, 2))), ValueError, "sinks must be 1-D, got shape (2, 2)"),
    # Index arrays must fit int32/int64, not wrap into a valid-looking value.
    "page wraps": (dict(block_table=np.array([[2**32]], np.int64), kv_lens=[3]), ValueError,
                   f"block_table holds {2**32}, outside int32's"),
    "cu_seqlens wraps": (dict(cu_seqlens_q=np.array([0, 2**32 + 8]), cu_seqlens_k=np.array([0, 9])), ValueError,
                         f"cu_seqlens_q holds {2**32 + 8}, outside int32's"),
    "kv_lens wraps": (dict(kv_lens=np.array([2**64 - 1], np.uint64)), ValueError,
                      f"kv_lens holds {2**64 - 1}, outside int64's"),
}


@pytest.mark.parametrize("case", CASES)
def test_attention_error(case):
    kwargs, error, message = CASES[case]
    args = dict(q=Q, k=K, v=K)
    args.update(kwargs)
    with pytest.raises(error, match=re.escape(message)):
        attnrt.attention(args.pop("q"), args.pop("k"), args.pop("v"), **args)


@pytest.mark.parametrize("kwargs, message", [
    (dict(executor="x"), "executor (x) must be 'openmp' or 'tbb'"),
    (dict(isa="x"), "config.isa (x) must name a kernel set of this build"),
    (dict(threads=-1), "threads (-1) must be >= 0"),
    (dict(bind="x"), "config.bind (x) must be core, domain or none"),
    (dict(domains="zz"), "config.domains (zz) must be a list of domain numbers"),
    (dict(strategy="x"), "strategy (x) must be 'auto', 'online', 'two_pass' or 'three_pass'"),
])
def test_runtime_error(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        attnrt.Runtime(**kwargs)


def test_kernel_set_error():
    with pytest.raises(ValueError, match=re.escape("dtype (int8) must be 'float32', 'float16' or 'bfloat16'")):
        attnrt.Runtime(threads=1).kernel_set("int8")
