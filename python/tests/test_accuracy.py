"""attnrt.attention against the float64 reference: dtypes, layouts, strides,
GQA, masks and the log-sum-exp."""

import numpy as np
import pytest

import attnrt
import reference
from conftest import LSE_TOLERANCE, TOLERANCE, f64, rand


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("heads", [(4, 4), (4, 1), (6, 2)])
def test_matches_reference(rng, dtype, causal, heads):
    hq, hkv = heads
    q = rand(rng, (2, hq, 37, 64), dtype)
    k = rand(rng, (2, hkv, 53, 64), dtype)
    v = rand(rng, (2, hkv, 53, 64), dtype)
    out, lse = attnrt.attention(q, k, v, causal=causal, lse=True)
    assert out.dtype == q.dtype and out.shape == q.shape
    want, want_lse = reference.attention(f64(q), f64(k), f64(v), causal=causal)
    np.testing.assert_allclose(f64(out), want, atol=TOLERANCE[dtype], rtol=0)
    np.testing.assert_allclose(lse, want_lse, atol=LSE_TOLERANCE[dtype], rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_bshd_layout_matches_bhsd(rng, dtype):
    q = rand(rng, (2, 19, 4, 32), dtype)  # [B, S, H, D]
    k = rand(rng, (2, 23, 2, 32), dtype)
    v = rand(rng, (2, 23, 2, 32), dtype)
    out, lse = attnrt.attention(q, k, v, layout="bshd", causal=True, lse=True)
    assert out.shape == q.shape and lse.shape == (2, 4, 19)
    t = lambda x: f64(x).transpose(0, 2, 1, 3)
    want, want_lse = reference.attention(t(q), t(k), t(v), causal=True)
    np.testing.assert_allclose(t(out), want, atol=TOLERANCE[dtype], rtol=0)
    np.testing.assert_allclose(lse, want_lse, atol=LSE_TOLERANCE[dtype], rtol=1e-5)


def test_strided_views_and_three_d(rng):
    # Views into larger buffers: every heads/seq stride differs from dense.
    big = rand(rng, (2, 8, 50, 80))
    q = big[:, 1:7:2, 3:40, 8:72]          # [2, 3, 37, 64], head_dim contiguous
    k = rand(rng, (2, 3, 90, 64))[:, :, ::3]  # every third key row
    v = np.swapaxes(rand(rng, (2, 30, 3, 64)), 1, 2)  # BSHD memory seen as BHSD
    want, _ = reference.attention(f64(q), f64(k), f64(v))
    np.testing.assert_allclose(attnrt.attention(q, k, v), want, atol=2e-5, rtol=0)
    out3 = attnrt.attention(q[0], k[0], v[0])  # 3-D: one batch item
    np.testing.assert_allclose(out3, want[0], atol=2e-5, rtol=0)


def test_masks_window_bias_softcap_kv_lens(rng):
    q, k, v = rand(rng, (2, 4, 21, 32)), rand(rng, (2, 2, 40, 32)), rand(rng, (2, 2, 40, 32))
    bias = rand(rng, (1, 4, 21, 40))
    bias[..., 5] = -np.inf
    kw = dict(window=(7, 3), softcap=5.0, scale=0.3)
    kv_lens = np.array([40, 13])
    out, lse = attnrt.attention(q, k, v, bias=bias, kv_lens=kv_lens, lse=True, **kw)
    want, want_lse = reference.attention(q, k, v, bias=bias, kv_lens=kv_lens, **kw)
    np.testing.assert_allclose(out, want, atol=2e-5, rtol=0)
    np.testing.assert_allclose(lse, want_lse, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("align", ["top_left", "bottom_right"])
def test_causal_alignment_and_empty_rows(rng, align):
    # M > N: bottom-right leaves the first rows with no key: zeros and -inf.
    q, k, v = rand(rng, (1, 2, 12, 16)), rand(rng, (1, 2, 5, 16)), rand(rng, (1, 2, 5, 16))
    out, lse = attnrt.attention(q, k, v, causal=True, causal_align=align, lse=True)
    want, want_lse = reference.attention(q, k, v, causal=True, top_left=align == "top_left")
    np.testing.assert_allclose(out, want, atol=2e-5, rtol=0)
    np.testing.assert_array_equal(np.isinf(lse), np.isinf(want_lse))
    assert not np.isnan(out).any()
    if align == "bottom_right":
        assert (out[:, :, :7] == 0).all() and np.isneginf(lse[:, :, :7]).all()


def test_precision_fast_and_strategies(rng):
    q, k, v = rand(rng, (1, 2, 40, 64)), rand(rng, (1, 2, 300, 64)), rand(rng, (1, 2, 300, 64))
    want, _ = reference.attention(q, k, v)
    np.testing.assert_allclose(attnrt.attention(q, k, v, precision="fast"), want, atol=5e-3, rtol=0)
    for strategy in ("online", "two_pass", "three_pass"):
        out = attnrt.attention(q, k, v, strategy=strategy)
        np.testing.assert_allclose(out, want, atol=2e-5, rtol=0, err_msg=strategy)
