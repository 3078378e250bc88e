"""The serving inputs through Python: varlen, paged KV, ALiBi and sinks,
each against the float64 reference."""

import numpy as np
import pytest

import attnrt
import reference
from conftest import TOLERANCE, f64, rand


def test_alibi_and_sinks(rng):
    q, k, v = rand(rng, (2, 4, 17, 32)), rand(rng, (2, 2, 29, 32)), rand(rng, (2, 2, 29, 32))
    slopes = np.array([0.5, 0.25, 0.125, 0.0625], np.float32)
    sinks = np.array([0.0, 1.5, -2.0, 3.0], np.float32)
    out, lse = attnrt.attention(q, k, v, causal=True, alibi_slopes=slopes, sinks=sinks, lse=True)
    want, want_lse = reference.attention(q, k, v, causal=True, alibi_slopes=slopes, sinks=sinks)
    np.testing.assert_allclose(out, want, atol=2e-5, rtol=0)
    np.testing.assert_allclose(lse, want_lse, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_varlen_packed_thd(rng, dtype):
    # FlashAttention's varlen: [total, H, D] arrays (3-D BSHD) and offsets.
    lens_q, lens_k = [5, 1, 12], [9, 30, 12]
    cu_q = np.concatenate([[0], np.cumsum(lens_q)]).astype(np.int32)
    cu_k = np.concatenate([[0], np.cumsum(lens_k)]).astype(np.int32)
    q = rand(rng, (cu_q[-1], 4, 64), dtype)
    k, v = rand(rng, (cu_k[-1], 2, 64), dtype), rand(rng, (cu_k[-1], 2, 64), dtype)
    out = attnrt.attention(q, k, v, layout="bshd", causal=True, cu_seqlens_q=cu_q, cu_seqlens_k=cu_k)
    assert out.shape == q.shape
    for s in range(3):
        rows, keys = slice(cu_q[s], cu_q[s + 1]), slice(cu_k[s], cu_k[s + 1])
        t = lambda x, r: f64(x[r]).transpose(1, 0, 2)[None]
        want, _ = reference.attention(t(q, rows), t(k, keys), t(v, keys), causal=True)
        np.testing.assert_allclose(t(out, rows), want, atol=TOLERANCE[dtype], rtol=0)


@pytest.mark.parametrize("page_size", [1, 16])
def test_paged_kv(rng, page_size):
    B, H, Hkv, D, M = 3, 4, 2, 32, 2
    kv_lens = np.array([37, 5, 16])
    pages_per_seq = -(-int(kv_lens.max()) // page_size)
    num_pages = B * pages_per_seq + 3
    k_pool, v_pool = rand(rng, (num_pages, Hkv, page_size, D)), rand(rng, (num_pages, Hkv, page_size, D))
    table = rng.permutation(num_pages)[: B * pages_per_seq].reshape(B, pages_per_seq).astype(np.int32)
    q = rand(rng, (B, H, M, D))
    out = attnrt.attention(q, k_pool, v_pool, causal=True, block_table=table, kv_lens=kv_lens)
    # The same keys gathered dense: page table[b, j // P], row j % P.
    j = np.arange(pages_per_seq * page_size)
    dense = lambda pool: pool[table[:, j // page_size], :, j % page_size].transpose(0, 2, 1, 3)
    want, _ = reference.attention(q, dense(k_pool), dense(v_pool), causal=True, kv_lens=kv_lens)
    np.testing.assert_allclose(out, want, atol=2e-5, rtol=0)
