"""PyTorch interop: tensors through DLPack with any torch; the custom
operator, torch.compile and sdpa where torch >= 2.4 is installed."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed")

import attnrt  # noqa: E402
import reference  # noqa: E402
from conftest import TOLERANCE, f64  # noqa: E402

TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
VERSION = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
needs_op = pytest.mark.skipif(VERSION < (2, 4), reason=f"torch {torch.__version__} < 2.4: no torch.library.custom_op")


def randn(*shape, dtype="float32"):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(len(shape) + shape[-2])).to(
        TORCH_DTYPES[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_tensors_in_place_of_any_dtype(dtype):
    q, k, v = randn(2, 4, 13, 64, dtype=dtype), randn(2, 2, 31, 64, dtype=dtype), randn(2, 2, 31, 64, dtype=dtype)
    out = attnrt.attention(q, k, v, causal=True)
    assert isinstance(out, torch.Tensor) and out.dtype == q.dtype and out.shape == q.shape
    want, _ = reference.attention(f64(q), f64(k), f64(v), causal=True)
    np.testing.assert_allclose(f64(out), want, atol=TOLERANCE[dtype], rtol=0)
    given = torch.empty_like(q)
    assert attnrt.attention(q, k, v, causal=True, out=given) is given
    assert torch.equal(given, out)


def test_transposed_views_and_lse():
    # BSHD tensors seen as BHSD through transpose: strided, not copied.
    q = randn(2, 13, 4, 32).transpose(1, 2)
    k, v = randn(2, 20, 2, 32).transpose(1, 2), randn(2, 20, 2, 32).transpose(1, 2)
    out, lse = attnrt.attention(q, k, v, lse=True)
    assert isinstance(lse, torch.Tensor) and lse.dtype == torch.float32
    want, want_lse = reference.attention(f64(q), f64(k), f64(v))
    np.testing.assert_allclose(f64(out), want, atol=2e-5, rtol=0)
    np.testing.assert_allclose(f64(lse), want_lse, atol=1e-4, rtol=1e-5)


def test_requires_grad_inputs_are_read():
    q = randn(1, 2, 5, 16).requires_grad_()
    k = randn(1, 2, 7, 16)
    want, _ = reference.attention(f64(q), f64(k), f64(k))
    np.testing.assert_allclose(f64(attnrt.attention(q, k, k)), want, atol=2e-5, rtol=0)


def test_negated_views_are_read_as_negated():
    # torch's neg bit is not in the memory DLPack exports: resolved for
    # inputs, refused for outputs.
    q, k = randn(1, 2, 5, 16), randn(1, 2, 7, 16)
    want = attnrt.attention(-q, k, k)
    assert torch.equal(attnrt.attention(torch._neg_view(q), k, k), want)
    with pytest.raises(ValueError, match=r"out is a negated view"):
        attnrt.attention(q, k, k, out=torch._neg_view(torch.empty_like(q)))


@needs_op
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_matches_torch(dtype, causal):
    import attnrt.torch as at
    # L != S, so top-left and bottom-right causal differ.
    q, k, v = randn(2, 4, 24, 64, dtype=dtype), randn(2, 4, 40, 64, dtype=dtype), randn(2, 4, 40, 64, dtype=dtype)
    want = torch.nn.functional.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=causal,
                                                            scale=0.2)
    got = at.sdpa(q, k, v, is_causal=causal, scale=0.2)
    np.testing.assert_allclose(f64(got), f64(want), atol=TOLERANCE[dtype], rtol=0)


@needs_op
def test_sdpa_masks_gqa_and_3d():
    import attnrt.torch as at
    q, k, v = randn(2, 8, 9, 32), randn(2, 2, 17, 32), randn(2, 2, 17, 32)
    keep = torch.rand(2, 1, 1, 17, generator=torch.Generator().manual_seed(3)) > 0.3
    keep[..., 0] = True
    sdpa = torch.nn.functional.scaled_dot_product_attention
    kx, vx = k.repeat_interleave(4, 1), v.repeat_interleave(4, 1)
    np.testing.assert_allclose(at.sdpa(q, k, v, attn_mask=keep, enable_gqa=True),
                               sdpa(q, kx, vx, attn_mask=keep), atol=2e-5, rtol=0)
    add = torch.randn(9, 17)
    np.testing.assert_allclose(at.sdpa(q, k, v, attn_mask=add), sdpa(q, kx, vx, attn_mask=add), atol=2e-5, rtol=0)
    np.testing.assert_allclose(at.sdpa(q[:, 0], k[:, 0], v[:, 0]), sdpa(q[:, 0], k[:, 0], v[:, 0]),
                               atol=2e-5, rtol=0)
    # 3-D inputs with a mask per batch entry [N, L, S]; masks broadcast over keys.
    q3, k3, v3 = q[:, 0], kx[:, 0], vx[:, 0]
    per_batch = torch.randn(2, 9, 17)
    np.testing.assert_allclose(at.sdpa(q3, k3, v3, attn_mask=per_batch), sdpa(q3, k3, v3, attn_mask=per_batch),
                               atol=2e-5, rtol=0)
    for over_keys in (torch.randn(2, 1, 9, 1), torch.randn(9, 1)):
        np.testing.assert_allclose(at.sdpa(q, kx, vx, attn_mask=over_keys), sdpa(q, kx, vx, attn_mask=over_keys),
                                   atol=2e-5, rtol=0)
    with pytest.raises(ValueError, match=r"dropout_p \(0.1\) must be 0"):
        at.sdpa(q, k, v, dropout_p=0.1)


@needs_op
def test_custom_op_opcheck_and_compile():
    import attnrt.torch  # noqa: F401  registers torch.ops.attnrt.attention
    q, k, v = randn(1, 4, 8, 32), randn(1, 2, 12, 32), randn(1, 2, 12, 32)
    torch.library.opcheck(torch.ops.attnrt.attention.default, (q, k, v, True, True, None, None))

    def f(q, k, v):
        return torch.ops.attnrt.attention(q * 2, k, v, causal=True, top_left=True) + 1

    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(q, k, v), f(q, k, v))


@needs_op
def test_custom_op_serving_arguments():
    import attnrt.torch  # noqa: F401
    q, k, v = randn(2, 4, 6, 32), randn(2, 2, 20, 32), randn(2, 2, 20, 32)
    kw = dict(window_left=5, window_right=1, softcap=4.0, kv_lens=torch.tensor([20, 9]),
              alibi_slopes=torch.tensor([0.5, 0.25, 0.1, 0.05]), sinks=torch.tensor([0.0, 1.0, -1.0, 2.0]))
    args = (q, k, v, True, False, 0.3, None, *kw.values())
    torch.library.opcheck(torch.ops.attnrt.attention.default, args)
    got = torch.ops.attnrt.attention(q, k, v, causal=True, scale=0.3, **kw)
    want, _ = reference.attention(f64(q), f64(k), f64(v), causal=True, scale=0.3, window=(5, 1), softcap=4.0,
                                  kv_lens=[20, 9], alibi_slopes=kw["alibi_slopes"].numpy(),
                                  sinks=kw["sinks"].numpy())
    np.testing.assert_allclose(f64(got), want, atol=2e-5, rtol=0)


@needs_op
def test_custom_op_paged_and_packed():
    # Chunked prefill as a server runs it: each sequence's new rows packed
    # into one q (cu_seqlens_q), its keys read in place from shuffled pages.
    import attnrt.torch  # noqa: F401
    g = torch.Generator().manual_seed(11)
    page, Hkv, D = 4, 2, 32
    kv_lens, cu_q = torch.tensor([9, 3, 14]), torch.tensor([0, 2, 5, 6], dtype=torch.int32)
    k_pool, v_pool = torch.randn(13, Hkv, page, D, generator=g), torch.randn(13, Hkv, page, D, generator=g)
    table = torch.randperm(13, generator=g)[:12].reshape(3, 4).to(torch.int32)
    q = torch.randn(1, 4, 6, D, generator=g)
    kw = dict(causal=True, kv_lens=kv_lens, cu_seqlens_q=cu_q, block_table=table)
    torch.library.opcheck(torch.ops.attnrt.attention.default, (q, k_pool, v_pool), kw)
    got = torch.compile(lambda q: torch.ops.attnrt.attention(q, k_pool, v_pool, **kw), backend="aot_eager",
                        fullgraph=True)(q)
    assert got.shape == q.shape
    for b in range(3):
        j = torch.arange(int(kv_lens[b]))
        dense = lambda pool: pool[table[b, j // page].long(), :, j % page].transpose(0, 1)[None]
        rows = slice(int(cu_q[b]), int(cu_q[b + 1]))
        want, _ = reference.attention(f64(q[:, :, rows]), f64(dense(k_pool)), f64(dense(v_pool)), causal=True)
        np.testing.assert_allclose(f64(got[:, :, rows]), want, atol=2e-5, rtol=0)


@needs_op
def test_cache_write_op_mutates_cache_and_scale():
    import attnrt.torch  # noqa: F401  registers torch.ops.attnrt.cache_write
    src = randn(2, 2, 3, 16)
    slots = torch.tensor([0, 5, 6, 7, 2, 9])
    cache, scale = torch.zeros(4, 2, 4, 16, dtype=torch.int8), torch.zeros(4, 2, 4, 1)
    torch.library.opcheck(torch.ops.attnrt.cache_write.default, (src, cache.clone(), slots, scale.clone()))
    want_cache, want_scale = cache.clone(), scale.clone()
    attnrt.cache_write(src, want_cache, slots, scale=want_scale)

    def f(src, cache, scale):
        torch.ops.attnrt.cache_write(src * 1, cache, slots, scale)
        return scale.sum()

    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    total = compiled(src, cache, scale)
    assert torch.equal(cache, want_cache) and torch.equal(scale, want_scale)
    assert total.item() == pytest.approx(want_scale.sum().item())
    assert cache.view(torch.uint8).any()  # codes landed in the slots
